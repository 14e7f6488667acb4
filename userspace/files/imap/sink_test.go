package imap

import (
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/mailtest"
)

// The shared sink and feeders of the mail parsers' tests.
type (
	recSink = mailtest.Sink
	recMsg  = mailtest.Msg
	ev      = mailtest.Ev
)

var (
	newSink      = mailtest.NewSink
	cl           = mailtest.Cl
	sv           = mailtest.Sv
	lines        = mailtest.Lines
	orderings    = mailtest.Orderings
	randomChunks = mailtest.RandomChunks
	bytewise     = mailtest.Bytewise
)

func feed(p *Parser, evs []ev) { mailtest.Feed(p, evs) }

// run feeds events to a new parser, closes it and returns the sink.
func run(t testing.TB, opts Options, evs []ev) (*recSink, *Parser, *Stats) {
	t.Helper()
	sink := newSink(t)
	st := new(Stats)
	p := New(sink, opts, st)
	feed(p, evs)
	p.Close()
	sink.CheckClosed()
	return sink, p, st
}
