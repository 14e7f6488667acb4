package mime

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// testFile records what the extractor did to one file and checks the
// contract as it goes: no Write after Close or after a refusal, one Close.
type testFile struct {
	t       testing.TB
	meta    transfer.Meta
	data    []byte
	gaps    []int64
	wire    int64 // WireGap bytes
	cut     transfer.Cut
	closes  int
	writes  int
	limit   int // refuse (Write false) once this many bytes came; <0: never
	refused bool
}

func (f *testFile) Write(p []byte) bool {
	if f.closes > 0 {
		f.t.Errorf("%q: Write after Close", f.meta.Name)
	}
	if f.refused {
		f.t.Errorf("%q: Write after it returned false", f.meta.Name)
	}
	if f.wire > 0 {
		// transfer.WireGapper: the gap comes just before the close.
		f.t.Errorf("%q: Write after WireGap", f.meta.Name)
	}
	if len(p) == 0 {
		f.t.Errorf("%q: empty Write", f.meta.Name)
	}
	if f.meta.HeadLost {
		f.t.Errorf("%q: Write to a file whose head was lost", f.meta.Name)
	}
	f.writes++
	f.data = append(f.data, p...)
	if f.limit >= 0 && len(f.data) >= f.limit {
		f.refused = true
		return false
	}
	return true
}

func (f *testFile) Gap(n int64) {
	if f.closes > 0 || f.refused {
		f.t.Errorf("%q: Gap after Close or refusal", f.meta.Name)
	}
	f.gaps = append(f.gaps, n)
}

func (f *testFile) WireGap(n int64) {
	if f.closes > 0 {
		f.t.Errorf("%q: WireGap after Close", f.meta.Name)
	}
	f.wire += n
}

func (f *testFile) Close(cut transfer.Cut) {
	f.closes++
	if f.closes > 1 {
		f.t.Errorf("%q: closed %d times", f.meta.Name, f.closes)
	}
	f.cut = cut
}

// testSink keeps every file opened.
type testSink struct {
	t     testing.TB
	files []*testFile
	// limit gives a file's refusal point (default: never).
	limit func(m *transfer.Meta) int
}

func (s *testSink) Open(m *transfer.Meta) transfer.File {
	f := &testFile{t: s.t, meta: *m, limit: -1}
	// The Meta is only read during the call: keep copies.
	f.meta.From = append([]string(nil), m.From...)
	f.meta.To = append([]string(nil), m.To...)
	f.meta.RcptTo = append([]string(nil), m.RcptTo...)
	if s.limit != nil {
		f.limit = s.limit(m)
	}
	s.files = append(s.files, f)
	return f
}

// checkClosed fails unless every file was closed once.
func (s *testSink) checkClosed() {
	s.t.Helper()
	for i, f := range s.files {
		if f.closes != 1 {
			s.t.Errorf("file %d %q closed %d times", i, f.meta.Name, f.closes)
		}
	}
}

// byName returns the file named name.
func (s *testSink) byName(name string) *testFile {
	s.t.Helper()
	for _, f := range s.files {
		if f.meta.Name == name {
			return f
		}
	}
	s.t.Fatalf("no file %q among %s", name, s.names())
	return nil
}

func (s *testSink) names() string {
	var n []string
	for _, f := range s.files {
		n = append(n, f.meta.Name+"("+f.meta.ContentType+")")
	}
	return strings.Join(n, ", ")
}

// run pushes msg through a new Extractor, cut into pieces by split, and
// closes it with cut.
func run(t testing.TB, msg []byte, opts Options, split func(n int) int, cut transfer.Cut) (*testSink, *Stats) {
	t.Helper()
	s := &testSink{t: t}
	var st Stats
	x := New(s, opts, &st)
	m := x.OpenMessage(&transfer.Meta{Protocol: transfer.SMTP, MailFrom: "env@example.org", RcptTo: []string{"rcpt@example.org"}, Upload: true})
	for len(msg) > 0 {
		n := len(msg)
		if split != nil {
			n = min(max(split(len(msg)), 1), len(msg))
		}
		m.Write(msg[:n])
		msg = msg[n:]
	}
	m.Close(cut)
	s.checkClosed()
	return s, &st
}

// whole writes in one piece; bytewise one byte at a time; random in
// pieces of 1 to max bytes.
func whole(int) int    { return 1 << 62 }
func bytewise(int) int { return 1 }
func random(seed uint64, maxn int) func(int) int {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(int) int { return 1 + r.IntN(maxn) }
}

// crlf turns a message written with "\n" into CRLF lines.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))
}

// dump describes the files of a sink for comparisons.
func (s *testSink) dump() string {
	var b bytes.Buffer
	for _, f := range s.files {
		b.WriteString(f.meta.Name + "|" + f.meta.ContentType + "|" + f.meta.Transfer + "|" + string(f.cut) + "|")
		b.Write(f.data)
		b.WriteString("\n")
	}
	return b.String()
}
