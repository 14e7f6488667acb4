package craft

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The flood cases put one real connection in the middle of a flood of
// connections that cost a sensor memory: never-answered SYNs, handshakes
// that never finish, headers that never end, out-of-order pieces that
// never fill. The truth is the real connection's: a sensor under the
// flood must still report it (and keep its memory within its bounds,
// which the flood benchmark measures). Other reports on the flood's
// connections (incomplete handshakes) are allowed. Sizes are parameters
// (FloodSize): tests build small floods, the benchmark the full ones.

// mixer is a Wire that writes flood frames and, spread among them, the
// frames of a buffered real connection.
type mixer struct {
	w     Wire
	real  *Buffer
	start int // flood frames before the real connection starts
	lead  int // real frames written at once when it starts
	every int // flood frames between two later real frames
	n     int
}

// newMixer starts the real connection after start flood frames with
// lead frames at once, and spreads the rest over span flood frames.
func newMixer(w Wire, real *Buffer, start, span, lead int) *mixer {
	rest := max(real.Frames()-lead, 1)
	m := &mixer{w: w, real: real, start: start, lead: lead, every: max(span/rest, 1)}
	if start == 0 {
		m.begin()
	}
	return m
}

func (m *mixer) begin() {
	for i := 0; i < m.lead && m.real.Step(m.w); i++ {
	}
}

// Frame writes a flood frame and, when due, real ones.
func (m *mixer) Frame(b []byte) {
	m.w.Frame(b)
	m.n++
	switch {
	case m.n == m.start:
		m.begin()
	case m.n > m.start && (m.n-m.start)%m.every == 0:
		m.real.Step(m.w)
	}
}

// Wait lets time pass.
func (m *mixer) Wait(d time.Duration) { m.w.Wait(d) }

// Done writes what is left of the real connection.
func (m *mixer) Done() { m.real.Drain(m.w) }

// floodClient is the i-th flood source: distinct addresses in
// 198.18.0.0/15 (RFC 2544 benchmarking), in an order that looks random,
// and a random port.
func (b *builder) floodClient(i int) netip.AddrPort {
	v := uint32(198)<<24 | uint32(18)<<16 | uint32(i*40503)&0x1ffff
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.AddrPortFrom(a, uint16(1024+b.rng.IntN(64000)))
}

func (b *builder) floodConn(w Wire, client, server netip.AddrPort) *Conn {
	return NewConn(w, ConnConfig{Client: client, Server: server, ISN: [2]uint32{b.rng.Uint32(), b.rng.Uint32()},
		MSS: 1448, WScale: [2]uint8{7, 7}})
}

// realDownload buffers the whole http_exe download.
func (b *builder) realDownload(name string) (*Buffer, *Stream, error) {
	st, err := b.source(name)
	if err != nil {
		return nil, nil, err
	}
	buf := &Buffer{}
	c := b.connFor(st, buf)
	c.Replay(st)
	return buf, st, finish(c)
}

func floodCases() []Case {
	return []Case{
		{Name: "flood_syn", Flood: true, What: "spoofed SYNs (answered by SYN-ACKs) to the HTTP server around one real download", build: floodSYN},
		{Name: "flood_halfopen_tls", Flood: true, What: "ClientHellos on connections never answered, and one real handshake", build: floodHalfOpen},
		{Name: "flood_headers", Flood: true, What: "connections sending an HTTP header that never ends, both ways, and one real download", build: floodHeaders},
		{Name: "flood_ooo_bytes", Flood: true, What: "connections of 1-byte out-of-order pieces behind a hole, and one real download", build: floodOOO},
	}
}

// floodSYN: FloodSize.SYNs SYNs from distinct spoofed sources to the
// HTTP server, each answered by a SYN-ACK (a server keeps them in its
// SYN queue or answers with cookies) and never completed, spread over
// the body of one real download that completed its handshake first. A
// sensor must not evict the established flow for half-open ones
// (conntrack's early drop evicts unreplied entries first). Truth: the
// file whole.
func floodSYN(b *builder) error {
	real, st, err := b.realDownload("http_exe")
	if err != nil {
		return err
	}
	n := b.opt.Flood.SYNs
	m := newMixer(b.cap, real, 0, 2*n, 5) // handshake, request, its ACK
	for i := 0; i < n; i++ {
		c := b.floodConn(m, b.floodClient(i), st.Server)
		c.SYN(nil)
		c.SYNACK()
	}
	m.Done()
	return nil
}

