package files

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/packet/reassembly"
	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

const corpus = "../../testdata/corpus/"

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

func TestCorpusFiles(t *testing.T) {
	for _, name := range []string{"http_keepalive", "http_exe", "http_gzip_chunked", "smtp_attach"} {
		t.Run(name, func(t *testing.T) {
			tr := testutil.ReadTruth(t, corpus+name+".truth.json")
			rec := &recorder{}
			p, buf, spool := newPipeline(t, nil, rec)
			sh := p.NewShard(0)
			for _, c := range testutil.TCPConns(t, corpus+name+".pcap") {
				feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
			}
			sh.Close()
			evs := parse(t, buf.Bytes())
			got := map[string]string{}
			for _, e := range evs {
				if e.File.Hash == nil || !e.Edgesensor.File.Complete || !e.Edgesensor.File.Analysed {
					t.Errorf("%s: %+v", e.File.Name, e)
					continue
				}
				got[e.File.Name] = e.File.Hash.SHA256
			}
			for _, f := range tr.Files {
				if got[f.Name] != f.SHA256 {
					t.Errorf("%s: sha256 %q, want %q", f.Name, got[f.Name], f.SHA256)
				}
			}
			if len(evs) != len(tr.Files) {
				t.Errorf("%d events, want %d", len(evs), len(tr.Files))
			}
			spoolEmpty(t, spool)
			if p.Stats.Files.Load() != uint64(len(tr.Files)) || p.spoolUsed.Load() != 0 {
				t.Errorf("stats: files %d spool %d", p.Stats.Files.Load(), p.spoolUsed.Load())
			}
			if rec.forgets != len(rec.skips)+len(rec.captures)+rec.ignores && rec.forgets != 1 {
				t.Errorf("verdicts not forgotten at the end: %+v", rec)
			}
		})
	}
}

// A non-candidate body of known length is skipped in the kernel from
// exactly where the parser stopped to the end of the body.
func TestSkipVerdictCoversTheBody(t *testing.T) {
	rec := &recorder{}
	p, _, _ := newPipeline(t, nil, rec)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_keepalive.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	if len(rec.skips) == 0 {
		t.Fatal("no SKIP verdict for the keep-alive flow's JPEG")
	}
	for _, s := range rec.skips {
		end := int(s[0]+s[1]) - (isnS + 1)
		if end > len(c.ToClient) {
			t.Fatalf("skip %v runs past the stream", s)
		}
		if end < len(c.ToClient) && !bytes.HasPrefix(c.ToClient[end:], []byte("HTTP/1.")) {
			t.Errorf("skip %v does not end where the next response starts: %q", s, c.ToClient[end:min(end+16, len(c.ToClient))])
		}
		if s[1] < minKernelSkip {
			t.Errorf("skip of %d bytes written to the kernel", s[1])
		}
	}
}

func TestOversizeIsReportedWithoutHash(t *testing.T) {
	p, buf, spool := newPipeline(t, func(c *testConfig) { c.Files.MaxSize.Executable = 64 << 10 }, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	evs := parse(t, buf.Bytes())
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0].Edgesensor.File
	if !e.Oversize || e.Complete || e.Cut != "limit" || evs[0].File.Hash != nil {
		t.Errorf("oversize file: %+v hash %v", e, evs[0].File.Hash)
	}
	if p.Stats.Oversize.Load() != 1 {
		t.Errorf("oversize count %d", p.Stats.Oversize.Load())
	}
	spoolEmpty(t, spool)
}

