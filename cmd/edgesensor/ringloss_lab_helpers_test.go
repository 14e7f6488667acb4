// Helpers of TestPrivilegedLabRingLoss: its config, the replay's truth,
// the events and what they say was lost, the program's flow table, the
// metrics, and the link's and tcpreplay's counters.

package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgesensor/edgesensor/bpf"
	"github.com/edgesensor/edgesensor/internal/craft"
	"github.com/edgesensor/edgesensor/internal/lab"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func ratio(num, den uint64) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// writeRingLossConfig writes the config of both runs: rings of ring
// bytes, and idle times short enough that every handshake and file flow
// is written while the sensor runs (a flow cut by a lost FIN or RST
// would otherwise be written only at stop, after the last scrape).
func writeRingLossConfig(t *testing.T, path string, ring int, spool string) {
	t.Helper()
	var tune strings.Builder
	for _, k := range []string{"workers", "queue_depth"} {
		if v := envInt("EDGESENSOR_RINGLOSS_"+strings.ToUpper(k), 0); v > 0 {
			fmt.Fprintf(&tune, "%s = %d\n", k, v)
		}
	}
	conf := fmt.Sprintf(`[sensor]
log_level = "info"
%s
[capture]
handshake_ring = %d
stream_ring = %d
fragment_ring = %d
handshake_idle = "2s"

[files]
spool_dir = %q
flow_idle = "2s"

[metrics]
listen = %q

[output]
events = "-"
`, tune.String(), ring, envInt("EDGESENSOR_RINGLOSS_STREAM_RING", ring), ring, spool, opsMetricsAddr)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// countPcap counts the packets of a capture file.
func countPcap(t *testing.T, path string) uint64 {
	t.Helper()
	out, err := exec.Command("capinfos", "-M", "-c", "-T", "-r", path).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos: %v\n%s", err, out)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\t")
	n, err := strconv.ParseUint(strings.TrimSpace(f[len(f)-1]), 10, 64)
	if err != nil {
		t.Fatalf("capinfos: %q", out)
	}
	return n
}

// replayStats is what the test reads of `replay --stats`.
type replayStats struct {
	Packets      uint64 `json:"packets"`
	RingbufDrops uint64 `json:"ringbuf_drops"`
	Emitted      map[string]struct {
		Events uint64 `json:"events"`
	} `json:"emitted"`
	Counters map[string]uint64 `json:"counters"`
	events   lossEvents
}

func replayTruth(t *testing.T, bin, conf, pcap, dir string) replayStats {
	t.Helper()
	outPath := filepath.Join(dir, "replay.ndjson")
	stdout, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd := exec.Command(bin, "replay", "--stats", "--progress", "never", "-c", conf, pcap)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	var st replayStats
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil {
		t.Fatalf("replay --stats: %v\n%s", err, stderr.String())
	}
	st.events = readLossEvents(t, outPath)
	for c, evs := range st.events.list {
		for _, ev := range evs {
			if ev.incomplete() || (c == "file" && !ev.Edgesensor.File.Complete) || (c != "file" && !ev.Edgesensor.TLS.Complete) {
				t.Fatalf("the replay has an incomplete %s event: not a truth to compare with", c)
			}
		}
		if len(st.events.byKey[c]) != len(evs) {
			t.Fatalf("the replay's %s events do not have a key each (%d keys, %d events)", c, len(st.events.byKey[c]), len(evs))
		}
	}
	t.Logf("replay (the truth): %d packets; emitted handshakes %d, streams %d, fragments %d; events tls %d, quic %d, file %d",
		st.Packets, st.Emitted["handshakes"].Events, st.Emitted["streams"].Events, st.Emitted["fragments"].Events,
		len(st.events.list["tls"]), len(st.events.list["quic"]), len(st.events.list["file"]))
	return st
}

