package smtp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/extract"
)

// recSink records the messages a parser opens and checks the Message
// contract: no Write or Gap after Close, one Close.
type recSink struct {
	fail func(string)
	msgs []*recMsg
}

type recMsg struct {
	s      *recSink
	meta   extract.Meta
	data   []byte
	gaps   int64
	cut    extract.Cut
	closed int
}

func newSink(t testing.TB) *recSink {
	return &recSink{fail: func(s string) { t.Helper(); t.Error(s) }}
}

func (s *recSink) OpenMessage(m *extract.Meta) extract.Message {
	mm := &recMsg{s: s, meta: *m}
	mm.meta.RcptTo = slices.Clone(m.RcptTo) // only valid during the call
	s.msgs = append(s.msgs, mm)
	return mm
}

func (m *recMsg) Write(p []byte) {
	if m.closed > 0 {
		m.s.fail("Write after Close")
	}
	m.data = append(m.data, p...)
}

func (m *recMsg) Gap(n int64) {
	if m.closed > 0 {
		m.s.fail("Gap after Close")
	}
	m.gaps += n
}

func (m *recMsg) Close(cut extract.Cut) {
	m.closed++
	if m.closed > 1 {
		m.s.fail("Close twice")
	}
	m.cut = cut
}

// checkClosed fails unless every message was closed exactly once.
func (s *recSink) checkClosed() {
	for i, m := range s.msgs {
		if m.closed != 1 {
			s.fail(fmt.Sprintf("message %d closed %d times", i, m.closed))
		}
	}
}

// ev is one call on a parser.
type ev struct {
	client bool
	data   []byte
	gap    int64
	end    bool
}

func cl(s string) ev { return ev{client: true, data: []byte(s)} }
func sv(s string) ev { return ev{data: []byte(s)} }

// run feeds events to a new parser, closes it and returns the sink.
func run(t testing.TB, opts Options, evs []ev) (*recSink, *Parser, *Stats) {
	t.Helper()
	sink := newSink(t)
	st := new(Stats)
	p := New(sink, opts, st)
	feed(p, evs)
	p.Close()
	sink.checkClosed()
	return sink, p, st
}

// feed hands events over, honouring skip like the caller would.
func feed(p *Parser, evs []ev) {
	var skip [2]int64
	for _, e := range evs {
		if p.Done() {
			return
		}
		d := 0
		if e.client {
			d = 1
		}
		switch {
		case e.end:
			p.End(e.client)
		case e.gap > 0:
			p.Gap(e.client, e.gap)
		default:
			b := e.data
			if n := min(skip[d], int64(len(b))); n > 0 {
				b, skip[d] = b[n:], skip[d]-n
			}
			if len(b) > 0 {
				skip[d] += p.Data(e.client, b)
			}
		}
	}
}

// lines splits a stream after each LF.
func lines(b []byte) [][]byte { return bytes.SplitAfter(b, []byte("\n")) }

// orderings of a client and a server stream the parser must treat alike.
func orderings(client, server []byte, seed uint64) map[string][]ev {
	out := map[string][]ev{
		"client first": {{client: true, data: client}, {data: server}},
		"server first": {{data: server}, {client: true, data: client}},
	}
	// Line by line, alternating.
	var lbl []ev
	cs, ss := lines(client), lines(server)
	for i := 0; i < max(len(cs), len(ss)); i++ {
		if i < len(cs) && len(cs[i]) > 0 {
			lbl = append(lbl, ev{client: true, data: cs[i]})
		}
		if i < len(ss) && len(ss[i]) > 0 {
			lbl = append(lbl, ev{data: ss[i]})
		}
	}
	out["line by line"] = lbl
	out["random chunks"] = randomChunks(client, server, rand.New(rand.NewPCG(seed, 1)), 3000)
	out["small random chunks"] = randomChunks(client, server, rand.New(rand.NewPCG(seed, 2)), 7)
	return out
}

// randomChunks cuts both streams into pieces of 1..maxChunk bytes and
// interleaves them at random, each direction in order.
func randomChunks(client, server []byte, r *rand.Rand, maxChunk int) []ev {
	var out []ev
	for len(client) > 0 || len(server) > 0 {
		fromClient := len(server) == 0 || (len(client) > 0 && r.IntN(2) == 0)
		src := &server
		if fromClient {
			src = &client
		}
		n := min(1+r.IntN(maxChunk), len(*src))
		out = append(out, ev{client: fromClient, data: (*src)[:n]})
		*src = (*src)[n:]
	}
	return out
}

// bytewise feeds a stream one byte at a time.
func bytewise(client bool, b []byte) []ev {
	out := make([]ev, len(b))
	for i := range b {
		out[i] = ev{client: client, data: b[i : i+1]}
	}
	return out
}
