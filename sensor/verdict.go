package sensor

import (
	"errors"
	"fmt"
	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/capture"
)

// VerdictWriter steers stream flows in the data plane through the
// stream_verdicts map. Safe for concurrent use: every call is one map
// operation.
type VerdictWriter struct {
	m *ebpf.Map
}

// NewVerdictWriter writes verdicts into m (the stream_verdicts map).
func NewVerdictWriter(m *ebpf.Map) *VerdictWriter { return &VerdictWriter{m: m} }

var _ capture.Verdicts = (*VerdictWriter)(nil)

func (w *VerdictWriter) put(fl capture.Flow, v bpf.StreamVerdict) error {
	k := FlowKeyIn(fl.Client, fl.Server, capture.ProtoTCP, fl.Zone)
	if err := w.m.Put(&k, &v); err != nil {
		return fmt.Errorf("writing stream verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}

// Capture emits the flow until it has emitted byteLimit payload bytes in
// all (0: the configured stream budget).
func (w *VerdictWriter) Capture(fl capture.Flow, byteLimit uint64) error {
	return w.put(fl, bpf.StreamVerdict{State: bpf.StreamCapture, ByteLimit: byteLimit})
}

// Skip keeps the sequence range [seq, seq+length) of one direction in the
// kernel, then emits again as for a new flow, up to byteLimit payload
// bytes in all (0: the configured stream budget).
func (w *VerdictWriter) Skip(fl capture.Flow, fromServer bool, seq, length uint32, byteLimit uint64) error {
	v := bpf.StreamVerdict{State: bpf.StreamSkip, SkipSeq: seq, SkipLen: length, ByteLimit: byteLimit}
	if fromServer {
		v.SkipDir = 1
	}
	return w.put(fl, v)
}

// Ignore emits nothing more of the flow but SYN, FIN and RST.
func (w *VerdictWriter) Ignore(fl capture.Flow) error {
	return w.put(fl, bpf.StreamVerdict{State: bpf.StreamIgnore})
}

// Forget deletes the flow's verdict (the flow ended, or back to NEW).
func (w *VerdictWriter) Forget(fl capture.Flow) error {
	k := FlowKeyIn(fl.Client, fl.Server, capture.ProtoTCP, fl.Zone)
	if err := w.m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deleting stream verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}

// HSVerdictWriter steers handshakes in the data plane through the
// hs_verdicts map. Safe for concurrent use.
type HSVerdictWriter struct {
	m *ebpf.Map
}

// NewHSVerdictWriter writes into m (the hs_verdicts map).
func NewHSVerdictWriter(m *ebpf.Map) *HSVerdictWriter { return &HSVerdictWriter{m: m} }

var _ capture.HandshakeVerdicts = (*HSVerdictWriter)(nil)

func (w *HSVerdictWriter) put(fl capture.Flow, proto uint8, v bpf.HSVerdict) error {
	k := FlowKeyIn(fl.Client, fl.Server, proto, fl.Zone)
	if err := w.m.Put(&k, &v); err != nil {
		return fmt.Errorf("writing handshake verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}

// EndHandshake implements capture.HandshakeVerdicts.
func (w *HSVerdictWriter) EndHandshake(fl capture.Flow, proto uint8, notTLS bool) error {
	st := uint8(bpf.TLSUserDone)
	if notTLS {
		st = uint8(bpf.TLSUserNotTLS)
	}
	return w.put(fl, proto, bpf.HSVerdict{Action: bpf.HSEnd, EndState: st})
}

// ExtendHandshake implements capture.HandshakeVerdicts.
func (w *HSVerdictWriter) ExtendHandshake(fl capture.Flow, proto uint8, packets, bytes uint32) error {
	return w.put(fl, proto, bpf.HSVerdict{Action: bpf.HSExtend, Packets: packets, Bytes: bytes})
}

// ForgetHandshake implements capture.HandshakeVerdicts.
func (w *HSVerdictWriter) ForgetHandshake(fl capture.Flow, proto uint8) error {
	k := FlowKeyIn(fl.Client, fl.Server, proto, fl.Zone)
	if err := w.m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deleting handshake verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}