// lossEvent is what the test compares of a TLS or file event.
type lossEvent struct {
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Source      endpoint `json:"source"`
	Destination endpoint `json:"destination"`
	Network     struct {
		Protocol    string `json:"protocol"`
		CommunityID string `json:"community_id"`
	} `json:"network"`
	TLS  craft.TLS `json:"tls"`
	File struct {
		Hash *struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
	} `json:"file"`
	Edgesensor struct {
		TLS struct {
			Complete   bool     `json:"complete"`
			Missing    []string `json:"missing"`
			End        string   `json:"end"`
			Packets    int      `json:"packets"`
			LostEvents bool     `json:"lost_events"`
			Gaps       bool     `json:"gaps"`
		} `json:"tls"`
		File struct {
			Complete bool   `json:"complete"`
			Cut      string `json:"cut"`
		} `json:"file"`
	} `json:"edgesensor"`
}

func (e *lossEvent) class() string {
	switch e.Event.Dataset {
	case "edgesensor.tls":
		if e.Network.Protocol == "quic" {
			return "quic"
		}
		return "tls"
	case "edgesensor.file":
		return "file"
	}
	return ""
}

// incomplete is daemon/loss.go's rule for analysis_incomplete_total.
func (e *lossEvent) incomplete() bool {
	if e.class() == "file" {
		return !e.Edgesensor.File.Complete && e.Edgesensor.File.Cut != ""
	}
	x := e.Edgesensor.TLS
	noCH := false
	for _, m := range x.Missing {
		noCH = noCH || m == "client_hello"
	}
	return x.LostEvents || x.Gaps || noCH
}

// key identifies an event across runs: its flow, and for a file its hash.
func (e *lossEvent) key() string {
	if e.class() == "file" {
		h := ""
		if e.File.Hash != nil {
			h = e.File.Hash.SHA256
		}
		return e.Network.CommunityID + " " + h
	}
	return e.Network.CommunityID
}

// intact says whether the live event got is all this replay event is.
func (e *lossEvent) intact(got lossEvent) bool {
	if got.key() != e.key() || got.incomplete() {
		return false
	}
	if e.class() == "file" {
		return got.Edgesensor.File.Complete
	}
	if e.TLS.Client != got.TLS.Client || (e.TLS.Server == nil) != (got.TLS.Server == nil) {
		return false
	}
	return e.TLS.Server == nil || *e.TLS.Server == *got.TLS.Server
}

type lossEvents struct {
	list   map[string][]lossEvent            // class → events in order
	byKey  map[string]map[string][]lossEvent // class → key → events
	byFlow map[string][]lossEvent            // TLS and QUIC events by flowName
}

func readLossEvents(t *testing.T, path string) lossEvents {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	le := lossEvents{list: map[string][]lossEvent{}, byKey: map[string]map[string][]lossEvent{}, byFlow: map[string][]lossEvent{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev lossEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		c := ev.class()
		if c == "" {
			continue
		}
		le.list[c] = append(le.list[c], ev)
		if le.byKey[c] == nil {
			le.byKey[c] = map[string][]lossEvent{}
		}
		le.byKey[c][ev.key()] = append(le.byKey[c][ev.key()], ev)
		if c != "file" {
			a, _ := netip.ParseAddr(ev.Source.IP)
			b, _ := netip.ParseAddr(ev.Destination.IP)
			n := flowName(netip.AddrPortFrom(a, uint16(ev.Source.Port)), netip.AddrPortFrom(b, uint16(ev.Destination.Port)))
			le.byFlow[n] = append(le.byFlow[n], ev)
		}
	}
	return le
}

// flowName names a flow by its endpoints, in either direction.
func flowName(a, b netip.AddrPort) string {
	x, y := a.String(), b.String()
	if x > y {
		x, y = y, x
	}
	return x + " " + y
}

// kernelFlows reads the program's flow table (pinned under pin) by
// flowName.
func kernelFlows(t *testing.T, pin string) map[string]bpf.Flow {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(pin, "flows"), nil)
	if err != nil {
		t.Fatalf("opening the flow table: %v", err)
	}
	defer m.Close()
	addr := func(w [4]uint32) netip.Addr {
		var b [16]byte
		for i, v := range w {
			binary.NativeEndian.PutUint32(b[4*i:], v) // network order in memory
		}
		return netip.AddrFrom16(b).Unmap()
	}
	out := map[string]bpf.Flow{}
	var k bpf.FlowKey
	var v bpf.Flow
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[flowName(netip.AddrPortFrom(addr(k.AddrA), k.PortA), netip.AddrPortFrom(addr(k.AddrB), k.PortB))] = v
	}
	if err := it.Err(); err != nil {
		t.Fatalf("reading the flow table: %v", err)
	}
	return out
}

