package metrics

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestScrapeParsesAndReadsLive(t *testing.T) {
	var packets atomic.Uint64
	var sick atomic.Bool
	c := NewCollector([]Family{
		{Name: "xdp_packets_total", Help: "Packets seen.", Kind: Counter, Labels: []string{"iface"},
			Read: func(emit func(float64, ...string)) {
				emit(float64(packets.Load()), "veth0")
				emit(7, "veth1")
			}},
		{Name: "ring_fill_bytes", Help: "Bytes waiting.", Kind: Gauge, Labels: []string{"ring"},
			Read: func(emit func(float64, ...string)) { emit(4096, "streams") }},
		{Name: "bad", Help: "Wrong label count is reported, not fatal.", Kind: Gauge, Labels: []string{"a"},
			Read: func(emit func(float64, ...string)) { emit(1) }},
	})
	s, err := Listen("127.0.0.1:0", c, func() error {
		if sick.Load() {
			return errors.New("ring reader stopped")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	scrape := func() map[string]*dto {
		resp, err := http.Get("http://" + s.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("scrape does not parse: %v", err)
		}
		out := map[string]*dto{}
		for name, f := range fams {
			for _, m := range f.Metric {
				d := &dto{}
				for _, l := range m.Label {
					d.labels = append(d.labels, l.GetName()+"="+l.GetValue())
				}
				if m.Counter != nil {
					d.value = m.Counter.GetValue()
				} else if m.Gauge != nil {
					d.value = m.Gauge.GetValue()
				}
				out[name+"{"+strings.Join(d.labels, ",")+"}"] = d
			}
		}
		return out
	}
	packets.Store(41)
	got := scrape()
	if d := got["edgesensor_xdp_packets_total{iface=veth0}"]; d == nil || d.value != 41 {
		t.Errorf("veth0 packets: %+v (all: %v)", d, keys(got))
	}
	if d := got["edgesensor_ring_fill_bytes{ring=streams}"]; d == nil || d.value != 4096 {
		t.Errorf("ring fill: %+v", d)
	}
	if got["process_resident_memory_bytes{}"] == nil {
		t.Error("no process figures")
	}
	packets.Store(42)
	if d := scrape()["edgesensor_xdp_packets_total{iface=veth0}"]; d == nil || d.value != 42 {
		t.Errorf("not read at scrape time: %+v", d)
	}

	health := func() (int, string) {
		resp, err := http.Get("http://" + s.Addr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := health(); code != 200 || body != "ok\n" {
		t.Errorf("healthy: %d %q", code, body)
	}
	sick.Store(true)
	if code, body := health(); code != 503 || !strings.Contains(body, "ring reader stopped") {
		t.Errorf("unhealthy: %d %q", code, body)
	}
}

type dto struct {
	labels []string
	value  float64
}

func keys(m map[string]*dto) []string {
	var k []string
	for n := range m {
		if strings.HasPrefix(n, "edgesensor_") {
			k = append(k, n)
		}
	}
	return k
}

// A Histogram family is exported as Prometheus histograms: cumulative
// buckets, count and sum, per label value.
func TestHistogramFamily(t *testing.T) {
	c := NewCollector([]Family{{Name: "wait_seconds", Help: "h", Kind: Histogram, Labels: []string{"what"},
		ReadHistogram: func(emit func(HistogramValue, ...string)) {
			emit(HistogramValue{Count: 5, Sum: 2.5, Buckets: map[float64]uint64{0.1: 1, 1: 4}}, "a")
		}}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("%v %v", mfs, err)
	}
	h := mfs[0].GetMetric()[0].GetHistogram()
	if mfs[0].GetType().String() != "HISTOGRAM" || h.GetSampleCount() != 5 || h.GetSampleSum() != 2.5 ||
		len(h.GetBucket()) != 2 || h.GetBucket()[1].GetCumulativeCount() != 4 {
		t.Errorf("%v", mfs[0])
	}
}
