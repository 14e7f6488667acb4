package smtp

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/edgesensor/edgesensor/userspace/files/mime"
)

// Unfinished command and reply lines, and a flood of lines the parser
// passes over, hold at most one line per direction (MaxLine), beside the
// parser's state and its queues of commands and replies awaiting each
// other (MaxPending each); a message under way adds what the MIME
// extractor holds for it.
func TestFootprintBoundedByOneLine(t *testing.T) {
	x := mime.New(&fileSink{}, mime.Options{}, nil)
	p := New(x, Options{}, nil)
	idle := p.Footprint()
	p.Data(false, []byte(greet+"250 hi\r\n"))
	p.Data(true, []byte("EHLO c\r\n"))
	t.Logf("new parser %d bytes, after EHLO %d, MIME extractor %d", idle, p.Footprint(), x.Footprint())
	base := p.Footprint()
	queues := p.opt.MaxPending * (int(unsafe.Sizeof(entry{})) + 2)
	bound := base + 2*p.opt.MaxLine + queues
	check := func(what string) {
		t.Helper()
		if fp := p.Footprint(); fp > bound {
			t.Fatalf("%s: Footprint %d, bound %d", what, fp, bound)
		}
	}
	for range 2000 {
		p.Data(true, []byte("NOOP "+strings.Repeat("n", 90)))
		p.Data(true, []byte("\r\n"))
		check("commands")
	}
	for range 1000 {
		p.Data(false, []byte("250-"+strings.Repeat("r", 500)))
		check("replies")
	}
	for range 1000 {
		p.Data(true, []byte(strings.Repeat("l", 1000)))
		check("a command line that never ends")
	}
	// A message under way: its header block never ends.
	p2 := New(x, Options{}, nil)
	p2.Data(false, []byte(greet+"250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n"))
	p2.Data(true, []byte("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nSubject: s\r\n"))
	start := p2.Footprint()
	for i := range 3000 {
		p2.Data(true, []byte("Received: from relay"+strings.Repeat("r", 80)+"\r\n"))
		if fp := p2.Footprint(); fp > start+512 {
			t.Fatalf("header line %d: Footprint %d from %d", i, fp, start)
		}
	}
	t.Logf("in a message header: %d bytes", p2.Footprint())
	p.Close()
	p2.Close()
}
