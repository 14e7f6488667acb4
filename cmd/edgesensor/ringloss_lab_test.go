package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// TestPrivilegedLabRingLoss checks the loss accounting under a real
// overflow. The sensor runs on the lab router's client-side interface
// with the smallest rings the config allows (one page: 4 KiB), the busy
// capture (internal/lab/corpusmix: the corpus copied and interleaved) is
// played into that interface with `tcpreplay --topspeed` from the
// client namespace, and what the sensor says it lost is held against the
// truth.
//
// The truth is `replay --stats` of the same capture with the same config:
// the same program through BPF_PROG_TEST_RUN, its rings drained after
// every packet (no loss), and the same analysis. It is the truth of the
// live run only if the interface received every packet of the capture:
// the program's packet counter must have grown by exactly the capture's
// packets plus the lab's own frames, counted by tcpdump on the interface
// (the lab's come from the client interface's MAC address; tcpreplay's
// keep the capture's).
//
// Ring r (handshakes: tls+quic; streams; fragments), with E_r and D_r the
// interface's edgesensor_xdp_counter_total{counter="<class>_events"} and
// {counter="<class>_drops"} over the run, T_r the records the replay
// emitted into r, and U_r the records userspace took from r:
//
//	reported  D_r / (E_r + D_r)    (the ratio of the shipped EdgesensorLossRatio alert)
//	true      (T_r - U_r) / T_r    (the share of what the capture gives r that userspace missed)
//
// Userspace counts only all rings together (edgesensor_dispatch_events_total);
// when that equals ΣE_r, U_r = E_r for each ring (a ring cannot hand
// over more records than were put into it), and the test checks it does.
//
// Analysis class c (tls, quic, file), with N_c and I_c the interface's
// edgesensor_analysis_flow_events_total and edgesensor_analysis_incomplete_total:
//
//	reported        I_c / N_c  (the ratio of the shipped EdgesensorAnalysisLoss alert)
//	true, written   the written events that are not an intact copy of a
//	                replay event (same flow; same fingerprints, or the same
//	                file hash, complete), over the events written: the
//	                quantity the reported ratio stands for
//	true, coverage  the replay's events with no intact copy among the
//	                written ones, over the replay's events: what the
//	                analysis actually lost
//
// The program's flow table is read too: each flow's count of failed
// reservations says which handshakes lost records, whatever their events
// say.
//
// Flow class c (tls, quic, stream), the loss ratio the sensor claims
// (the EdgesensorFlowsLost alert):
//
//	reported  flows_lost_c / flows_c   (flows that lost a record with payload the analysis reads)
//	true      the capture's flows of the class (by community_id) whose
//	          replay events are not all written intact live
//
// The test fails unless the rings dropped some records (the handshakes
// ring, with a few hundred records, drops none in some runs: the reader
// kept up; its flow ratio is then judged at 0 loss), the sensor's own
// counts agree with each other (records emitted
// and received; drops and the flows' lost counts; metrics and the events'
// flags), and each flow ratio is within ringLossTolerance of its truth.
// The ring and analysis ratios are logged beside their truths, not
// judged: the ring ratio counts failed hand-overs, whose number depends
// on the verdicts that loss changes; the analysis ratio sees only the
// events written. For streams the flow ratio is an upper bound: with a
// ring big enough that some stream flows lose nothing
// (EDGESENSOR_RINGLOSS_STREAM_RING=4194304) it read 4 to 8 points above
// the truth (flows that lost payload the analysis did not need still
// count). The capture has no IP fragments: the fragments ring is not
// judged.
//
// The default size, 24 copies of the corpus (200,640 packets; 336
// handshake and 194,424 stream records), is the smallest at which the
// handshakes ring overflowed in every run with the default config (at 8
// copies, 112 handshake records, it stayed whole in some); the test
// takes 32 to 46 s here, the lab included. EDGESENSOR_RINGLOSS_COPIES
// sets the size, EDGESENSOR_RINGLOSS_RING the rings' (EDGESENSOR_RINGLOSS_STREAM_RING
// the streams ring's alone), EDGESENSOR_RINGLOSS_WORKERS and
// EDGESENSOR_RINGLOSS_QUEUE_DEPTH sensor.workers and sensor.queue_depth,
// EDGESENSOR_RINGLOSS_CPU a CPU the sensor and tcpreplay share.
// scripts/ringloss.sh (make ringloss) runs it at full size.
const ringLossTolerance = 0.01

