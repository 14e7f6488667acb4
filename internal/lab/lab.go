// Package lab drives scripts/lab.sh from Go tests: it brings the
// client/router/server namespaces up, runs real clients in them, and tears
// everything down when the test ends.
package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// Lab is a running lab.
type Lab struct {
	t      testing.TB
	root   string
	Env    map[string]string
	envVar []string
}

// Root returns the repository root (the directory holding go.mod).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Up brings a lab up with its own namespace prefix and subnet number, and
// registers its teardown. The test is skipped when not root or when the
// lab's servers are not installed (`make deps` installs them).
func Up(t testing.TB, prefix string, net int) *Lab {
	t.Helper()
	testutil.RequireLab(t)
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{t: t, root: root}
	l.envVar = append(os.Environ(), "LAB_PREFIX="+prefix, fmt.Sprintf("LAB_NET=%d", net))
	out, err := l.script("up")
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 { // lab.sh: a tool is not installed
			t.Skipf("lab not available: %s", strings.TrimSpace(out))
		}
		l.script("down")
		t.Fatalf("lab up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := l.script("down"); err != nil {
			t.Errorf("lab down: %v\n%s", err, out)
		}
	})
	envOut, err := l.script("env")
	if err != nil {
		t.Fatal(err)
	}
	l.Env = map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(envOut))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			l.Env[k] = v
		}
	}
	return l
}

func (l *Lab) script(arg string) (string, error) {
	cmd := exec.Command(filepath.Join(l.root, "scripts", "lab.sh"), arg)
	cmd.Env = l.envVar
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Exec runs a command in a namespace and returns its combined output.
func (l *Lab) Exec(ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// MustExec runs a command in a namespace and fails the test on error.
func (l *Lab) MustExec(ns string, args ...string) string {
	l.t.Helper()
	out, err := l.Exec(ns, args...)
	if err != nil {
		l.t.Fatalf("%s: %v: %v\n%s", ns, args, err, out)
	}
	return out
}

// Command prepares a command in a namespace (for background processes).
func (l *Lab) Command(ns string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// Client, Router and Server are the namespace names.
func (l *Lab) Client() string { return l.Env["NS_CLIENT"] }
func (l *Lab) Router() string { return l.Env["NS_ROUTER"] }
func (l *Lab) Server() string { return l.Env["NS_SERVER"] }

// RouterIfaces are the router's two interfaces, client side first.
func (l *Lab) RouterIfaces() []string {
	return []string{l.Env["IF_ROUTER_CLIENT"], l.Env["IF_ROUTER_SERVER"]}
}

// PinPath is a pin directory on the lab's own bpffs (shared by every
// `ip netns exec`, unlike /sys/fs/bpf).
func (l *Lab) PinPath() string { return filepath.Join(l.Env["BPFFS"], "edgesensor") }

// XDPAttached reports whether any XDP program is attached to a router
// interface, per `ip link`.
func (l *Lab) XDPAttached(iface string) bool {
	l.t.Helper()
	out := l.MustExec(l.Router(), "ip", "-d", "link", "show", "dev", iface)
	return strings.Contains(out, "prog/xdp") || strings.Contains(out, " xdp")
}

// With returns the lab reporting failures to t (a subtest).
func (l *Lab) With(t testing.TB) *Lab {
	c := *l
	c.t = t
	return &c
}

// Within runs fn on a thread that has entered network namespace ns, for
// what must be done from inside it in Go (raw sockets, netlink), and
// returns the thread to where it was.
func Within(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Fatalf("leaving namespace %s: %v", ns, err)
		}
	}()
	fn()
}
