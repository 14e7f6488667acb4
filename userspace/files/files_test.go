package files

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

const corpus = "../../testdata/corpus/"

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
	// Pictures are read whole for polyglots unless image_scan_limit is 0.
	p, _, _ := newPipeline(t, func(c *testConfig) { c.Files.ImageScanLimit = 0 }, rec)
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
	// The metrics' view of the memory held: the shard's, as of its Tick.
	if m := p.Memory(); m <= 0 || m != s.budget.Used() {
		t.Fatalf("Memory() = %d with a flow open, the shard holds %d", m, s.budget.Used())
	}
	sh.Tick(t0.Add(time.Minute))
	drain(sh)
	if m := p.Memory(); m != s.budget.Used() {
		t.Fatalf("Memory() = %d after expiry, the shard holds %d", m, s.budget.Used())
	}
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
