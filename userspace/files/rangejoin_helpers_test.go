package files

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// Helpers of the range tests: the event they read, range requests and
// their 206 responses, feeding connections in parallel, and the checks
// of a joined file.

// rangeEvent is what the range tests read of an event.
type rangeEvent struct {
	File struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
		Hash *struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
	} `json:"file"`
	Source struct {
		Port int `json:"port"`
	} `json:"source"`
	HTTP struct {
		Response struct {
			StatusCode int `json:"status_code"`
		} `json:"response"`
	} `json:"http"`
	Edgesensor struct {
		File struct {
			Category     string  `json:"category"`
			Kind         string  `json:"kind"`
			Complete     bool    `json:"complete"`
			Cut          string  `json:"cut"`
			MissingBytes int64   `json:"missing_bytes"`
			Conflict     bool    `json:"conflict"`
			HeadLost     bool    `json:"head_lost"`
			Analysed     bool    `json:"analysed"`
			Ranges       *Ranges `json:"ranges"`
		} `json:"file"`
	} `json:"edgesensor"`
}

func rangeEvents(t testing.TB, b []byte) []rangeEvent {
	t.Helper()
	var out []rangeEvent
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var e rangeEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out = append(out, e)
	}
	return out
}

// piece is one range request and its 206 response.
type piece struct {
	first, last int // inclusive
	etag        string
	body        []byte // nil: the original's bytes
	chunked     bool   // Transfer-Encoding: chunked, not Content-Length
}

// rangeConn is one connection fetching pieces of body at /dl/setup.exe,
// from client port port.
func rangeConn(body []byte, port uint16, ps ...piece) testutil.TCPConn {
	var req, resp bytes.Buffer
	for _, p := range ps {
		fmt.Fprintf(&req, "GET /dl/setup.exe HTTP/1.1\r\nHost: dl.test\r\nRange: bytes=%d-%d\r\n\r\n", p.first, p.last)
		b := p.body
		if b == nil {
			b = body[p.first : p.last+1]
		}
		fmt.Fprintf(&resp, "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes %d-%d/%d\r\n", p.first, p.last, len(body))
		if p.chunked {
			resp.WriteString("Transfer-Encoding: chunked\r\n")
		} else {
			fmt.Fprintf(&resp, "Content-Length: %d\r\n", len(b))
		}
		if p.etag != "" {
			fmt.Fprintf(&resp, "ETag: %s\r\n", p.etag)
		}
		resp.WriteString("\r\n")
		if !p.chunked {
			resp.Write(b)
			continue
		}
		for len(b) > 0 {
			n := min(len(b), 10000)
			fmt.Fprintf(&resp, "%x\r\n%s\r\n", n, b[:n])
			b = b[n:]
		}
		resp.WriteString("0\r\n\r\n")
	}
	return testutil.TCPConn{
		Client:   netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port),
		Server:   netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: req.Bytes(), ToClient: resp.Bytes(),
	}
}

// feedParallel runs conns at once through a pipeline of nShards shards,
// conns[i] on shard i%nShards, their packets interleaved one from each
// in turn (a download manager's parallel connections), and closes the
// shards.
func feedParallel(t testing.TB, edit func(*testConfig), nShards int, conns ...testutil.TCPConn) (*Pipeline, []rangeEvent, string) {
	t.Helper()
	p, buf, spool := newPipeline(t, edit, nil)
	shards := make([]datapath.Shard, nShards)
	for i := range shards {
		shards[i] = p.NewShard(i)
	}
	segs := make([][]seg, len(conns))
	for i, c := range conns {
		segs[i] = segments(c, 1448)
	}
	feedInterleaved(shards, conns, segs)
	for _, sh := range shards {
		sh.Close()
	}
	return p, rangeEvents(t, buf.Bytes()), spool
}

// feedInterleaved feeds conns[i]'s segments segs[i] to shards[i%len],
// one packet of each connection in turn.
func feedInterleaved(shards []datapath.Shard, conns []testutil.TCPConn, segs [][]seg) {
	nShards := len(shards)
	t0 := time.Unix(1700000000, 0)
	var ev datapath.Event
	for k, more := 0, true; more; k++ {
		more = false
		for i, c := range conns {
			if k >= len(segs[i]) {
				continue
			}
			more = true
			s := segs[i][k]
			ev = datapath.Event{Time: t0.Add(time.Duration(k) * time.Microsecond), Interface: "eth1", Class: datapath.ClassStream,
				Proto: datapath.ProtoTCP, TCPFlags: s.flags, Seq: s.seq, Ack: s.ack, Payload: s.payload, PayloadLen: len(s.payload)}
			if s.fromClient {
				ev.Flags = datapath.FlagFromClient
				ev.Src, ev.Dst = c.Client, c.Server
			} else {
				ev.Src, ev.Dst = c.Server, c.Client
			}
			shards[i%nShards].Handle(&ev)
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// quarters cuts n bytes into four pieces.
func quarters(n int) []piece {
	q := n / 4
	return []piece{{first: 0, last: q - 1}, {first: q, last: 2*q - 1}, {first: 2 * q, last: 3*q - 1}, {first: 3 * q, last: n - 1}}
}

// wholeJoined checks the one event is the whole original, joined from
// pieces over conns connections.
func wholeJoined(t *testing.T, p *Pipeline, evs []rangeEvent, spool string, orig []byte, pieces, conns int) {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	wholeAmong(t, p, evs, spool, orig, pieces, conns)
}

// wholeAmong checks evs[0] is the whole original, joined from pieces
// over conns connections, and the other events' pieces add up.
func wholeAmong(t *testing.T, p *Pipeline, evs []rangeEvent, spool string, orig []byte, pieces, conns int) {
	t.Helper()
	e := evs[0]
	all := uint64(pieces)
	for _, o := range evs[1:] {
		all += uint64(o.Edgesensor.File.Ranges.Pieces)
	}
	f := e.Edgesensor.File
	if !f.Complete || f.Cut != "" || e.File.Hash == nil || e.File.Hash.SHA256 != sha(orig) || e.File.Size != int64(len(orig)) {
		t.Fatalf("joined file: %+v hash %+v size %d", f, e.File.Hash, e.File.Size)
	}
	if f.Category != "executable" || f.Kind != "pe" || !f.Analysed || e.HTTP.Response.StatusCode != 206 || e.File.Name != "setup.exe" {
		t.Errorf("joined file typed %s/%s analysed %v status %d name %q", f.Category, f.Kind, f.Analysed, e.HTTP.Response.StatusCode, e.File.Name)
	}
	if f.Ranges == nil || f.Ranges.Pieces != pieces || f.Ranges.Connections != conns {
		t.Errorf("ranges %+v, want %d pieces over %d connections", f.Ranges, pieces, conns)
	}
	if p.Stats.RangeFilesJoined.Load() != 1 || p.Stats.RangePieces.Load() != all+p.Stats.RangeLate.Load() {
		t.Errorf("joined %d pieces %d", p.Stats.RangeFilesJoined.Load(), p.Stats.RangePieces.Load())
	}
	afterJoin(t, p, spool)
}

// afterJoin: nothing is left held, in memory or on disk.
func afterJoin(t *testing.T, p *Pipeline, spool string) {
	t.Helper()
	spoolEmpty(t, spool)
	if p.spoolUsed.Load() != 0 || p.ranges.held != 0 || len(p.ranges.entries) != 0 {
		t.Errorf("left: spool %d held %d entries %d", p.spoolUsed.Load(), p.ranges.held, len(p.ranges.entries))
	}
}
