package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// The events replay writes, pinned: a change of the code that changes a
// byte of any event of a corpus capture (or of the crafted captures, see
// TestPrivilegedCraftCases) fails here, so a refactoring can show it kept
// the output as it was. The lines are compared sorted: the order of
// events of different flows is not part of the contract (live, workers
// run side by side).
//
//	UPDATE_GOLDEN=1 go test -run 'Golden|CraftCases' ./cmd/edgesensor
//
// rewrites the pinned output after a change that means to change it.

// goldenDir holds a capture's sorted event lines (NAME.ndjson) and the
// digests of the crafted captures' output (craft.sha256).
const goldenDir = "../../testdata/golden"

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// sortedLines is out's lines, sorted.
func sortedLines(out []byte) []byte {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func TestPrivilegedReplayGolden(t *testing.T) {
	testutil.RequireBPF(t)
	caps, _ := filepath.Glob("../../testdata/corpus/*.pcap*")
	if len(caps) < 8 {
		t.Fatalf("%d corpus captures", len(caps))
	}
	for _, c := range caps {
		name := strings.TrimSuffix(filepath.Base(c), filepath.Ext(c))
		t.Run(name, func(t *testing.T) {
			// The events, and the same events as a CEF sink formats them.
			cef := filepath.Join(t.TempDir(), "events.cef")
			cfg := spoolConfig(t, fmt.Sprintf("[[output.sinks]]\nname = \"cef\"\ntype = \"file\"\nformat = \"cef\"\npath = %q\nhostname = \"golden\"\n", cef))
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), append(append([]string{"replay"}, cfg...), c), &stdout, &stderr); err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr.String())
			}
			cefOut, err := os.ReadFile(cef)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join(goldenDir, name+".ndjson"), sortedLines(stdout.Bytes()))
			compareGolden(t, filepath.Join(goldenDir, name+".cef"), sortedLines(cefOut))
		})
	}
}

// compareGolden compares got with the pinned file (or rewrites it).
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the output differs from %s:\n%s", path, lineDiff(want, got))
	}
}

// lineDiff lists the lines only one side has.
func lineDiff(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "- %.400s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+ %.400s\n", l)
		}
	}
	return b.String()
}

// craftGolden pins the digest of each crafted capture's sorted events.
type craftGolden struct {
	t    *testing.T
	want map[string]string
	got  map[string]string
}

func loadCraftGolden(t *testing.T) *craftGolden {
	g := &craftGolden{t: t, want: map[string]string{}, got: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(goldenDir, "craft.sha256"))
	if err != nil && !updateGolden {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			g.want[f[1]] = f[0]
		}
	}
	return g
}

// check compares one case's output; the cases a run did not select keep
// their pinned digests when the file is rewritten.
func (g *craftGolden) check(t *testing.T, name string, out []byte) {
	s := sha256.Sum256(sortedLines(out))
	d := hex.EncodeToString(s[:])
	g.got[name] = d
	if !updateGolden && g.want[name] != d {
		t.Errorf("events differ from the pinned output (%s, %.12s, got %.12s)", filepath.Join(goldenDir, "craft.sha256"), g.want[name], d)
	}
}

func (g *craftGolden) save() {
	if !updateGolden {
		return
	}
	for k, v := range g.got {
		g.want[k] = v
	}
	names := make([]string, 0, len(g.want))
	for k := range g.want {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", g.want[n], n)
	}
	if err := os.WriteFile(filepath.Join(goldenDir, "craft.sha256"), []byte(b.String()), 0o644); err != nil {
		g.t.Fatal(err)
	}
}