func countKind(flows map[string]bpf.Flow, kind uint8) int {
	n := 0
	for _, f := range flows {
		if f.Kind&kind != 0 {
			n++
		}
	}
	return n
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// xdpCounter is a data-plane counter of an interface.
func xdpCounter(fams map[string]*dto.MetricFamily, iface, counter string) float64 {
	v, _ := metricValue(fams, "edgesensor_xdp_counter_total", map[string]string{"iface": iface, "counter": counter})
	return v
}

// metricSum sums the samples of a family that have these labels.
func metricSum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
next:
	for _, m := range fams[name].GetMetric() {
		have := labels(m)
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return sum
}

// waitSettled scrapes until the rings are empty and neither the data
// plane nor the analysis has moved for longer than the idle times of
// writeRingLossConfig and a tick, and returns that scrape.
func waitSettled(t *testing.T, l *lab.Lab, iface string) map[string]*dto.MetricFamily {
	t.Helper()
	sig := func(f map[string]*dto.MetricFamily) string {
		return fmt.Sprint(metricSum(f, "edgesensor_dispatch_events_total", nil),
			metricSum(f, "edgesensor_xdp_counter_total", map[string]string{"iface": iface}),
			metricSum(f, "edgesensor_analysis_flow_events_total", nil), metricSum(f, "edgesensor_events_total", nil))
	}
	lastSig, since := "", time.Now()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		f := scrape(t, l)
		if s := sig(f); s != lastSig || metricSum(f, "edgesensor_ring_pending_bytes", nil) != 0 {
			lastSig, since = s, time.Now()
			continue
		}
		if time.Since(since) >= 4*time.Second {
			return f
		}
	}
	t.Fatalf("the sensor did not settle within 60s")
	return nil
}

// linkMAC is an interface's MAC address.
func linkMAC(t *testing.T, l *lab.Lab, ns, iface string) string {
	t.Helper()
	out := l.MustExec(ns, "ip", "-j", "link", "show", "dev", iface)
	var v []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 || v[0].Address == "" {
		t.Fatalf("ip -j link show %s: %v\n%s", iface, err, out)
	}
	return v[0].Address
}

type linkCounters struct{ rxDropped, txDropped uint64 }

// linkStats reads an interface's drop counters.
func linkStats(t *testing.T, l *lab.Lab, ns, iface string) linkCounters {
	t.Helper()
	out := l.MustExec(ns, "ip", "-s", "-j", "link", "show", "dev", iface)
	var v []struct {
		Stats64 struct {
			RX struct {
				Dropped uint64 `json:"dropped"`
			} `json:"rx"`
			TX struct {
				Dropped uint64 `json:"dropped"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		t.Fatalf("ip -s -j link show %s: %v\n%s", iface, err, out)
	}
	return linkCounters{rxDropped: v[0].Stats64.RX.Dropped, txDropped: v[0].Stats64.TX.Dropped}
}

var (
	tcpreplaySentRe   = regexp.MustCompile(`Successful packets:\s+(\d+)`)
	tcpreplayFailedRe = regexp.MustCompile(`Failed packets:\s+(\d+)`)
)

// tcpreplaySent is the packets tcpreplay says it sent; some failing
// fails the test.
func tcpreplaySent(t *testing.T, out string) uint64 {
	t.Helper()
	m := tcpreplaySentRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tcpreplay: no packet count:\n%s", out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	if f := tcpreplayFailedRe.FindStringSubmatch(out); f != nil && f[1] != "0" {
		t.Errorf("tcpreplay: %s packets failed", f[1])
	}
	return n
}
