package sensor

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// progRunner runs the XDP program over one frame with BPF_PROG_TEST_RUN
// in a single bpf(2) call. ebpf.Program.Run makes three: it blocks
// SIGPROF around the call and unblocks it after (so that a profiler
// cannot keep the verifier restarting), which cost replay two more
// system calls and a thread lock per packet, as much as the run itself.
// With repeat 1 a test run is over before the kernel looks at signals
// (Linux 5.10 on; the sensor needs 5.18), so there is nothing to guard.
// Not safe for concurrent use.
type progRunner struct {
	prog *ebpf.Program // kept open by the caller for the runner's life
	attr progRunAttr
	ctx  [xdpMDSize]byte
}

// progRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr
// (include/uapi/linux/bpf.h, "test").
type progRunAttr struct {
	progFD      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

// xdpMDSize is the size of struct xdp_md, the context of an XDP test run.
const xdpMDSize = 24

func newProgRunner(prog *ebpf.Program) *progRunner { return &progRunner{prog: prog} }

// run runs the program once over frame and returns its verdict.
func (p *progRunner) run(frame []byte) (uint32, error) {
	return p.call(frame, nil)
}

// runAt runs the program over data whose first meta bytes are metadata
// in front of the frame (bpf_xdp_adjust_meta's), as received on ifindex.
func (p *progRunner) runAt(data []byte, meta int, ifindex uint32) (uint32, error) {
	// struct xdp_md: data, data_end, data_meta, ingress_ifindex,
	// rx_queue_index, egress_ifindex; data_meta is where data starts.
	ne := binary.NativeEndian
	ne.PutUint32(p.ctx[0:], uint32(meta))
	ne.PutUint32(p.ctx[4:], uint32(len(data)))
	ne.PutUint32(p.ctx[8:], 0)
	ne.PutUint32(p.ctx[12:], ifindex)
	ne.PutUint32(p.ctx[16:], 0)
	ne.PutUint32(p.ctx[20:], 0)
	return p.call(data, p.ctx[:])
}

func (p *progRunner) call(data, ctx []byte) (uint32, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("running XDP program: no frame")
	}
	a := &p.attr
	*a = progRunAttr{
		progFD:     uint32(p.prog.FD()),
		dataSizeIn: uint32(len(data)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&data[0]))),
		repeat:     1,
	}
	if len(ctx) > 0 {
		a.ctxSizeIn = uint32(len(ctx))
		a.ctxIn = uint64(uintptr(unsafe.Pointer(&ctx[0])))
	}
	// Raw: a run takes microseconds and does not block, so the scheduler
	// need not hear of it (with Syscall, the monitor thread kept waking
	// to look at a P in a system call: 17,000 more sleeps a replay).
	_, _, errno := unix.RawSyscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(a)), unsafe.Sizeof(*a))
	runtime.KeepAlive(data)
	runtime.KeepAlive(ctx)
	runtime.KeepAlive(p.prog)
	if errno != 0 {
		return 0, fmt.Errorf("BPF_PROG_TEST_RUN on a %d-byte frame: %w", len(data), errno)
	}
	return a.retval, nil
}

// markFrame appends to dst[:0] frame with magic words in front as XDP
// metadata, 4 bytes each (bpf.ReinjectMagic, bpf.ResendMagic; a held
// datagram's bpf.ReinjectMagic then bpf.ReinjectHoldMagic): run it with
// the program's data 4 bytes a word in.
func markFrame(dst []byte, frame []byte, magic ...uint32) []byte {
	dst = dst[:0]
	for _, m := range magic {
		dst = binary.NativeEndian.AppendUint32(dst, m)
	}
	return append(dst, frame...)
}
