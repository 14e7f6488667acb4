package sensor

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/testutil"
)

// The program chained on an interface gets what the sensor passes on
// it, and its verdict stands; other interfaces, and frames userspace
// re-injects (they went through it when they came in), do not go to it.
func TestPrivilegedChainTailCall(t *testing.T) {
	h := newHarness(t, nil)
	// It drops what reaches it without metadata: frames as they came
	// in, the sensor's marks taken off.
	drop, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "chained_drop", Type: ebpf.XDP, License: "GPL",
		AttachType: ebpf.AttachXDP,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 8, asm.Word), // data_meta
			asm.LoadMem(asm.R3, asm.R1, 0, asm.Word), // data
			asm.JNE.Reg(asm.R2, asm.R3, "pass"),
			asm.LoadImm(asm.R0, 1 /* XDP_DROP */, asm.DWord),
			asm.Return(),
			asm.LoadImm(asm.R0, 2 /* XDP_PASS */, asm.DWord).WithSymbol("pass"),
			asm.Return(),
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Close()
	const lo = 1 // the test run needs a device of this namespace
	o := AttachOptions{Chain: h.objs.Chain, Chained: h.objs.ChainedTable}
	if err := h.objs.Chain.Put(uint32(lo), drop); err != nil {
		t.Fatal(err)
	}
	frame := testutil.Pkt{Sport: 40000, Dport: 22}.With(1, "A", []byte("ssh bytes")).Frame()
	r := newProgRunner(h.objs.Program)
	// run runs frame, with magic as metadata in front unless 0.
	run := func(magic uint32, ifindex uint32) uint32 {
		t.Helper()
		data, meta := frame, 0
		if magic != 0 {
			data, meta = markFrame(nil, frame, magic), 4
		}
		ret, err := r.runAt(data, meta, ifindex)
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}
	// The slot alone is not tried: the program tries the tail call only
	// where userspace marked a program chained (it costs every packet).
	if got := run(0, lo); got != xdpPass {
		t.Errorf("a slot not marked chained: verdict %d, want XDP_PASS", got)
	}
	if err := markChained(o, lo, true); err != nil {
		t.Fatal(err)
	}
	if got := run(0, lo); got != 1 {
		t.Errorf("on the chained interface: verdict %d, want the chained program's XDP_DROP", got)
	}
	if got := run(bpf.ReinjectMagic, lo); got != xdpPass {
		t.Errorf("a re-injected frame: verdict %d, want XDP_PASS without the chained program", got)
	}
	// A held frame sent through again never reached the chained program;
	// it gets it without the sensor's mark.
	if got := run(bpf.ResendMagic, lo); got != 1 {
		t.Errorf("a resent frame: verdict %d, want the chained program's XDP_DROP of an unmarked frame", got)
	}
	if err := h.objs.Chain.Delete(uint32(lo)); err != nil {
		t.Fatal(err)
	}
	if got := run(0, lo); got != xdpPass {
		t.Errorf("an empty slot: verdict %d", got)
	}
	if err := markChained(o, lo, false); err != nil {
		t.Fatal(err)
	}
	if err := h.objs.Chain.Put(uint32(lo), drop); err != nil {
		t.Fatal(err)
	}
	if got := run(0, lo); got != xdpPass {
		t.Errorf("unmarked again: verdict %d, want XDP_PASS", got)
	}
}
