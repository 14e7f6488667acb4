package sensor

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// harness runs frames through the real XDP program with BPF_PROG_TEST_RUN
// and collects what it emits.
type harness struct {
	t     testing.TB
	objs  *bpf.Objects
	rings []*ringbuf.Reader
	dec   *Decoder
	cfg   config.Config
	// actions reads the actions ring, once asked for.
	actions *ringbuf.Reader
}

func newHarness(t testing.TB, mutate func(*config.Config)) *harness {
	t.Helper()
	testutil.RequireBPF(t)
	cfg := config.Default()
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	objs, err := Load(&cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, objs: objs, dec: NewDecoder(nil, "test"), cfg: cfg}
	for _, m := range []*ebpf.Map{objs.Handshakes, objs.Streams, objs.Fragments} {
		rd, err := ringbuf.NewReader(m)
		if err != nil {
			t.Fatal(err)
		}
		rd.SetDeadline(time.Unix(1, 0))
		h.rings = append(h.rings, rd)
	}
	t.Cleanup(func() {
		for _, rd := range h.rings {
			rd.Close()
		}
		objs.Close()
	})
	return h
}

// run pushes one frame and returns the events it produced, copied.
func (h *harness) run(frame []byte) []datapath.Event {
	h.t.Helper()
	ret, err := h.objs.Program.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		h.t.Fatalf("running program: %v", err)
	}
	if ret != xdpPass {
		h.t.Fatalf("program returned %d, want XDP_PASS", ret)
	}
	return h.drain()
}

func (h *harness) drain() []datapath.Event {
	h.t.Helper()
	var out []datapath.Event
	var rec ringbuf.Record
	for _, rd := range h.rings {
		for {
			err := rd.ReadInto(&rec)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				h.t.Fatal(err)
			}
			raw := append([]byte(nil), rec.RawSample...)
			var ev datapath.Event
			if err := h.dec.Decode(raw, &ev); err != nil {
				h.t.Fatalf("decoding record: %v", err)
			}
			out = append(out, ev)
		}
	}
	return out
}

// runHeld pushes one frame and returns the program's action and whether
// an event it emitted was flagged held.
func (h *harness) runHeld(frame []byte) (uint32, bool) {
	h.t.Helper()
	ret, err := h.objs.Program.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		h.t.Fatalf("running program: %v", err)
	}
	held := false
	for _, ev := range h.drain() {
		held = held || ev.Held()
	}
	return ret, held
}

// runAll pushes frames in order and returns all events.
func (h *harness) runAll(frames ...[]byte) []datapath.Event {
	h.t.Helper()
	var out []datapath.Event
	for _, f := range frames {
		out = append(out, h.run(f)...)
	}
	return out
}

// actionsReader reads the actions ring (enforcement), closed with the test.
func (h *harness) actionsReader(tb testing.TB) *ringbuf.Reader {
	if h.actions == nil {
		rd, err := ringbuf.NewReader(h.objs.Actions)
		if err != nil {
			tb.Fatal(err)
		}
		rd.SetDeadline(time.Unix(1, 0))
		h.t.Cleanup(func() { rd.Close() })
		h.actions = rd
	}
	return h.actions
}

func (h *harness) counters() Counters {
	h.t.Helper()
	c, err := ReadCounters(h.objs.Counters, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// flow reads the kernel state of the flow of packet p.
func (h *harness) flow(p testutil.Pkt) (bpf.Flow, bool) {
	var f bpf.Flow
	src, dst := p.Endpoints()
	k := FlowKeyOf(src, dst, p.Proto())
	err := h.objs.Flows.Lookup(&k, &f)
	return f, err == nil
}
