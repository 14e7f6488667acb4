// Package mailtest holds what the tests of the mail parsers (smtp, imap,
// mime) share: a message sink that checks the transfer.Message contract,
// ways to feed a parser both directions in many orders, and base64 as
// mail carries it.
package mailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Sink records the messages a parser opens and checks the Message
// contract: no Write or Gap after Close, one Close.
type Sink struct {
	Fail func(string)
	Msgs []*Msg
}

type Msg struct {
	s      *Sink
	Meta   transfer.Meta
	Data   []byte
	Gaps   int64
	Cut    transfer.Cut
	Closed int
}

func NewSink(t testing.TB) *Sink {
	return &Sink{Fail: func(s string) { t.Helper(); t.Error(s) }}
}

func (s *Sink) OpenMessage(m *transfer.Meta) transfer.Message {
	mm := &Msg{s: s, Meta: *m}
	mm.Meta.RcptTo = slices.Clone(m.RcptTo) // only valid during the call
	s.Msgs = append(s.Msgs, mm)
	return mm
}

func (m *Msg) Write(p []byte) {
	if m.Closed > 0 {
		m.s.Fail("Write after Close")
	}
	m.Data = append(m.Data, p...)
}

func (m *Msg) Gap(n int64) {
	if m.Closed > 0 {
		m.s.Fail("Gap after Close")
	}
	m.Gaps += n
}

func (m *Msg) Close(cut transfer.Cut) {
	m.Closed++
	if m.Closed > 1 {
		m.s.Fail("Close twice")
	}
	m.Cut = cut
}

// CheckClosed fails unless every message was closed exactly once.
func (s *Sink) CheckClosed() {
	for i, m := range s.Msgs {
		if m.Closed != 1 {
			s.Fail(fmt.Sprintf("message %d closed %d times", i, m.Closed))
		}
	}
}

// Ev is one call on a parser.
type Ev struct {
	Client bool
	Data   []byte
	Gap    int64
	End    bool
}

func Cl(s string) Ev { return Ev{Client: true, Data: []byte(s)} }
func Sv(s string) Ev { return Ev{Data: []byte(s)} }

// feed hands events over, honouring skip like the caller would.
func Feed(p transfer.Parser, evs []Ev) {
	var skip [2]int64
	for _, e := range evs {
		if p.Done() {
			return
		}
		d := 0
		if e.Client {
			d = 1
		}
		switch {
		case e.End:
			p.End(e.Client)
		case e.Gap > 0:
			p.Gap(e.Client, e.Gap)
		default:
			b := e.Data
			if n := min(skip[d], int64(len(b))); n > 0 {
				b, skip[d] = b[n:], skip[d]-n
			}
			if len(b) > 0 {
				skip[d] += p.Data(e.Client, b)
			}
		}
	}
}

// Lines splits a stream after each LF.
func Lines(b []byte) [][]byte { return bytes.SplitAfter(b, []byte("\n")) }

// Orderings of a client and a server stream the parser must treat alike.
func Orderings(client, server []byte, seed uint64) map[string][]Ev {
	out := map[string][]Ev{
		"client first": {{Client: true, Data: client}, {Data: server}},
		"server first": {{Data: server}, {Client: true, Data: client}},
	}
	// Line by line, alternating.
	var lbl []Ev
	cs, ss := Lines(client), Lines(server)
	for i := 0; i < max(len(cs), len(ss)); i++ {
		if i < len(cs) && len(cs[i]) > 0 {
			lbl = append(lbl, Ev{Client: true, Data: cs[i]})
		}
		if i < len(ss) && len(ss[i]) > 0 {
			lbl = append(lbl, Ev{Data: ss[i]})
		}
	}
	out["line by line"] = lbl
	out["random chunks"] = RandomChunks(client, server, rand.New(rand.NewPCG(seed, 1)), 3000)
	out["small random chunks"] = RandomChunks(client, server, rand.New(rand.NewPCG(seed, 2)), 7)
	return out
}

// RandomChunks cuts both streams into pieces of 1..maxChunk bytes and
// interleaves them at random, each direction in order.
func RandomChunks(client, server []byte, r *rand.Rand, maxChunk int) []Ev {
	var out []Ev
	for len(client) > 0 || len(server) > 0 {
		fromClient := len(server) == 0 || (len(client) > 0 && r.IntN(2) == 0)
		src := &server
		if fromClient {
			src = &client
		}
		n := min(1+r.IntN(maxChunk), len(*src))
		out = append(out, Ev{Client: fromClient, Data: (*src)[:n]})
		*src = (*src)[n:]
	}
	return out
}

// Bytewise feeds a stream one byte at a time.
func Bytewise(client bool, b []byte) []Ev {
	out := make([]Ev, len(b))
	for i := range b {
		out[i] = Ev{Client: client, Data: b[i : i+1]}
	}
	return out
}

// B64Lines encodes data in base64 lines of 76 characters, CRLF after
// each, as mail carries attachments.
func B64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.String()
}
