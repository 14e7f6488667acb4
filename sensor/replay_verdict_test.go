package sensor

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// verdictPipeline writes verdicts from its shards, as the analysis does:
// onEvent for every event, onTick for every tick. It locks, so that a
// replay running shards side by side would fail the test's counts, not
// race.
type verdictPipeline struct {
	mu      sync.Mutex
	onEvent func(ev *datapath.Event)
	onTick  func(now time.Time)
}

func (p *verdictPipeline) NewShard(int) datapath.Shard { return verdictShard{p} }

type verdictShard struct{ p *verdictPipeline }

func (s verdictShard) Handle(ev *datapath.Event) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.onEvent(ev)
}

func (s verdictShard) Tick(now time.Time) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.onTick != nil {
		s.p.onTick(now)
	}
}

func (verdictShard) Close() {}

// Verdicts written while reading a flow's events stop its emission at
// once, mid-flow, however the flows interleave: each verdict is in the
// data plane before the flow's next packet runs. Three kinds, each with
// flows that get no verdict beside them to show what would be emitted
// without it:
//   - HTTP downloads sent in bursts of three segments, round-robin over
//     48 flows: IGNORE after the k-th body segment (k from 1 to 7) leaves
//     exactly k segments emitted, where a verdict late by one packet of
//     the flow would leave k+1;
//   - TLS handshakes: END on the ClientHello leaves the ServerHello and
//     the certificate in the kernel;
//   - a verdict written on a tick (capture time, after a pause of two
//     seconds) applies to the packets after the pause.
func TestPrivilegedReplayVerdictsStopFlowsMidway(t *testing.T) {
	testutil.RequireBPF(t)
	const (
		httpFlows = 48
		bursts    = 8
		perBurst  = 3
		tlsFlows  = 16
		tickFlows = 8
		seg       = 1000
	)
	path := filepath.Join(t.TempDir(), "verdicts.pcap")
	out := newPcapOut(t, path)
	ts := time.Unix(1700000000, 0)
	start := ts
	write := func(p testutil.Pkt) {
		ts = ts.Add(10 * time.Microsecond)
		out.write(p.Frame(), ts)
	}
	httpClient := func(i int) testutil.Pkt {
		return testutil.Pkt{Src: fmt.Sprintf("10.1.0.%d", i+1), Dst: "10.2.0.1", Sport: uint16(40000 + i), Dport: 80}
	}
	tlsClient := func(i int) testutil.Pkt {
		return testutil.Pkt{Src: fmt.Sprintf("10.3.0.%d", i+1), Dst: "10.2.0.2", Sport: uint16(41000 + i), Dport: 443}
	}
	tickClient := func(i int) testutil.Pkt {
		return testutil.Pkt{Src: fmt.Sprintf("10.4.0.%d", i+1), Dst: "10.2.0.3", Sport: uint16(42000 + i), Dport: 80}
	}
	// download opens flow c and returns a func sending its next n body
	// segments.
	download := func(c testutil.Pkt) func(n int) {
		s := c.Reply(0, 0, "", nil)
		write(c.With(100, "S", nil))
		write(s.With(5000, "SA", nil))
		write(c.With(101, "PA", []byte("GET /f HTTP/1.1\r\nHost: lab\r\n\r\n")))
		sseq := uint32(5001)
		return func(n int) {
			for range n {
				write(s.With(sseq, "A", make([]byte, seg)))
				sseq += seg
			}
		}
	}
	var sends []func(int)
	for i := range httpFlows {
		sends = append(sends, download(httpClient(i)))
	}
	for range bursts {
		for i := range httpFlows {
			sends[i](perBurst)
		}
	}
	for i := range tlsFlows {
		write(tlsClient(i).With(1, "PA", testutil.ClientHello(300)))
	}
	for i := range tlsFlows {
		s := tlsClient(i).Reply(1, 0, "", nil)
		hello := testutil.ServerHello(200)
		write(s.With(1, "PA", hello))
		write(s.With(1+uint32(len(hello)), "PA", testutil.TLSRecord(22, testutil.Handshake(11, 600))))
	}
	var tickSends []func(int)
	for i := range tickFlows {
		tickSends = append(tickSends, download(tickClient(i)))
		tickSends[i](2)
	}
	ts = ts.Add(2 * time.Second)
	pause := ts
	for i := range tickFlows {
		tickSends[i](2)
	}

	// IGNORE after k body segments for two HTTP flows in three; END on
	// the ClientHello for odd TLS flows; IGNORE for every tick flow on
	// the first tick after the pause.
	limit := func(i int) int {
		if i%3 == 0 {
			return bursts * perBurst // no verdict
		}
		return 1 + i%7
	}
	c := config.Default()
	body := map[datapath.Flow]int{}
	tlsEvents := map[datapath.Flow]int{}
	var beforePause, afterPause int
	var errs []error
	p := &verdictPipeline{}
	r, err := NewReplayer(&c, p)
	if err != nil {
		t.Fatal(err)
	}
	vw, hw := r.Verdicts(), r.HSVerdicts()
	index := map[datapath.Flow]int{}
	for i := range httpFlows {
		cl, sv := httpClient(i).Endpoints()
		index[datapath.Flow{Client: cl, Server: sv}] = i
	}
	tickFlow := map[datapath.Flow]bool{}
	for i := range tickFlows {
		cl, sv := tickClient(i).Endpoints()
		tickFlow[datapath.Flow{Client: cl, Server: sv}] = true
	}
	p.onEvent = func(ev *datapath.Event) {
		fl := ev.Flow()
		switch {
		case ev.Class == datapath.ClassTLS:
			tlsEvents[fl]++
			if ev.FromClient() && fl.Client.Port()%2 == 1 {
				errs = append(errs, hw.EndHandshake(fl, datapath.ProtoTCP, false))
			}
		case ev.Class != datapath.ClassStream || ev.FromClient() || len(ev.Payload) == 0:
		case tickFlow[fl]:
			if ev.Time.Before(pause) {
				beforePause++
			} else {
				afterPause++
			}
		default:
			body[fl]++
			if i := index[fl]; i%3 != 0 && body[fl] == limit(i) {
				errs = append(errs, vw.Ignore(fl))
			}
		}
	}
	ticked := false
	p.onTick = func(now time.Time) {
		if now.Sub(start) > time.Second && !ticked {
			ticked = true
			for fl := range tickFlow {
				errs = append(errs, vw.Ignore(fl))
			}
		}
	}
	if err := r.File(path); err != nil {
		t.Fatal(err)
	}
	st, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for fl, i := range index {
		if body[fl] != limit(i) {
			t.Errorf("HTTP flow %d: %d body segments emitted, want %d", i, body[fl], limit(i))
		}
	}
	for i := range tlsFlows {
		cl, sv := tlsClient(i).Endpoints()
		want := 3 // ClientHello, ServerHello, certificate
		if cl.Port()%2 == 1 {
			want = 1
		}
		if n := tlsEvents[datapath.Flow{Client: cl, Server: sv}]; n != want {
			t.Errorf("TLS flow %d: %d events, want %d", i, n, want)
		}
	}
	if !ticked || beforePause != 2*tickFlows || afterPause != 0 {
		t.Errorf("ticked %v; body segments emitted before the pause %d (want %d), after it %d (want 0)",
			ticked, beforePause, 2*tickFlows, afterPause)
	}
	if st.RingbufDrops != 0 || st.BadRecords != 0 {
		t.Errorf("stats %+v", st)
	}
}