func TestSpoolLimitStillHashes(t *testing.T) {
	p, buf, spool := newPipeline(t, func(c *testConfig) { c.Files.SpoolLimit = 1 << 20 }, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	evs := parse(t, buf.Bytes())
	if len(evs) != 1 || evs[0].File.Hash == nil || !evs[0].Edgesensor.File.Complete || evs[0].Edgesensor.File.Analysed {
		t.Fatalf("events %+v", evs)
	}
	if p.Stats.SpoolFull.Load() != 1 {
		t.Errorf("spool_full %d", p.Stats.SpoolFull.Load())
	}
	spoolEmpty(t, spool)
}

func TestRetentionKeepsWholeFilesBySHA256(t *testing.T) {
	keep := t.TempDir()
	p, buf, spool := newPipeline(t, func(c *testConfig) { c.Files.Retain.Executable = keep }, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_keepalive.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	kept := map[string]bool{}
	ents, _ := os.ReadDir(keep)
	for _, e := range ents {
		kept[e.Name()] = true
	}
	n := 0
	for _, e := range parse(t, buf.Bytes()) {
		if e.Edgesensor.File.Category != "executable" {
			if e.Edgesensor.File.Retained != "" {
				t.Errorf("%s retained", e.File.Name)
			}
			continue
		}
		n++
		if !kept[e.File.Hash.SHA256] || e.Edgesensor.File.Retained != filepath.Join(keep, e.File.Hash.SHA256) {
			t.Errorf("%s not retained: %q", e.File.Name, e.Edgesensor.File.Retained)
		}
	}
	if n != 3 || len(ents) != 3 {
		t.Errorf("%d executables, %d retained", n, len(ents))
	}
	spoolEmpty(t, spool)
}

// A lost segment: the file is reported incomplete, with the missing byte
// count and without hashes.
func TestLostSegmentIsAGapNotAHash(t *testing.T) {
	p, buf, spool := newPipeline(t, nil, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	segs := segments(c, 1448)
	drop := len(segs) / 2
	lost := len(segs[drop].payload)
	segs = append(segs[:drop:drop], segs[drop+1:]...)
	feed(sh, c, segs, time.Unix(1700000000, 0))
	sh.Close()
	evs := parse(t, buf.Bytes())
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	if e.Edgesensor.File.Complete || e.Edgesensor.File.Cut != "gap" || e.Edgesensor.File.MissingBytes != int64(lost) || e.File.Hash != nil {
		t.Errorf("gap: %+v hash %v", e.Edgesensor.File, e.File.Hash)
	}
	spoolEmpty(t, spool)
}

// Flows idle past files.flow_idle end, and their unfinished files are
// reported cut; a full table evicts the least recently active flow.
func TestIdleAndEviction(t *testing.T) {
	p, buf, spool := newPipeline(t, func(c *testConfig) {
		c.Files.FlowIdle = setting.Duration(5 * time.Second)
		c.Files.MaxFlows = 64
		c.Sensor.Workers = 1
	}, nil)
	sh := p.NewShard(0)
	s := sh.(*shard)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	segs := segments(c, 1448)
	t0 := time.Unix(1700000000, 0)
	feed(sh, c, segs[:len(segs)/2], t0)
	sh.Tick(t0.Add(time.Second))
	if p.Stats.FlowsExpired.Load() != 0 {
		t.Fatal("expired too early")
	}
	sh.Tick(t0.Add(time.Minute))
	drain(sh)
	if p.Stats.FlowsExpired.Load() != 1 {
		t.Fatalf("expired %d", p.Stats.FlowsExpired.Load())
	}
	evs := parse(t, buf.Bytes())
	if len(evs) != 1 || evs[0].Edgesensor.File.Complete || evs[0].Edgesensor.File.Cut != "ended" || evs[0].File.Hash != nil {
		t.Fatalf("expired flow's file: %+v", evs)
	}
	// 65 flows whose first packets open a download: the first is evicted.
	for i := 0; i < 65; i++ {
		cc := c
		cc.Client = netip.AddrPortFrom(c.Client.Addr(), uint16(20000+i))
		feed(sh, cc, segs[:4], t0.Add(2*time.Minute+time.Duration(i)*time.Millisecond))
	}
	if p.Stats.FlowsEvicted.Load() != 1 {
		t.Errorf("evicted %d, want 1", p.Stats.FlowsEvicted.Load())
	}
	// Seven hours on, with packets all along: files.flow_lifetime ends
	// them all.
	for i := 1; i <= 7; i++ {
		now := t0.Add(time.Duration(i) * time.Hour)
		for _, f := range s.flows {
			f.last = now
		}
		sh.Tick(now)
	}
	if len(s.flows) != 0 || p.Stats.FlowsLifetime.Load() != 64 {
		t.Errorf("after 7h: %d flows open, %d ended by lifetime", len(s.flows), p.Stats.FlowsLifetime.Load())
	}
	sh.Close()
	spoolEmpty(t, spool)
	if p.spoolUsed.Load() != 0 {
		t.Errorf("spool accounting %d after close", p.spoolUsed.Load())
	}
}

// Content decides: a PE served as image/jpeg named photo.jpg is an
// executable, flagged as a mismatch.
func TestContentBeatsNameAndType(t *testing.T) {
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	body := c.ToClient[bytes.Index(c.ToClient, []byte("\r\n\r\n"))+4:]
	c.ToServer = []byte("GET /photo.jpg HTTP/1.1\r\nHost: x\r\n\r\n")
	c.ToClient = append([]byte("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"), body...)
	_, buf, _ := feedPipeline(t, nil, nil, c)
	out := buf.String()
	if !strings.Contains(out, `"category":"executable"`) || !strings.Contains(out, `"mismatch":true`) ||
		!strings.Contains(out, `"name":"photo.jpg"`) || !strings.Contains(out, `"claimed_type":"image/jpeg"`) {
		t.Errorf("PE named photo.jpg: %s", out)
	}
}

// Only the configured categories are reported.
func TestCategoriesFromConfig(t *testing.T) {
	p, buf, _ := newPipeline(t, func(c *testConfig) { c.Files.Categories = []string{"document"} }, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_keepalive.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	for _, e := range parse(t, buf.Bytes()) {
		if e.Edgesensor.File.Category != filetype.Document.String() {
			t.Errorf("%s (%s) reported with only documents selected", e.File.Name, e.Edgesensor.File.Category)
		}
	}
	if p.Stats.Files.Load() != 2 {
		t.Errorf("%d documents, want 2 (report.pdf, letter.docx)", p.Stats.Files.Load())
	}
}

// A STARTTLS session is ignored from the TLS on, ends when both sides
// have sent FIN, and a late FIN starts no new flow.
func TestIgnoredFlowEndsOnBothFINs(t *testing.T) {
	rec := &recorder{}
	p, _, _ := newPipeline(t, nil, rec)
	sh := p.NewShard(0).(*shard)
	c := testutil.TCPConn{
		Client:   netip.MustParseAddrPort("10.0.0.1:40000"),
		Server:   netip.MustParseAddrPort("10.0.0.2:25"),
		ToServer: []byte("EHLO a\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello"),
		ToClient: []byte("220 mx\r\n250 mx\r\n220 go ahead\r\n\x16\x03\x03\x00\x05hello"),
	}
	segs := segments(c, 1448)
	feed(sh, c, segs, time.Unix(1700000000, 0))
	if rec.ignores != 1 || p.Stats.FlowsIgnored.Load() != 1 {
		t.Fatalf("ignores %d, flows ignored %d", rec.ignores, p.Stats.FlowsIgnored.Load())
	}
	if len(sh.flows) != 0 {
		t.Fatalf("%d flows open after both FINs", len(sh.flows))
	}
	feed(sh, c, segs[len(segs)-1:], time.Unix(1700000001, 0)) // a retransmitted FIN
	if len(sh.flows) != 0 || p.Stats.Flows.Load() != 1 {
		t.Errorf("a late FIN made a flow: open %d, total %d", len(sh.flows), p.Stats.Flows.Load())
	}
}

// An RST far outside the window (forged, or stray) does not cut the file;
// one at the delivery point ends the flow.
func TestStrayRSTDoesNotCutFiles(t *testing.T) {
	p, buf, _ := newPipeline(t, nil, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	segs := segments(c, 1448)
	half := len(segs) / 2
	forged := seg{false, isnS + 1 + 1<<30, 0, datapath.TCPRst, nil, nil}
	all := append(append(append([]seg(nil), segs[:half]...), forged), segs[half:]...)
	feed(sh, c, all, time.Unix(1700000000, 0))
	sh.Close()
	evs := parse(t, buf.Bytes())
	if len(evs) != 1 || !evs[0].Edgesensor.File.Complete || evs[0].File.Hash == nil {
		t.Fatalf("file after a stray RST: %+v", evs)
	}
	// The same RST at the delivery point ends it: the file is cut.
	p2, buf2, _ := newPipeline(t, nil, nil)
	sh2 := p2.NewShard(0)
	last := segs[half-1]
	real := seg{false, last.seq + uint32(len(last.payload)), 0, datapath.TCPRst, nil, nil}
	if last.fromClient {
		t.Skip("the middle segment is the client's")
	}
	feed(sh2, c, append(append([]seg(nil), segs[:half]...), real), time.Unix(1700000000, 0))
	drain(sh2)
	if p2.Stats.Files.Load() != 1 {
		t.Fatalf("the RST at the delivery point did not end the flow")
	}
	sh2.Close()
	evs = parse(t, buf2.Bytes())
	if len(evs) != 1 || evs[0].Edgesensor.File.Complete || evs[0].Edgesensor.File.Cut != "ended" {
		t.Fatalf("file after an RST in window: %+v", evs)
	}
}

// A client SYN with a new ISN on a tuple starts a new connection, even
// after the old one was ignored; its file is found.
func TestReusedTupleIsANewConnection(t *testing.T) {
	p, buf, _ := newPipeline(t, nil, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	junk := c
	junk.ToServer = []byte("\x00\x01 not http at all\r\n\r\n")
	junk.ToClient = nil
	js := segments(junk, 1448)
	feed(sh, junk, js[:3], time.Unix(1700000000, 0)) // SYN, SYN-ACK, junk: ignored, never closed
	if p.Stats.FlowsIgnored.Load() != 1 {
		t.Fatalf("junk flow not ignored")
	}
	segs := segments(c, 1448)
	for i := range segs {
		if segs[i].fromClient {
			segs[i].seq += 777
		} else {
			segs[i].ack += 777
		}
	}
	feed(sh, c, segs, time.Unix(1700000001, 0))
	sh.Close()
	evs := parse(t, buf.Bytes())
	if len(evs) != 1 || evs[0].File.Hash == nil {
		t.Fatalf("download on a reused tuple: %+v", evs)
	}
}

// drain waits until the scorers have written the events of the shard's
// closed files.
func drain(sh datapath.Shard) {
	s := sh.(*shard)
	s.pending.Wait()
	s.p.out.Flush()
}

// files.hashes without sha1 and md5: only SHA-256, still the right one.
func TestOnlySHA256(t *testing.T) {
	p, buf, _ := newPipeline(t, func(c *testConfig) { c.Files.Hashes = []string{"sha256"} }, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	tr := testutil.ReadTruth(t, corpus+"http_exe.truth.json")
	out := buf.String()
	if !strings.Contains(out, `"hash":{"sha256":"`+tr.Files[0].SHA256+`"}`) {
		t.Errorf("sha256 only: %s", out)
	}
}

// A sensor that sees only the server's direction (one interface of a
// router) still reports the download, from the response alone.
func TestResponsesAlone(t *testing.T) {
	p, buf, _ := newPipeline(t, nil, nil)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	var segs []seg
	for _, s := range segments(c, 1448) {
		if !s.fromClient {
			segs = append(segs, s)
		}
	}
	feed(sh, c, segs, time.Unix(1700000000, 0))
	sh.Close()
	tr := testutil.ReadTruth(t, corpus+"http_exe.truth.json")
	evs := parse(t, buf.Bytes())
	if len(evs) != 1 || evs[0].File.Hash == nil || evs[0].File.Hash.SHA256 != tr.Files[0].SHA256 {
		t.Fatalf("server direction alone: %+v", evs)
	}
}

// A response without Content-Length runs until the server closes: only a
// FIN in order says the body is all there. An RST halfway, idle expiry
// and the sensor's own shutdown end it cut, without a hash.
func TestCloseDelimitedBodyNeedsAFIN(t *testing.T) {
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	head, body, ok := bytes.Cut(c.ToClient, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no response head")
	}
	re := regexp.MustCompile(`(?i)\r\n(content-length|connection|transfer-encoding):[^\r]*`)
	head = re.ReplaceAll(head, nil)
	c.ToClient = append(append(head, "\r\nConnection: close\r\n\r\n"...), body...)
	segs := segments(c, 1448)
	half := len(segs) / 2
	for half < len(segs) && segs[half-1].fromClient {
		half++
	}
	last := segs[half-1]
	t0 := time.Unix(1700000000, 0)
	run := func(name string, do func(sh datapath.Shard)) testEvent {
		t.Helper()
		p, buf, spool := newPipeline(t, func(c *testConfig) { c.Files.FlowIdle = setting.Duration(5 * time.Second) }, nil)
		sh := p.NewShard(0)
		do(sh)
		sh.Close()
		evs := parse(t, buf.Bytes())
		if len(evs) != 1 {
			t.Fatalf("%s: %d events", name, len(evs))
		}
		spoolEmpty(t, spool)
		return evs[0]
	}
	if e := run("FIN", func(sh datapath.Shard) { feed(sh, c, segs, t0) }); !e.Edgesensor.File.Complete || e.File.Hash == nil || e.File.Size != int64(len(body)) {
		t.Errorf("with the server's FIN: %+v", e)
	}
	cut := func(name string, e testEvent) {
		t.Helper()
		if e.Edgesensor.File.Complete || e.Edgesensor.File.Cut != "ended" || e.File.Hash != nil {
			t.Errorf("%s: %+v, hash %v", name, e.Edgesensor.File, e.File.Hash)
		}
	}
	rst := seg{false, last.seq + uint32(len(last.payload)), 0, datapath.TCPRst, nil, nil}
	cut("RST halfway", run("RST", func(sh datapath.Shard) { feed(sh, c, append(append([]seg(nil), segs[:half]...), rst), t0) }))
	cut("idle expiry", run("idle", func(sh datapath.Shard) {
		feed(sh, c, segs[:half], t0)
		sh.Tick(t0.Add(time.Minute))
		drain(sh)
	}))
	cut("shutdown", run("shutdown", func(sh datapath.Shard) { feed(sh, c, segs[:half], t0) }))
}

// A non-candidate body that runs until the connection closes cannot be
// skipped by length: once typed, the whole flow is ignored in the kernel.
func TestCloseDelimitedNonCandidateIsIgnored(t *testing.T) {
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	head, body, _ := bytes.Cut(c.ToClient, []byte("\r\n\r\n"))
	head = regexp.MustCompile(`(?i)\r\n(content-length|connection|transfer-encoding|content-type):[^\r]*`).ReplaceAll(head, nil)
	body = bytes.Clone(body)
	copy(body, "\x00\x00\x00\x18ftypmp42")
	c.ToClient = append(append(head, "\r\nContent-Type: video/mp4\r\nConnection: close\r\n\r\n"...), body...)
	rec := &recorder{}
	p, buf, _ := feedPipeline(t, nil, rec, c)
	if rec.ignores != 1 || p.Stats.FlowsIgnored.Load() != 1 {
		t.Errorf("ignores %d, flows ignored %d", rec.ignores, p.Stats.FlowsIgnored.Load())
	}
	if evs := parse(t, buf.Bytes()); len(evs) != 0 {
		t.Errorf("events for a non-candidate: %+v", evs)
	}
	if n := p.Detail().HTTP.CloseIgnored; n != 1 {
		t.Errorf("http close_ignored %d", n)
	}
}

// The file's own metadata reaches the event: PE version resources in
// file.pe.*, PDF and Office authorship in edgesensor.file.document.*.
// A request without Host (HTTP/1.0) gets the server's address in its URL.
func TestMetadataAndURLInEvents(t *testing.T) {
	fix := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("filetype/testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var req, resp []byte
	for i, f := range []string{"hello-x64.exe", "lo-memo.docx", "lo-memo.pdf"} {
		body := fix(f)
		if i == 0 {
			req = append(req, "GET /dl/"+f+" HTTP/1.0\r\n\r\n"...)
		} else {
			req = append(req, "GET /dl/"+f+" HTTP/1.1\r\nHost: files.example.test\r\n\r\n"...)
		}
		resp = append(resp, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"...)
		resp = append(resp, body...)
	}
	c := testutil.TCPConn{
		Client:   netip.MustParseAddrPort("10.0.0.1:40000"),
		Server:   netip.MustParseAddrPort("10.0.0.2:8080"),
		ToServer: req, ToClient: resp,
	}
	_, buf, _ := feedPipeline(t, nil, nil, c)
	type ev struct {
		URL struct {
			Original string `json:"original"`
		} `json:"url"`
		File struct {
			Name string `json:"name"`
			PE   *struct {
				Company          string `json:"company"`
				Product          string `json:"product"`
				OriginalFileName string `json:"original_file_name"`
				FileVersion      string `json:"file_version"`
			} `json:"pe"`
		} `json:"file"`
		Edgesensor struct {
			File struct {
				Document *struct {
					Author     string `json:"author"`
					Creator    string `json:"creator"`
					Producer   string `json:"producer"`
					LastAuthor string `json:"last_modified_by"`
				} `json:"document"`
			} `json:"file"`
		} `json:"edgesensor"`
	}
	got := map[string]ev{}
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var e ev
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		got[e.File.Name] = e
	}
	if len(got) != 3 {
		t.Fatalf("%d events: %s", len(got), buf.Bytes())
	}
	exe := got["hello-x64.exe"]
	if pe := exe.File.PE; pe == nil || pe.Company != "Société Edgesensor Test" || pe.Product != "Edgesensor Hello" ||
		pe.OriginalFileName != "hello.exe" || pe.FileVersion != "1.2.3.4" {
		t.Errorf("file.pe: %+v", exe.File.PE)
	}
	if exe.URL.Original != "http://10.0.0.2:8080/dl/hello-x64.exe" {
		t.Errorf("URL without Host: %q", exe.URL.Original)
	}
	if d := got["lo-memo.docx"].Edgesensor.File.Document; d == nil || d.Creator != "Ana Müller" && d.Author != "Ana Müller" || d.LastAuthor != "Bob Editor" {
		t.Errorf("docx document: %+v", d)
	}
	if d := got["lo-memo.pdf"].Edgesensor.File.Document; d == nil || d.Author != "Ana Müller" || d.Producer != "LibreOffice 7.4" || d.Creator != "Writer" {
		t.Errorf("pdf document: %+v", d)
	}
	if u := got["lo-memo.pdf"].URL.Original; u != "http://files.example.test/dl/lo-memo.pdf" {
		t.Errorf("URL: %q", u)
	}
}

// A candidate larger than the flow's byte budget asks the data plane to
// CAPTURE it whole: the limit covers the file.
func TestCandidateRaisesTheBudget(t *testing.T) {
	rec := &recorder{}
	p, buf, _ := newPipeline(t, func(c *testConfig) { c.Capture.StreamBudget = 256 << 10 }, rec)
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	if len(rec.captures) != 1 || rec.captures[0] < uint64(len(c.ToClient)) {
		t.Errorf("captures %v for a %d-byte response", rec.captures, len(c.ToClient))
	}
	if evs := parse(t, buf.Bytes()); len(evs) != 1 || !evs[0].Edgesensor.File.Complete {
		t.Errorf("events %+v", evs)
	}
	// Within the budget, no verdict is needed.
	rec2 := &recorder{}
	p2, _, _ := newPipeline(t, nil, rec2)
	sh2 := p2.NewShard(0)
	feed(sh2, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh2.Close()
	if len(rec2.captures) != 0 {
		t.Errorf("captures %v within the default budget", rec2.captures)
	}
}
