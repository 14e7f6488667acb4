// Package metrics serves the sensor's figures to Prometheus. Figures are
// read from their owners at scrape time (the BPF maps, the pipelines'
// counters, the sinks' queues) rather than kept twice.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Kind says how Prometheus treats a family.
type Kind int

// Kinds of families.
const (
	Counter Kind = iota
	Gauge
	// Histogram families report through ReadHistogram, not Read.
	Histogram
)

// HistogramValue is one distribution: Buckets maps each upper bound to
// the observations at or under it (cumulative, as Prometheus has them).
type HistogramValue struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// Family is one metric name with fixed label names; Read reports its
// current values through emit, one call per label combination.
type Family struct {
	Name   string
	Help   string
	Kind   Kind
	Labels []string
	Read   func(emit func(value float64, labelValues ...string))
	// ReadHistogram reports a Histogram family's distributions.
	ReadHistogram func(emit func(h HistogramValue, labelValues ...string))
}

// Collector reads a set of families at scrape time.
type Collector struct {
	families []Family
	descs    []*prometheus.Desc
}

// NewCollector describes the families; names get the "edgesensor_" prefix.
func NewCollector(fams []Family) *Collector {
	c := &Collector{families: fams}
	for _, f := range fams {
		c.descs = append(c.descs, prometheus.NewDesc("edgesensor_"+f.Name, f.Help, f.Labels, nil))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for i, f := range c.families {
		if f.Kind == Histogram {
			d := c.descs[i]
			f.ReadHistogram(func(h HistogramValue, lv ...string) {
				m, err := prometheus.NewConstHistogram(d, h.Count, h.Sum, h.Buckets, lv...)
				if err != nil {
					ch <- prometheus.NewInvalidMetric(d, err)
					return
				}
				ch <- m
			})
			continue
		}
		vt := prometheus.CounterValue
		if f.Kind == Gauge {
			vt = prometheus.GaugeValue
		}
		d := c.descs[i]
		f.Read(func(v float64, lv ...string) {
			m, err := prometheus.NewConstMetric(d, vt, v, lv...)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(d, err)
				return
			}
			ch <- m
		})
	}
}

// Server serves /metrics and /healthz.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Route is a further page the server serves.
type Route struct {
	Path    string
	Handler http.Handler
}

// Listen binds addr and serves the collector (plus the Go runtime's and
// the process's own figures), and routes. health reports whether the
// sensor is well: nil is 200, an error 503 with its text.
func Listen(addr string, c *Collector, health func() error, routes ...Route) (*Server, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	for _, r := range routes {
		mux.Handle(r.Path, r.Handler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us; Close reports nothing more useful
		}
	}()
	return s, nil
}

// Addr is where it listens (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