// floodHalfOpen: FloodSize.HalfOpen connections that complete the TCP
// handshake and send a ClientHello (curl's, with a fresh random) that the
// server never answers; halfway through, one real handshake (tls_curl13)
// runs interleaved with the rest. Truth: the real handshake's SNI, JA3,
// JA3S, JA4 (the half-open ones may be reported as incomplete).
func floodHalfOpen(b *builder) error {
	real, st, err := b.realDownload("tls_curl13")
	if err != nil {
		return err
	}
	hello := st.Turns[0].Data
	n := b.opt.Flood.HalfOpen
	m := newMixer(b.cap, real, 5*n/2, 5*n/2, 0)
	for i := 0; i < n; i++ {
		c := b.floodConn(m, b.floodClient(i), st.Server)
		h := append([]byte(nil), hello...)
		for j := 11; j < 43; j++ { // the client random (record 5 + handshake 4 + version 2)
			h[j] = byte(b.rng.Uint32())
		}
		c.Handshake()
		c.Send(Up, h)
	}
	m.Done()
	return nil
}

// headerTemplate is n bytes of an HTTP header that never ends: first
// line, then padding fields, never an empty line.
func headerTemplate(first string, n int) []byte {
	var sb strings.Builder
	sb.WriteString(first)
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, "X-Pad-%06d: %s\r\n", i, strings.Repeat("a", 80))
	}
	return []byte(sb.String()[:n])
}

// floodHeaders: FloodSize.HeaderConns connections to the HTTP server;
// each sends a request header of FloodSize.HeaderBytes that never ends
// and gets a response header of the same size that never ends, segment
// by segment in rounds over all connections; in the second half one real
// download runs. Every unfinished header is held by a sensor and must be
// paid from its memory budget. Truth: the file whole.
func floodHeaders(b *builder) error {
	real, st, err := b.realDownload("http_exe")
	if err != nil {
		return err
	}
	n, size := b.opt.Flood.HeaderConns, b.opt.Flood.HeaderBytes
	up := headerTemplate("GET /flood/000000 HTTP/1.1\r\nHost: files.example.test\r\n", size)
	down := headerTemplate("HTTP/1.1 200 OK\r\nServer: flood\r\n", size)
	if bytes.Contains(up, []byte("\r\n\r\n")) || bytes.Contains(down, []byte("\r\n\r\n")) {
		return fmt.Errorf("flood header ends")
	}
	const mss = 1448
	rounds := (size + mss - 1) / mss
	m := newMixer(b.cap, real, 3*n+3*n*rounds/2, 3*n*rounds/2, 0)
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i] = b.floodConn(m, b.floodClient(i), st.Server)
		conns[i].Handshake()
	}
	for r := 0; r < rounds; r++ {
		for i, c := range conns {
			for d, tmpl := range [2][]byte{up, down} {
				chunk := tmpl[r*mss : min((r+1)*mss, size)]
				if d == Up && r == 0 {
					chunk = append([]byte(nil), chunk...)
					copy(chunk[len("GET /flood/"):], fmt.Sprintf("%06d", i))
				}
				c.SendAt(d, c.Next(d), chunk, true)
				c.Sent(d, len(chunk))
			}
		}
	}
	m.Done()
	return finish(conns...)
}

// floodOOO: FloodSize.OOOConns HTTP downloads whose response stops after
// the header and the body's first byte; the next byte never comes, and
// the body goes on as FloodSize.OOOPieces 1-byte segments each behind a
// 1-byte hole, in rounds over all connections (the client SACKs the
// latest every 32). Each piece is held out of order by a reassembler and
// must be paid for with its overhead, not just its byte. In the second
// half one real download runs. Truth: the file whole.
func floodOOO(b *builder) error {
	real, st, err := b.realDownload("http_exe")
	if err != nil {
		return err
	}
	n, p := b.opt.Flood.OOOConns, b.opt.Flood.OOOPieces
	hdr := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\nM")
	m := newMixer(b.cap, real, 7*n+n*p/2, n*p/2, 0)
	conns := make([]*Conn, n)
	for i := range conns {
		c := b.floodConn(m, b.floodClient(i), st.Server)
		c.Handshake()
		c.Send(Up, []byte(fmt.Sprintf("GET /ooo/%06d HTTP/1.1\r\nHost: files.example.test\r\n\r\n", i)))
		c.Send(Down, hdr)
		conns[i] = c
	}
	for k := 0; k < p; k++ {
		for _, c := range conns {
			off := len(hdr) + 1 + 2*k
			c.Emit(Down, Seg{Off: off, Data: []byte{'Z'}})
			if k%32 == 31 {
				c.SackAck(Down, [2]int{off, off + 1}, [2]int{off - 2, off - 1}, [2]int{off - 4, off - 3})
			}
		}
	}
	m.Done()
	return finish(conns...)
}
