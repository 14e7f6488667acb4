package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/lab"
	"github.com/edgesensor/edgesensor/internal/testutil"
)

// The configuration is libxdp's struct xdp_dispatcher_config of version
// 2: four bytes, then three arrays of ten u32.
func TestDispatcherConfigLayout(t *testing.T) {
	if n := binary.Size(dispatcherConfig{}); n != 4+3*4*dispatcherSlots {
		t.Fatalf("dispatcherConfig is %d bytes", n)
	}
}

func TestSortComponentsAsLibXDP(t *testing.T) {
	cs := []component{
		{name: "zeta", prio: 50}, {name: bpf.ProgramName, prio: 200}, {name: "alpha", prio: 50},
		{name: "xdpfilt_alw_all", prio: 10}, {name: "alpha", prio: 50, id: 2},
	}
	sortComponents(cs)
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprintf("%d/%s/%d", c.prio, c.name, c.id))
	}
	want := "10/xdpfilt_alw_all/0 50/alpha/0 50/alpha/2 50/zeta/0 200/edgesensor_xdp/0"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

// A dispatcher the sensor writes is one libxdp reads as its own, and the
// sensor reads one back as libxdp lays it out: the configuration (magic,
// version, priorities, chain-call actions) and the pins of its
// components. Components here are plain XDP programs pinned where libxdp
// pins them; linking them in (freplace) is what a kernel may refuse.
func TestPrivilegedDispatcherProtocol(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := DispatcherObject(); err != nil {
		t.Skipf("libxdp not installed: %v", err)
	}
	ns := fmt.Sprintf("esdisp%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	fs := t.TempDir()
	if err := unix.Mount("bpf", fs, "bpf", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(fs, unix.MNT_DETACH) })
	t.Setenv("LIBXDP_BPFFS", fs)

	var ifindex int
	var disp *ebpf.Program
	lab.Within(t, ns, func() {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dpa"}, PeerName: "dpb"}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"dpa", "dpb"} {
			l, _ := netlink.LinkByName(n)
			netlink.LinkSetUp(l)
		}
		l, err := netlink.LinkByName("dpa")
		if err != nil {
			t.Fatal(err)
		}
		ifindex = l.Attrs().Index
		stub := func(name string) *ebpf.Program {
			p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: ebpf.XDP, License: "GPL",
				Instructions: asm.Instructions{asm.LoadImm(asm.R0, 2, asm.DWord), asm.Return()}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		comps := []component{
			{prog: stub(bpf.ProgramName), name: bpf.ProgramName, prio: 200, chain: 1 << 2},
			{prog: stub("filter_stub"), name: "filter_stub", prio: 10, chain: 1<<2 | 1<<1},
		}
		sortComponents(comps)
		disp, err = loadDispatcher(comps)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := disp.Info()
		id, _ := info.ID()
		dir := dispatcherPinDir(ifindex, id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for i, c := range comps {
			if err := c.prog.Pin(filepath.Join(dir, fmt.Sprintf("prog%d-prog", i))); err != nil {
				t.Fatal(err)
			}
			c.prog.Close()
		}
		// Only onto a free interface, then only in place of what is there.
		if err := setXDP(ifindex, disp.FD(), nil, xdpFlagsDRV); err != nil {
			t.Fatal(err)
		}
		if err := setXDP(ifindex, disp.FD(), nil, xdpFlagsDRV); !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EBUSY) {
			t.Errorf("a second attach without REPLACE: %v", err)
		}

		lock, err := libxdpLock(true)
		if err != nil {
			t.Fatal(err)
		}
		d, err := readDispatcher(ifindex)
		lock.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer d.close()
		if d.id != id || d.mode != "native" || len(d.comps) != 2 {
			t.Fatalf("read back id %d (want %d) mode %s, %d components", d.id, id, d.mode, len(d.comps))
		}
		if c := d.comps[0]; c.name != "filter_stub" || c.prio != 10 || c.chain != 1<<2|1<<1 || c.ours {
			t.Errorf("component 0: %+v", c)
		}
		if c := d.comps[1]; c.name != bpf.ProgramName || c.prio != 200 || c.chain != 1<<2 || !c.ours {
			t.Errorf("component 1: %+v", c)
		}
		if others, err := dispatcherOthers(ifindex); err != nil || strings.Join(others, ",") != "filter_stub" {
			t.Errorf("others: %v %v", others, err)
		}
		if !isDispatcher(ifindex) {
			t.Error("isDispatcher says no")
		}
	})

	// libxdp itself lists the sensor's dispatcher and its components.
	if _, err := exec.LookPath("xdp-loader"); err == nil {
		out, err := exec.Command("ip", "netns", "exec", ns, "xdp-loader", "status", "dpa").CombinedOutput()
		s := string(out)
		if err != nil || !strings.Contains(s, dispatcherName) || !strings.Contains(s, "filter_stub") ||
			!strings.Contains(s, bpf.ProgramName) || !strings.Contains(s, " 200 ") {
			t.Errorf("xdp-loader status: %v\n%s", err, s)
		}
		t.Logf("xdp-loader status:\n%s", s)
	}

	lab.Within(t, ns, func() {
		// A replace names what it replaces: a stale expectation is a retry.
		other, err := loadDispatcher(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		stale := &dispatcher{ifindex: ifindex, prog: other, mode: "native"}
		if err := swapDispatcher(stale, nil, ""); !errors.Is(err, errRetry) {
			t.Errorf("swap with a stale expectation: %v", err)
		}
		cur := &dispatcher{ifindex: ifindex, prog: disp, mode: "native"}
		if err := swapDispatcher(cur, nil, ""); err != nil {
			t.Fatal(err)
		}
		if attached, _, _, _ := xdpState(ifindex); attached {
			t.Error("still attached after the swap to nothing")
		}
		disp.Close()
		// Another program is not a dispatcher.
		p, _ := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "foreign", Type: ebpf.XDP, License: "GPL",
			Instructions: asm.Instructions{asm.LoadImm(asm.R0, 2, asm.DWord), asm.Return()}})
		defer p.Close()
		if err := setXDP(ifindex, p.FD(), nil, xdpFlagsDRV); err != nil {
			t.Fatal(err)
		}
		if _, err := readDispatcher(ifindex); !errors.Is(err, ErrNotDispatcher) {
			t.Errorf("a foreign program read as: %v", err)
		}
		netlinkDetach(ifindex)
	})
}
