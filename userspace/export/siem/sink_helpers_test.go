// Scaffolding of the sink tests: fast reconnects, numbered event lines, a
// strict RFC 6587 frame server and its checks, and a buffer safe for
// concurrent writes.

package siem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) {
	// Reconnect quickly; set before any sink goroutine reads them.
	backoffBase = 5 * time.Millisecond
	backoffCap = 100 * time.Millisecond
	os.Exit(m.Run())
}

var nop = zerolog.Nop()

// numbered is an event line whose source port says which one it is.
func numbered(i int) []byte {
	return fmt.Appendf(nil, `{"@timestamp":"2026-11-25T10:00:00Z","event":{"kind":"event","dataset":"edgesensor.tls"},"source":{"ip":"10.0.0.2","port":%d},"tls":{"client":{"server_name":"line\n%d"}}}`+"\n", i+1, i)
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newFanout(t *testing.T, cfgs ...SinkConfig) *Fanout {
	t.Helper()
	f, err := New(cfgs, nop)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(time.Second) })
	return f
}

// frameServer accepts connections and reads RFC 6587 octet-counted
// frames, strictly: a malformed frame fails the test.
type frameServer struct {
	t      *testing.T
	ln     net.Listener
	frames chan []byte
	mu     sync.Mutex
	conns  []net.Conn
}

func newFrameServer(t *testing.T, ln net.Listener) *frameServer {
	s := &frameServer{t: t, ln: ln, frames: make(chan []byte, 1000)}
	go s.serve()
	t.Cleanup(s.stop)
	return s
}

func (s *frameServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		go s.read(c)
	}
}

func (s *frameServer) read(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		f, err := readFrame(r)
		if err != nil {
			// Connection ends (EOF, failed handshakes) are not framing
			// errors; a frame cut short or a bad length is.
			if errors.Is(err, errFraming) {
				s.t.Errorf("%v", err)
			}
			return
		}
		s.frames <- f
	}
}

// stop closes the listener and every connection: the server goes away.
func (s *frameServer) stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
}

var errFraming = errors.New("framing")

func readFrame(r *bufio.Reader) ([]byte, error) {
	var n int
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i == 0 {
				return nil, err
			}
			return nil, fmt.Errorf("%w: in MSG-LEN: %w", errFraming, err)
		}
		if c == ' ' && i > 0 {
			break
		}
		if c < '0' || c > '9' || (i == 0 && c == '0') || i > 9 {
			return nil, fmt.Errorf("%w: MSG-LEN: unexpected %q", errFraming, c)
		}
		n = n*10 + int(c-'0')
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: frame of %d: %w", errFraming, n, err)
	}
	return b, nil
}

// collect reads n frames and returns them by line number (source port).
func collectFrames(t *testing.T, frames <-chan []byte, n int) map[int]*syslogMsg {
	t.Helper()
	got := make(map[int]*syslogMsg)
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case f := <-frames:
			m, err := parse5424(f)
			if err != nil {
				t.Fatalf("frame does not parse: %v: %q", err, f)
			}
			spt, _ := m.param("spt")
			i, err := strconv.Atoi(spt)
			if err != nil {
				t.Fatalf("frame without spt: %q", f)
			}
			got[i-1] = m
		case <-timeout:
			t.Fatalf("got %d distinct lines of %d", len(got), n)
		}
	}
	return got
}

func checkLines(t *testing.T, got map[int]*syslogMsg, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		m, ok := got[i]
		if !ok {
			t.Errorf("line %d missing", i)
			continue
		}
		if want := strings.TrimSuffix(string(numbered(i)), "\n"); string(m.msg) != want {
			t.Errorf("line %d: MSG %q, want %q", i, m.msg, want)
		}
		// The SD value carries a raw newline: only the octet count
		// keeps the frame whole.
		if sni, _ := m.param("sni"); sni != fmt.Sprintf("line\n%d", i) {
			t.Errorf("line %d: sni %q", i, sni)
		}
	}
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}