func TestPrivilegedLabRingLoss(t *testing.T) {
	copies := envInt("EDGESENSOR_RINGLOSS_COPIES", 24)
	ring := envInt("EDGESENSOR_RINGLOSS_RING", os.Getpagesize()) // capture.*_ring's minimum
	l := lab.Up(t, "esrl", 93)
	started := time.Now()
	bin := buildBinary(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "busy.pcap")
	if out, err := exec.Command("go", "run", "../../internal/lab/corpusmix", "-corpus", "../../testdata/corpus",
		"-copies", strconv.Itoa(copies), "-o", pcap).CombinedOutput(); err != nil {
		t.Fatalf("corpusmix: %v\n%s", err, out)
	}
	capPackets := countPcap(t, pcap)

	liveConf, replayConf := filepath.Join(dir, "live.toml"), filepath.Join(dir, "replay.toml")
	writeRingLossConfig(t, liveConf, ring, filepath.Join(dir, "spool-live"))
	writeRingLossConfig(t, replayConf, ring, filepath.Join(dir, "spool-replay"))
	if out, err := exec.Command(bin, "check-config", "-c", liveConf).CombinedOutput(); err != nil {
		t.Fatalf("check-config refuses %d-byte rings: %v\n%s", ring, err, out)
	}

	// The truth: the same program and analysis, without loss.
	truth := replayTruth(t, bin, replayConf, pcap, dir)
	if truth.Packets != capPackets || truth.RingbufDrops != 0 {
		t.Fatalf("replay: %d packets of %d, %d ring drops", truth.Packets, capPackets, truth.RingbufDrops)
	}

	ifc := l.RouterIfaces()[0] // the client side: tcpreplay's frames arrive here
	pin := l.PinPath()
	t.Cleanup(func() { l.Exec(l.Router(), bin, "detach", "--pin-path", pin) })
	// With EDGESENSOR_RINGLOSS_CPU the sensor and tcpreplay share that CPU
	// (the program runs in the softirq of the CPU tcpreplay sends from).
	var pinCPU []string
	if c := os.Getenv("EDGESENSOR_RINGLOSS_CPU"); c != "" {
		pinCPU = []string{"taskset", "-c", c}
	}
	sensor := startOps(t, l, l.Router(), append(pinCPU, bin, "run", "--iface", ifc, "--pin-path", pin, "-c", liveConf)...)
	sensor.waitLog(t, `"running`, 30*time.Second)
	time.Sleep(time.Second) // bpf/README.md, "Open observation"

	// The lab's own frames (neighbour discovery, ARP) reach the program
	// too: tcpdump counts them.
	cmac := linkMAC(t, l, l.Client(), l.Env["IF_CLIENT"])
	chatterPath := filepath.Join(dir, "lab-frames.pcap")
	chatter := startOps(t, l, l.Router(), "tcpdump", "-i", ifc, "-n", "-U", "-w", chatterPath, "ether", "src", cmac)
	chatter.waitLog(t, "listening on", 10*time.Second)
	before := scrape(t, l)
	for _, r := range []string{"handshakes", "streams", "fragments"} {
		want := ring
		if r == "streams" {
			want = envInt("EDGESENSOR_RINGLOSS_STREAM_RING", ring)
		}
		if v, ok := metricValue(before, "edgesensor_ring_size_bytes", map[string]string{"ring": r}); !ok || int(v) != want {
			t.Fatalf("ring %s is %v bytes (exported %v), configured %d", r, v, ok, want)
		}
	}
	vethBefore := linkStats(t, l, l.Router(), ifc)
	peerBefore := linkStats(t, l, l.Client(), l.Env["IF_CLIENT"])

	playStart := time.Now()
	out := l.MustExec(l.Client(), append(pinCPU, "tcpreplay", "--topspeed", "-i", l.Env["IF_CLIENT"], pcap)...)
	played := time.Since(playStart)
	sent := tcpreplaySent(t, out)
	t.Logf("tcpreplay --topspeed: %d packets in %v\n%s", sent, played.Round(time.Millisecond), strings.TrimSpace(out))

	// Until the rings are empty, the idle flows written, and nothing
	// moves any more.
	after := waitSettled(t, l, ifc)
	atScrape := readLossEvents(t, sensor.outPath)
	vethAfter := linkStats(t, l, l.Router(), ifc)
	peerAfter := linkStats(t, l, l.Client(), l.Env["IF_CLIENT"])
	chatter.stop(t, syscall.SIGINT)
	if !regexp.MustCompile(`(?m)^0 packets dropped by kernel`).MatchString(chatter.stderr()) {
		t.Fatalf("tcpdump lost packets:\n%s", chatter.stderr())
	}
	labFrames := countPcap(t, chatterPath)
	delta := func(counter string) uint64 {
		return uint64(xdpCounter(after, ifc, counter) - xdpCounter(before, ifc, counter))
	}
	seen := delta("packets")
	t.Logf("packets: capture %d, tcpreplay sent %d, XDP saw %d (the lab's own frames %d); %s rx_dropped +%d, %s tx_dropped +%d",
		capPackets, sent, seen, labFrames, ifc, vethAfter.rxDropped-vethBefore.rxDropped,
		l.Env["IF_CLIENT"], peerAfter.txDropped-peerBefore.txDropped)
	// tcpdump starts before the first scrape: a lab frame between the two
	// is in its count and not in the program's delta.
	if sent != capPackets || seen < capPackets || seen > capPackets+labFrames {
		t.Fatalf("the interface did not receive the capture whole (capture %d, sent %d, seen by XDP %d, %d of them the lab's): the replay is not the truth",
			capPackets, sent, seen, labFrames)
	}

	// Every data-plane counter that moved otherwise than in the replay:
	// the live run's verdicts differ where userspace missed records.
	for _, m := range after["edgesensor_xdp_counter_total"].GetMetric() {
		lb := labels(m)
		if lb["iface"] != ifc {
			continue
		}
		name := lb["counter"]
		if live, want := delta(name), truth.Counters[name]; live != want {
			t.Logf("counter %-24s replay %9d  live %9d  (%+d)", name, want, live, int64(live)-int64(want))
		}
	}

	// Rings.
	type ringFig struct {
		name            string
		classes         []string
		truth           uint64 // T: what the data plane emits for the capture
		events, dropped uint64 // E, D: the program's counts, live
	}
	figs := []*ringFig{
		{name: "handshakes", classes: []string{"tls", "quic"}, truth: truth.Emitted["handshakes"].Events},
		{name: "streams", classes: []string{"stream"}, truth: truth.Emitted["streams"].Events},
		{name: "fragments", classes: []string{"frag"}, truth: truth.Emitted["fragments"].Events},
	}
	var kernelEvents, kernelDrops, truthTotal uint64
	for _, f := range figs {
		for _, c := range f.classes {
			f.events += delta(c + "_events")
			f.dropped += delta(c + "_drops")
		}
		kernelEvents += f.events
		kernelDrops += f.dropped
		truthTotal += f.truth
	}
	dispatched := uint64(metricSum(after, "edgesensor_dispatch_events_total", nil) - metricSum(before, "edgesensor_dispatch_events_total", nil))
	bad := metricSum(after, "edgesensor_dispatch_bad_records_total", nil)
	t.Logf("records: replay %d; live: emitted %d + dropped %d = %d attempted, userspace received %d, bad %v",
		truthTotal, kernelEvents, kernelDrops, kernelEvents+kernelDrops, dispatched, bad)
	if dispatched != kernelEvents || bad != 0 {
		t.Errorf("userspace received %d records (%v bad), the program counts %d emitted", dispatched, bad, kernelEvents)
	}
	if kernelDrops == 0 {
		t.Errorf("no ring dropped a record with %d-byte rings at topspeed: the test shows nothing", ring)
	}
	// Each comparison is a subtest of its own, run at the end.
	type comparison struct {
		name             string
		reported, actual float64
	}
	var checks, judged []comparison
	check := func(name string, reported, actual float64) {
		checks = append(checks, comparison{name, reported, actual})
	}
	for _, f := range figs {
		t.Logf("ring %-10s replay %6d; live emitted %6d, dropped %6d, attempted %6d (%+d on the replay)",
			f.name, f.truth, f.events, f.dropped, f.events+f.dropped, int64(f.events+f.dropped)-int64(f.truth))
		if f.truth == 0 {
			t.Logf("ring %s: the capture gives it nothing: not judged", f.name)
			continue
		}
		if f.dropped == 0 {
			t.Logf("ring %s: no drops this run (emitted %d of %d): the reader kept up", f.name, f.events, f.truth)
		}
		if f.events > f.truth {
			t.Logf("ring %s: userspace received more records than the replay emits (the live verdicts came later or not at all): its true loss counts as 0", f.name)
		}
		check("ring/"+f.name, ratio(f.dropped, f.events+f.dropped), ratio(f.truth-min(f.events, f.truth), f.truth))
	}
	check("ring/all", ratio(kernelDrops, kernelEvents+kernelDrops), ratio(truthTotal-min(dispatched, truthTotal), truthTotal))

	// The flows the program marked lost (a reservation failed for them),
	// read from its flow table before the sensor stops.
	kflows := kernelFlows(t, pin)

	// Analysis: the figures at the settled scrape, the events written.
	if err := sensor.stop(t, syscall.SIGINT); err != nil {
		t.Errorf("sensor exited: %v\n%s", err, sensor.stderr())
	}
	live := readLossEvents(t, sensor.outPath)
	for _, c := range []string{"tls", "quic", "file"} {
		lb := map[string]string{"iface": ifc, "class": c}
		n, _ := metricValue(after, "edgesensor_analysis_flow_events_total", lb)
		inc, _ := metricValue(after, "edgesensor_analysis_incomplete_total", lb)
		lost, _ := metricValue(after, "edgesensor_analysis_loss_total", map[string]string{"iface": ifc, "class": c, "cause": "lost_events"})
		want := truth.events.byKey[c]
		written := live.list[c]
		if len(want) == 0 && len(written) == 0 && n == 0 {
			continue
		}
		// Written events that are not an intact copy of a replay event.
		damaged, flagged, uncomplete := 0, 0, 0
		late := len(written) - len(atScrape.list[c])
		for _, ev := range written {
			w, ok := want[ev.key()]
			if !ok || !w[0].intact(ev) {
				damaged++
				if !ev.incomplete() {
					// Not what the replay says, and not flagged: show both.
					var r any = "no replay event of this flow"
					if ok {
						r = w[0]
					}
					t.Logf("class %s: an event unlike the replay's and not flagged:\n live   %+v\n replay %+v", c, ev, r)
				}
			}
			if ev.incomplete() {
				flagged++
			}
			if c == "file" && !ev.Edgesensor.File.Complete || c != "file" && !ev.Edgesensor.TLS.Complete {
				uncomplete++
			}
		}
		// Replay events with no intact copy written.
		missed := 0
		for k, w := range want {
			ok := false
			for _, ev := range live.byKey[c][k] {
				ok = ok || w[0].intact(ev)
			}
			if !ok {
				missed++
			}
		}
		t.Logf("class %-4s replay %3d; live written %3d (analysis_flow_events_total %v), flagged %d (analysis_incomplete_total %v, lost_events %v), not complete %d; damaged %d of the written, %d of the replay's missing or damaged",
			c, len(want), len(written), n, flagged, inc, lost, uncomplete, damaged, missed)
		// The metrics say what the events say (daemon/loss.go counts each
		// event written), and every event was written before the scrape.
		if int(n) != len(written) || int(inc) != flagged {
			t.Errorf("class %s: %d events written, %d flagged; the metrics say %v and %v (%d written after the last scrape, at stop)",
				c, len(written), flagged, n, inc, late)
		}
		if c == "file" && uncomplete != flagged {
			t.Errorf("class file: %d events not complete, %d counted incomplete (complete=false without a cut reason is not counted)", uncomplete, flagged)
		}
		check("analysis/"+c+"/written", ratio(uint64(inc), uint64(n)), ratio(uint64(damaged), uint64(len(written))))
		check("analysis/"+c+"/coverage", ratio(uint64(inc), uint64(n)), ratio(uint64(missed), uint64(len(want))))
	}
	// The handshake flows the program knows lost records, against what
	// their events say.
	var hsLost, hsLostRecords, flagged, unflagged, none, streamLostRecords uint64
	for k, f := range kflows {
		if f.Kind&(1<<2) != 0 { // FLOW_STREAM
			streamLostRecords += uint64(f.Lost)
		}
		if f.Kind&(1<<0|1<<1) == 0 || f.Lost == 0 { // FLOW_TLS, FLOW_QUIC
			continue
		}
		hsLost++
		hsLostRecords += uint64(f.Lost)
		evs := live.byFlow[k]
		switch {
		case len(evs) == 0:
			none++
		case evs[len(evs)-1].incomplete():
			flagged++
		default:
			unflagged++
		}
	}
	t.Logf("kernel flow table: %d of %d handshake flows lost records (%d records, tls+quic drops %d); their events: %d flagged, %d written unflagged, %d never written; stream flows lost %d records (stream drops %d: the rest hit packets sent without flow state)",
		hsLost, countKind(kflows, 1<<0|1<<1), hsLostRecords, figs[0].dropped, flagged, unflagged, none, streamLostRecords, figs[1].dropped)
	// Every handshake record dropped was charged to its flow (the table,
	// far from full, evicted none), and no stream drop to a flow twice.
	if hsLostRecords != figs[0].dropped || streamLostRecords > figs[1].dropped {
		t.Errorf("the flows' lost counts (handshake %d, stream %d) do not add up to the ring drops (%d, %d)",
			hsLostRecords, streamLostRecords, figs[0].dropped, figs[1].dropped)
	}

	// Flows: the share of a class's flows that ring drops hurt, as the data
	// plane counts them (flows_lost_<class> / flows_<class>: the
	// EdgesensorFlowsLost alert), against the share of the capture's flows
	// of that class (by community_id) whose replay events are not all
	// written intact. This is the loss ratio the sensor claims; the ring
	// and analysis figures above are logged for what they are (the ring
	// ratio counts failed hand-overs, whose number depends on the verdicts
	// that loss itself changes; the analysis ratio sees only events
	// written), and judged only here.
	for _, fc := range []struct{ name, counter, class string }{{"tls", "tls", "tls"}, {"quic", "quic", "quic"}, {"stream", "stream", "file"}} {
		flowsN, lostN := delta("flows_"+fc.counter), delta("flows_lost_"+fc.counter)
		whole := map[string]bool{} // community_id → every replay event written intact
		for key, w := range truth.events.byKey[fc.class] {
			cid, _, _ := strings.Cut(key, " ")
			ok := false
			for _, ev := range live.byKey[fc.class][key] {
				ok = ok || w[0].intact(ev)
			}
			if prev, seen := whole[cid]; seen {
				ok = ok && prev
			}
			whole[cid] = ok
		}
		hurt := 0
		for _, ok := range whole {
			if !ok {
				hurt++
			}
		}
		if flowsN == 0 && len(whole) == 0 {
			continue
		}
		t.Logf("flows %-6s the data plane followed %d, %d hurt by ring drops; the replay's %d flows with events, %d not written whole live",
			fc.name, flowsN, lostN, len(whole), hurt)
		judged = append(judged, comparison{"flows/" + fc.name, ratio(lostN, flowsN), ratio(uint64(hurt), uint64(len(whole)))})
	}

	for _, c := range append(checks, judged...) {
		d := math.Abs(c.reported - c.actual)
		t.Logf("%-26s reported %.4f  true %.4f  |diff| %.4f", c.name, c.reported, c.actual, d)
	}
	for _, c := range judged {
		t.Run(c.name, func(t *testing.T) {
			if d := math.Abs(c.reported - c.actual); d > ringLossTolerance {
				t.Errorf("reported loss %.4f, true loss %.4f: off by %.4f (> %.2f)", c.reported, c.actual, d, ringLossTolerance)
			}
		})
	}
	t.Logf("run time %v (tcpreplay %v, %d packets)", time.Since(started).Round(time.Second), played.Round(time.Millisecond), capPackets)
}
