// Tests of the pipeline's bounds: the memory held by handshakes in
// progress and the size of the flow table.

package handshake

import (
	"bytes"
	stdjson "encoding/json"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
)

// Handshakes in progress hold a bounded number of bytes: past it the
// least recently active are written early, and the shard's count stays
// within the bound.
func TestHandshakeMemoryIsBounded(t *testing.T) {
	var buf bytes.Buffer
	p := New(Config{MaxBytes: 1 << 20, Shards: 1}, ndjson.NewNDJSON(&buf))
	sh := p.NewShard(0).(*shard)
	// Each flow: a hello record header claiming a big message, then 16
	// KiB of it out of order (a hole after the header): held, and counted.
	for i := 0; i < 200; i++ {
		src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i))
		dst := netip.MustParseAddrPort("10.0.0.2:443")
		parts := []struct {
			seq uint32
			b   []byte
		}{{1, []byte{22, 3, 1, 0x40, 0, 1, 0, 0x3f, 0xf0}}}
		for k := 0; k < 16; k++ {
			parts = append(parts, struct {
				seq uint32
				b   []byte
			}{uint32(100 + k*1024), make([]byte, 1024)})
		}
		for _, part := range parts {
			ev := datapath.Event{Class: datapath.ClassTLS, Proto: datapath.ProtoTCP, Src: src, Dst: dst, TCPFlags: 0x18,
				Flags: datapath.FlagFromClient, Time: time.Unix(int64(i), 0), Seq: part.seq, Payload: part.b, PayloadLen: len(part.b)}
			sh.Handle(&ev)
		}
		if sh.mem > sh.maxBytes {
			t.Fatalf("flow %d: shard holds %d bytes, bound %d", i, sh.mem, sh.maxBytes)
		}
	}
	if p.Stats.EvictedMemory.Load() == 0 {
		t.Error("nothing was written early")
	}
	// What the metrics read from other goroutines: the shard's figure as
	// of its last Tick.
	if p.Memory() != 0 {
		t.Errorf("Memory() = %d before any Tick", p.Memory())
	}
	sh.Tick(time.Unix(200, 0))
	if m := p.Memory(); m != int64(sh.mem) || m < 1<<19 || m > 1<<20 {
		t.Errorf("Memory() = %d after a Tick, the shard holds %d (bound %d)", m, sh.mem, sh.maxBytes)
	}
	sh.Close()
	if sh.mem != 0 || len(sh.flows) != 0 || sh.activity.Len() != 0 {
		t.Errorf("after close: %d bytes, %d flows", sh.mem, len(sh.flows))
	}
}

// The table of flows is bounded: the oldest is written early.
func TestFlowTableIsBounded(t *testing.T) {
	var evs []datapath.Event
	for i := 0; i < 40; i++ {
		evs = append(evs, datapath.Event{Class: datapath.ClassTLS, Proto: datapath.ProtoTCP,
			Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i)), Dst: netip.MustParseAddrPort("10.0.0.2:443"),
			Flags: datapath.FlagFromClient, Time: time.Unix(int64(i), 0), Payload: []byte{22, 3, 1, 0, 1, 1}, PayloadLen: 6, TCPFlags: 0x18})
	}
	var buf bytes.Buffer
	p := New(Config{MaxFlows: 16, Shards: 1}, ndjson.NewNDJSON(&buf))
	sh := p.NewShard(0).(*shard)
	for i := range evs {
		sh.Handle(&evs[i])
		if len(sh.flows) > 16 {
			t.Fatalf("%d flows held", len(sh.flows))
		}
	}
	if p.Stats.Evicted.Load() != 24 {
		t.Errorf("evicted %d", p.Stats.Evicted.Load())
	}
	// The least recently active went first, in order.
	p.out.Flush()
	for i, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e map[string]any
		if err := stdjson.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if field(e, "source.port") != float64(1000+i) || field(e, "edgesensor.tls.end") != "evicted" {
			t.Fatalf("event %d: port %v end %v", i, field(e, "source.port"), field(e, "edgesensor.tls.end"))
		}
	}
}

// A new handshake when the table is full costs the same as any other:
// the oldest is found at the head of the activity list, not by a scan.
func BenchmarkNewFlowFullTable(b *testing.B) {
	p := New(Config{MaxFlows: 1 << 15, Shards: 1}, ndjson.NewNDJSON(io.Discard))
	sh := p.NewShard(0)
	ev := datapath.Event{Class: datapath.ClassTLS, Proto: datapath.ProtoTCP, Dst: netip.MustParseAddrPort("10.0.0.2:443"),
		Flags: datapath.FlagFromClient, Payload: []byte{22, 3, 1, 0, 1, 1}, PayloadLen: 6, TCPFlags: 0x18}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(i))
		ev.Time = time.Unix(int64(i), 0)
		sh.Handle(&ev)
	}
}
