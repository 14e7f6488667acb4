package craft

import (
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Packet is one Ethernet frame of a case with its capture time.
type Packet struct {
	Time time.Time
	Data []byte
}

// Sink takes the packets of a case in capture order.
type Sink interface {
	WritePacket(Packet) error
}

// Wire is where a connection puts its frames: the capture itself, or a
// buffer that is interleaved with other traffic later.
type Wire interface {
	Frame(b []byte)
	// Wait lets time pass before the next frame (a retransmission
	// timeout, a reconnect).
	Wait(d time.Duration)
}

// Epoch is the time of a case's first packet: fixed, so that a case's
// bytes depend on its seed only.
var Epoch = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// Capture stamps frames with increasing times and hands them to a sink.
type Capture struct {
	sink Sink
	now  time.Time
	step time.Duration
	n    int
	err  error
}

// NewCapture starts at Epoch with step between frames.
func NewCapture(sink Sink, step time.Duration) *Capture {
	return &Capture{sink: sink, now: Epoch, step: step}
}

// Frame writes one frame at the current time.
func (c *Capture) Frame(b []byte) {
	if c.err != nil {
		return
	}
	c.err = c.sink.WritePacket(Packet{Time: c.now, Data: b})
	c.now = c.now.Add(c.step)
	c.n++
}

// Wait advances the clock.
func (c *Capture) Wait(d time.Duration) { c.now = c.now.Add(d) }

// Err is the first error of the sink.
func (c *Capture) Err() error { return c.err }

// Packets is how many frames were written.
func (c *Capture) Packets() int { return c.n }

// Buffer keeps frames (and waits) in order, to be interleaved with other
// traffic on a Wire later.
type Buffer struct {
	items []bufItem
	next  int
}

type bufItem struct {
	frame []byte
	wait  time.Duration
}

// Frame keeps b.
func (b *Buffer) Frame(f []byte) { b.items = append(b.items, bufItem{frame: f}) }

// Wait keeps a pause.
func (b *Buffer) Wait(d time.Duration) { b.items = append(b.items, bufItem{wait: d}) }

// Frames is how many frames the buffer holds.
func (b *Buffer) Frames() int {
	n := 0
	for _, it := range b.items {
		if it.frame != nil {
			n++
		}
	}
	return n
}

// Step writes the next frame (and the pauses before it) to w; false when
// the buffer is spent.
func (b *Buffer) Step(w Wire) bool {
	for b.next < len(b.items) {
		it := b.items[b.next]
		b.next++
		if it.frame == nil {
			w.Wait(it.wait)
			continue
		}
		w.Frame(it.frame)
		return true
	}
	return false
}

// Drain writes what is left.
func (b *Buffer) Drain(w Wire) {
	for b.Step(w) {
	}
}

// Interleave writes the buffers to w one frame of each in turn.
func Interleave(w Wire, bufs ...*Buffer) {
	for more := true; more; {
		more = false
		for _, b := range bufs {
			if b.Step(w) {
				more = true
			}
		}
	}
}

// PcapSink writes packets as a pcap file with Ethernet link type.
type PcapSink struct {
	w *pcapgo.Writer
}

// NewPcapSink writes the pcap file header to w.
func NewPcapSink(w io.Writer) (*PcapSink, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("writing pcap header: %w", err)
	}
	return &PcapSink{w: pw}, nil
}

// WritePacket writes one record.
func (p *PcapSink) WritePacket(pk Packet) error {
	ci := gopacket.CaptureInfo{Timestamp: pk.Time, CaptureLength: len(pk.Data), Length: len(pk.Data)}
	if err := p.w.WritePacket(ci, pk.Data); err != nil {
		return fmt.Errorf("writing pcap record: %w", err)
	}
	return nil
}

// Packets collects packets in memory.
type Packets []Packet

// WritePacket keeps p.
func (ps *Packets) WritePacket(p Packet) error {
	*ps = append(*ps, p)
	return nil
}
