package sensor

import (
	"errors"
	"fmt"
	"github.com/cilium/ebpf"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// VerdictWriter steers stream flows in the data plane through the
// stream_verdicts map. Safe for concurrent use: every call is one map
// operation.
type VerdictWriter struct {
	m *ebpf.Map
}

// NewVerdictWriter writes verdicts into m (the stream_verdicts map).
func NewVerdictWriter(m *ebpf.Map) *VerdictWriter { return &VerdictWriter{m: m} }

var _ datapath.Verdicts = (*VerdictWriter)(nil)

func (w *VerdictWriter) put(fl datapath.Flow, v bpf.StreamVerdict) error {
	k := FlowKeyIn(fl.Client, fl.Server, datapath.ProtoTCP, fl.Zone)
	if err := w.m.Put(&k, &v); err != nil {
		return fmt.Errorf("writing stream verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}

// Capture emits the flow until it has emitted byteLimit payload bytes in
// all (0: the configured stream budget).
func (w *VerdictWriter) Capture(fl datapath.Flow, byteLimit uint64) error {
	return w.put(fl, bpf.StreamVerdict{State: bpf.StreamCapture, ByteLimit: byteLimit})
}

// Skip keeps the sequence range [seq, seq+length) of one direction in the
// kernel, then emits again as for a new flow, up to byteLimit payload
// bytes in all (0: the configured stream budget).
func (w *VerdictWriter) Skip(fl datapath.Flow, fromServer bool, seq, length uint32, byteLimit uint64) error {
	v := bpf.StreamVerdict{State: bpf.StreamSkip, SkipSeq: seq, SkipLen: length, ByteLimit: byteLimit}
	if fromServer {
		v.SkipDir = 1
	}
	return w.put(fl, v)
}

// Ignore emits nothing more of the flow but SYN, FIN and RST.
func (w *VerdictWriter) Ignore(fl datapath.Flow) error {
	return w.put(fl, bpf.StreamVerdict{State: bpf.StreamIgnore})
}

// Forget deletes the flow's verdict (the flow ended, or back to NEW).
func (w *VerdictWriter) Forget(fl datapath.Flow) error {
	k := FlowKeyIn(fl.Client, fl.Server, datapath.ProtoTCP, fl.Zone)
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

var _ datapath.HandshakeVerdicts = (*HSVerdictWriter)(nil)

func (w *HSVerdictWriter) put(fl datapath.Flow, proto uint8, v bpf.HSVerdict) error {
	k := FlowKeyIn(fl.Client, fl.Server, proto, fl.Zone)
	if err := w.m.Put(&k, &v); err != nil {
		return fmt.Errorf("writing handshake verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}

// get reads the flow's entry (the zero entry when there is none).
func (w *HSVerdictWriter) get(fl datapath.Flow, proto uint8) (bpf.HSVerdict, error) {
	var v bpf.HSVerdict
	k := FlowKeyIn(fl.Client, fl.Server, proto, fl.Zone)
	if err := w.m.Lookup(&k, &v); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return v, fmt.Errorf("reading handshake verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return v, nil
}

// EndHandshake implements datapath.HandshakeVerdicts.
func (w *HSVerdictWriter) EndHandshake(fl datapath.Flow, proto uint8, notTLS bool) error {
	st := uint8(bpf.TLSUserDone)
	if notTLS {
		st = uint8(bpf.TLSUserNotTLS)
	}
	return w.put(fl, proto, bpf.HSVerdict{Action: bpf.HSEnd, EndState: st})
}

// ExtendHandshake implements datapath.HandshakeVerdicts. The hello
// gate's release (Enforcer.ReleaseHello), written into the same entry by
// the same shard, stays.
func (w *HSVerdictWriter) ExtendHandshake(fl datapath.Flow, proto uint8, packets, bytes uint32) error {
	old, err := w.get(fl, proto)
	if err != nil {
		return err
	}
	return w.put(fl, proto, bpf.HSVerdict{Action: bpf.HSExtend, Packets: packets, Bytes: bytes, Release: old.Release, ReleaseSeq: old.ReleaseSeq})
}

// ForgetHandshake implements datapath.HandshakeVerdicts.
func (w *HSVerdictWriter) ForgetHandshake(fl datapath.Flow, proto uint8) error {
	k := FlowKeyIn(fl.Client, fl.Server, proto, fl.Zone)
	if err := w.m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deleting handshake verdict for %s-%s: %w", fl.Client, fl.Server, err)
	}
	return nil
}
