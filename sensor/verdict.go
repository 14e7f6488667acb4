package sensor

import (
	"errors"
	"fmt"
	"net/netip"

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

func (w *VerdictWriter) put(client, server netip.AddrPort, v bpf.StreamVerdict) error {
	k := FlowKeyOf(client, server, capture.ProtoTCP)
	if err := w.m.Put(&k, &v); err != nil {
		return fmt.Errorf("writing stream verdict for %s-%s: %w", client, server, err)
	}
	return nil
}

// Capture emits the flow until it has emitted byteLimit payload bytes in
// all (0: the configured stream budget).
func (w *VerdictWriter) Capture(client, server netip.AddrPort, byteLimit uint64) error {
	return w.put(client, server, bpf.StreamVerdict{State: bpf.StreamCapture, ByteLimit: byteLimit})
}

// Skip keeps the sequence range [seq, seq+length) of one direction in the
// kernel, then emits again as for a new flow, up to byteLimit payload
// bytes in all (0: the configured stream budget).
func (w *VerdictWriter) Skip(client, server netip.AddrPort, fromServer bool, seq, length uint32, byteLimit uint64) error {
	v := bpf.StreamVerdict{State: bpf.StreamSkip, SkipSeq: seq, SkipLen: length, ByteLimit: byteLimit}
	if fromServer {
		v.SkipDir = 1
	}
	return w.put(client, server, v)
}

// Ignore emits nothing more of the flow but SYN, FIN and RST.
func (w *VerdictWriter) Ignore(client, server netip.AddrPort) error {
	return w.put(client, server, bpf.StreamVerdict{State: bpf.StreamIgnore})
}

// Forget deletes the flow's verdict (the flow ended, or back to NEW).
func (w *VerdictWriter) Forget(client, server netip.AddrPort) error {
	k := FlowKeyOf(client, server, capture.ProtoTCP)
	if err := w.m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deleting stream verdict for %s-%s: %w", client, server, err)
	}
	return nil
}
