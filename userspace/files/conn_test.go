package files

import (
	"bytes"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

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
