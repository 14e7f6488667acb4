package files

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// seg is one packet of a synthetic flow.
type seg struct {
	fromClient bool
	seq, ack   uint32
	flags      uint8
	payload    []byte
	frame      []byte // the whole frame, when the test checks checksums
}

const isnC, isnS = 1000, 5000000

// segments cuts a connection's two streams into packets: the client's
// whole stream first, then the server's (HTTP and SMTP parsers follow
// pipelining, so the order across directions only has to be causal per
// exchange), with a handshake and FINs.
func segments(c testutil.TCPConn, mss int) []seg {
	out := []seg{
		{true, isnC, 0, datapath.TCPSyn, nil, nil},
		{false, isnS, isnC + 1, datapath.TCPSyn | datapath.TCPAck, nil, nil},
	}
	cut := func(fromClient bool, b []byte, isn, ack uint32) {
		for off := 0; off < len(b); off += mss {
			end := min(off+mss, len(b))
			out = append(out, seg{fromClient, isn + 1 + uint32(off), ack, datapath.TCPAck | datapath.TCPPsh, b[off:end], nil})
		}
	}
	cEnd := isnC + 1 + uint32(len(c.ToServer))
	cut(true, c.ToServer, isnC, isnS+1)
	cut(false, c.ToClient, isnS, cEnd)
	sEnd := isnS + 1 + uint32(len(c.ToClient))
	out = append(out,
		seg{true, cEnd, sEnd, datapath.TCPFin | datapath.TCPAck, nil, nil},
		seg{false, sEnd, cEnd + 1, datapath.TCPFin | datapath.TCPAck, nil, nil})
	return out
}

func feed(sh datapath.Shard, c testutil.TCPConn, segs []seg, t0 time.Time) {
	feedMarked(sh, c, segs, t0, nil)
}

// feedMarked is feed with the packets held says marked held by the data
// plane (held nil: none).
func feedMarked(sh datapath.Shard, c testutil.TCPConn, segs []seg, t0 time.Time, held func(seg) bool) {
	// One event, reused as the dispatcher reuses its record: the pipeline
	// keeps nothing of it past Handle.
	var ev datapath.Event
	for i, s := range segs {
		ev = datapath.Event{
			Time: t0.Add(time.Duration(i) * time.Microsecond), Interface: "eth1", Class: datapath.ClassStream,
			Proto: datapath.ProtoTCP, TCPFlags: s.flags, Seq: s.seq, Ack: s.ack,
			Payload: s.payload, PayloadLen: len(s.payload),
		}
		if s.frame != nil {
			ev.Frame, ev.L3Off, ev.L4Off = s.frame, 14, 34
		}
		if s.fromClient {
			ev.Flags = datapath.FlagFromClient
			ev.Src, ev.Dst = c.Client, c.Server
		} else {
			ev.Src, ev.Dst = c.Server, c.Client
		}
		if held != nil && held(s) {
			ev.State = datapath.StateHeld
		}
		sh.Handle(&ev)
	}
}

type testEvent struct {
	File struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
		Hash *struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
		PE *struct {
			Architecture string `json:"architecture"`
		} `json:"pe"`
	} `json:"file"`
	Edgesensor struct {
		File struct {
			Category     string `json:"category"`
			Complete     bool   `json:"complete"`
			Cut          string `json:"cut"`
			MissingBytes int64  `json:"missing_bytes"`
			Oversize     bool   `json:"oversize"`
			Analysed     bool   `json:"analysed"`
			Retained     string `json:"retained"`
			Document     *struct {
				Producer string `json:"producer"`
			} `json:"document"`
		} `json:"file"`
	} `json:"edgesensor"`
}

func parse(t testing.TB, b []byte) []testEvent {
	t.Helper()
	var evs []testEvent
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e testEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// recorder is a datapath.Verdicts that remembers what it was told.
type recorder struct {
	skips    [][2]uint32 // seq, length
	captures []uint64
	ignores  int
	forgets  int
}

func (r *recorder) Capture(_ datapath.Flow, n uint64) error {
	r.captures = append(r.captures, n)
	return nil
}
func (r *recorder) Skip(_ datapath.Flow, _ bool, seq, n uint32, _ uint64) error {
	r.skips = append(r.skips, [2]uint32{seq, n})
	return nil
}
func (r *recorder) Ignore(datapath.Flow) error { r.ignores++; return nil }
func (r *recorder) Forget(datapath.Flow) error { r.forgets++; return nil }

// testConfig is what the sensor gives the file pipeline: the [files]
// table, and the keys of other tables it reads.
type testConfig struct {
	Files      Settings
	Capture    datapath.Settings
	Ports      datapath.Ports
	Reassembly reassembly.Settings
	Score      score.Settings
	Sensor     struct{ Workers int } // 0: one per CPU
}

// pipelineConfig composes the pipeline's config from c as the sensor
// does (cmd/edgesensor filesConfig).
func (c *testConfig) pipelineConfig(v datapath.Verdicts) Config {
	fc := c.Files.Config()
	fc.Ports = c.Ports.Apps()
	fc.Shards = c.Sensor.Workers
	if fc.Shards == 0 {
		fc.Shards = runtime.NumCPU()
	}
	fc.StreamBudget = int64(c.Capture.StreamBudget)
	fc.Policy = c.Reassembly.OverlapPolicy()
	fc.AckGrace = time.Duration(c.Reassembly.AckGrace)
	fc.Threshold = c.Score.Threshold
	fc.Verdicts = v
	return fc
}

func defaultTestConfig() testConfig {
	return testConfig{Files: DefaultSettings(), Capture: datapath.DefaultSettings(), Ports: datapath.DefaultPorts(),
		Reassembly: reassembly.DefaultSettings(), Score: score.DefaultSettings()}
}

func newPipeline(t testing.TB, edit func(*testConfig), v datapath.Verdicts) (*Pipeline, *bytes.Buffer, string) {
	t.Helper()
	c := defaultTestConfig()
	spool := filepath.Join(t.TempDir(), "spool")
	c.Files.SpoolDir = spool
	if edit != nil {
		edit(&c)
	}
	var p setting.Problems
	c.Files.Validate("files", &p)
	c.Capture.Validate("capture", &p)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	pl, err := New(c.pipelineConfig(v), ndjson.NewNDJSON(&buf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pl, &buf, spool
}

// feedPipeline runs connection c, in 1448-byte segments, through a new
// pipeline (newPipeline's edit and verdicts) and closes its shard.
func feedPipeline(t testing.TB, edit func(*testConfig), v datapath.Verdicts, c testutil.TCPConn) (*Pipeline, *bytes.Buffer, string) {
	t.Helper()
	p, buf, spool := newPipeline(t, edit, v)
	sh := p.NewShard(0)
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	return p, buf, spool
}

func spoolEmpty(t testing.TB, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("spool holds %d files after the flows ended", n)
	}
}
