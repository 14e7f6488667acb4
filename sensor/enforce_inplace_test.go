package sensor

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// inPlaceTables is a list of n random entries (addresses and prefixes of
// both families) plus, on even rounds, 198.51.100.7 and, on odd ones,
// 203.0.113.0/24; every round changes the level of the first change
// entries and replaces the last change ones.
func inPlaceTables(n, change, round int) *enforce.Tables {
	r := rand.New(rand.NewPCG(7, 7))
	t := &enforce.Tables{Lists: []string{"feed"}}
	for i := range n {
		var p netip.Prefix
		switch i % 4 {
		case 0:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		case 1:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{101, byte(i >> 16), byte(i >> 8), 0}), 24)
		case 2:
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, byte(i >> 16), byte(i >> 8), byte(i), 15: 1}), 128)
		default:
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 2, byte(i >> 16), byte(i >> 8), byte(i)}), 64)
		}
		if i >= n-change {
			// Replaced each round: a new address in 102.0.0.0/8.
			v := uint32(round*change + i)
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{102, byte(v >> 16), byte(v >> 8), byte(v)}), 32)
		}
		level := uint8(7 + r.IntN(3))
		if i < change {
			level = uint8(7 + round%3)
		}
		t.Entries = append(t.Entries, enforce.Entry{Prefix: p, Level: level})
	}
	if round%2 == 0 {
		t.Entries = append(t.Entries, enforce.Entry{Prefix: pfx("198.51.100.7"), Level: 9})
	} else {
		t.Entries = append(t.Entries, enforce.Entry{Prefix: pfx("203.0.113.0/24"), Level: 9})
	}
	return t
}

// Swaps that change few entries write them into the spare generation's
// tables instead of making new ones, and a packet never sees a swap half
// done: each swap moves the block from one end of a packet's addresses
// to the other (198.51.100.7 listed, or 203.0.113.0/24), so a packet
// between them that ever passed saw neither, half of one swap. After the
// swaps the tables hold exactly the last set.
func TestPrivilegedEnforceInPlace(t *testing.T) {
	h := newEnfHarness(t, "block")
	const n, change, rounds = 20000, 1000, 12
	between := plain("198.51.100.7", "203.0.113.5").Frame()
	if err := h.enf.Replace(inPlaceTables(n, change, 0)); err != nil {
		t.Fatal(err)
	}
	var passed, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out := make([]byte, len(between)+256)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ret, err := h.objs.Program.Run(&ebpf.RunOptions{Data: between, DataOut: out})
			if err == nil && ret != xdpDrop {
				passed.Add(1)
			}
			sent.Add(1)
		}
	}()
	var inPlace []time.Duration
	for round := 1; round < rounds; round++ {
		if err := h.enf.Replace(inPlaceTables(n, change, round)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if round >= 2 {
			inPlace = append(inPlace, time.Duration(h.enf.Stats.LastSwap.Load()))
		}
	}
	close(stop)
	wg.Wait()
	h.drain()
	if passed.Load() > 0 {
		t.Errorf("%d of %d packets between the two ends passed: a swap seen half done", passed.Load(), sent.Load())
	}
	// The first two swaps make each generation's tables; the rest write
	// their changes in place.
	if got := h.enf.Stats.InPlace.Load(); got != rounds-2 {
		t.Errorf("%d swaps in place, want %d", got, rounds-2)
	}
	last := inPlaceTables(n, change, rounds-1)
	old := inPlaceTables(n, change, rounds-2)
	for _, c := range []struct {
		name string
		dst  string
		want uint32
	}{
		{"the odd round's prefix", "203.0.113.5", xdpDrop},
		{"the even round's address", "198.51.100.7", xdpPass},
		{"an entry replaced in the last round", last.Entries[n-1].Prefix.Addr().String(), xdpDrop},
		{"the entry it replaced", old.Entries[n-1].Prefix.Addr().String(), xdpPass},
		{"an entry kept all along", last.Entries[4].Prefix.Addr().String(), xdpDrop},
		{"a kept /24", "101.0.0.9", xdpDrop},
	} {
		if got, _ := h.verdict(plain("10.0.0.1", c.dst).Frame()); got != c.want {
			t.Errorf("%s (%s): %d, want %d", c.name, c.dst, got, c.want)
		}
	}
	t.Logf("%d packets during %d swaps of %d entries (%d changed each): none passed; in-place swaps in force after %v", sent.Load(), rounds, n+1, 2*change+1, quantileDur(inPlace))
}

func quantileDur(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	lo, hi := d[0], d[0]
	for _, v := range d {
		lo, hi = min(lo, v), max(hi, v)
	}
	return fmt.Sprintf("%v–%v", lo.Round(time.Microsecond), hi.Round(time.Microsecond))
}

// A swap that fails after its tables were made (here the allowlist does
// not fit the kernel's table) leaves nothing this side would later trust:
// the next swap puts exactly its own lists in force.
func TestPrivilegedEnforceFailedSwap(t *testing.T) {
	h := newEnfHarness(t, "block")
	const n, change = 2000, 100
	for round := range 2 {
		if err := h.enf.Replace(inPlaceTables(n, change, round)); err != nil {
			t.Fatal(err)
		}
	}
	// Other lists altogether (not written in place), and 9,000 allowlist
	// entries: more than the table holds.
	bad := inPlaceTables(n, n, 7)
	for i := range 9000 {
		bad.Allow = append(bad.Allow, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), 32))
	}
	if err := h.enf.Replace(bad); err == nil {
		t.Fatal("a swap whose allowlist does not fit succeeded")
	}
	// The retry without the allowlist: close to what failed (the tables
	// made for it would take it in place), so it must not be trusted.
	old := inPlaceTables(n, change, 1)
	retry := inPlaceTables(n, n, 7)
	check := func(what string, want *enforce.Tables, gone *enforce.Tables) {
		t.Helper()
		for _, c := range []struct {
			name string
			dst  string
			want uint32
		}{
			{"an entry in force", want.Entries[n-1].Prefix.Addr().String(), xdpDrop},
			{"another entry in force", want.Entries[n/2].Prefix.Addr().String(), xdpDrop},
			{"an entry of the lists before alone", gone.Entries[n-1].Prefix.Addr().String(), xdpPass},
		} {
			if got, _ := h.verdict(plain("10.0.0.1", c.dst).Frame()); got != c.want {
				t.Errorf("%s, %s (%s): %d, want %d", what, c.name, c.dst, got, c.want)
			}
		}
	}
	if err := h.enf.Replace(retry); err != nil {
		t.Fatal(err)
	}
	check("the retry", retry, old)
	// One entry changed: written in place.
	next := &enforce.Tables{Lists: retry.Lists,
		Entries: append(slices.Clone(retry.Entries[:n-1]), enforce.Entry{Prefix: pfx("102.99.99.99"), Level: 9})}
	if err := h.enf.Replace(next); err != nil {
		t.Fatal(err)
	}
	check("after the retry", next, retry)
}
