package daemon

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/kafka"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
	"github.com/edgesensor/edgesensor/userspace/export/siem"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// taps are what sees each event after the primary output: the SIEM sinks,
// the cloud uplink, and the event counters for metrics. Sinks and uplink
// are replaced whole on a reload.
type taps struct {
	sinks  atomic.Pointer[siem.Fanout]
	cloud  atomic.Pointer[cloudLink]
	counts eventCounts

	baseMu    sync.Mutex
	sinkBase  map[string]siem.SinkStats // counters of sinks a reload replaced, by name
	kafkaBase map[string]kafka.Stats    // and of kafka sinks, their own
}

// retire keeps the counters of sinks a reload replaced (once they are
// closed), so a sink's counters carry on under its name.
func (t *taps) retire(old *siem.Fanout) {
	t.baseMu.Lock()
	defer t.baseMu.Unlock()
	if t.sinkBase == nil {
		t.sinkBase = map[string]siem.SinkStats{}
	}
	for _, st := range old.Stats() {
		b := t.sinkBase[st.Name]
		b.Sent += st.Sent
		b.Dropped += st.Dropped
		b.Filtered += st.Filtered
		b.Errors += st.Errors
		b.Reconnects += st.Reconnects
		b.Truncated += st.Truncated
		t.sinkBase[st.Name] = b
		if st.Kafka != nil {
			if t.kafkaBase == nil {
				t.kafkaBase = map[string]kafka.Stats{}
			}
			k := t.kafkaBase[st.Name]
			addKafka(&k, st.Kafka)
			t.kafkaBase[st.Name] = k
		}
	}
}

// sinkStats are the current sinks' figures, with those of their
// predecessors of the same name added.
func (t *taps) sinkStats() []siem.SinkStats {
	f := t.sinks.Load()
	if f == nil {
		return nil
	}
	out := f.Stats()
	t.baseMu.Lock()
	defer t.baseMu.Unlock()
	for i := range out {
		b := t.sinkBase[out[i].Name]
		out[i].Sent += b.Sent
		out[i].Dropped += b.Dropped
		out[i].Filtered += b.Filtered
		out[i].Errors += b.Errors
		out[i].Reconnects += b.Reconnects
		out[i].Truncated += b.Truncated
		if k, ok := t.kafkaBase[out[i].Name]; ok && out[i].Kafka != nil {
			addKafka(out[i].Kafka, &k)
		}
	}
	return out
}

func (t *taps) write(rec *ecs.Record) {
	t.counts.observe(&rec.Fields)
	if s := t.sinks.Load(); s != nil {
		s.Write(rec)
	}
	if c := t.cloud.Load(); c != nil {
		c.tap(rec)
	}
}

// sinkConfigs are the [[output.sinks]] tables (siem's own type), stdout
// sinks writing to stdout.
func sinkConfigs(cfg *config.Config, stdout io.Writer) []siem.SinkConfig {
	out := slices.Clone(cfg.Output.Sinks)
	for i := range out {
		if out[i].Type == "stdout" {
			out[i].Writer = stdout
		}
	}
	return out
}

// openSinks starts the configured sinks; nil when there are none.
func openSinks(cfg *config.Config, stdout io.Writer, log zerolog.Logger) (*siem.Fanout, error) {
	if len(cfg.Output.Sinks) == 0 {
		return nil, nil
	}
	f, err := siem.New(sinkConfigs(cfg, stdout), log)
	if err != nil {
		return nil, fmt.Errorf("output.sinks: %w", err)
	}
	return f, nil
}

// openEvents opens where events go: stdout, or the configured file,
// rotated by size when output.max_size is set.
func openEvents(cfg *config.Config, stdout io.Writer) (io.Writer, func() error, error) {
	o := &cfg.Output
	if o.Events == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(o.Events, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("output.events: opening %s: %w", o.Events, err)
	}
	if o.MaxSize == 0 {
		return f, f.Close, nil
	}
	f.Close()
	lj := &lumberjack.Logger{
		Filename: o.Events, MaxSize: int((o.MaxSize + 1<<20 - 1) >> 20), MaxBackups: o.MaxBackups,
		MaxAge: int((time.Duration(o.MaxAge) + 24*time.Hour - 1) / (24 * time.Hour)), Compress: o.Compress,
	}
	return lj, lj.Close, nil
}

// eventCounts are events by dataset, files by category and scores by
// band, for metrics.
type eventCounts struct {
	tls, file, verdict, other atomic.Uint64
	files                     [16]atomic.Uint64 // by filetype.Category
	bands                     [5]atomic.Uint64  // none/pending, 0-3, 4-6, 7-8, 9-10
	// live: the events are of traffic now (run), so their last packet's
	// time against the clock is how long their verdict took; replay's
	// packet times are the capture's.
	live    atomic.Bool
	latency [2]metrics.Latency // edgesensor.tls, edgesensor.file
	loss    lossCounts
}

// Score bands, as SIEM severities use them.
var bandNames = [5]string{"none", "0-3", "4-6", "7-8", "9-10"}

func (c *eventCounts) observe(f *ecs.Fields) {
	c.loss.observe(f)
	switch f.Dataset {
	case "edgesensor.tls":
		c.tls.Add(1)
		c.waited(0, f)
	case "edgesensor.file":
		c.file.Add(1)
		c.waited(1, f)
		if cat, err := filetype.ParseCategory(f.Category); err == nil && int(cat) < len(c.files) {
			c.files[cat].Add(1)
		}
	case ecs.VerdictDataset:
		c.verdict.Add(1)
	default:
		c.other.Add(1)
	}
	c.bands[band(f.Score, f.Scored)].Add(1)
}

// waited records how long an event came after its last packet.
func (c *eventCounts) waited(i int, f *ecs.Fields) {
	if c.live.Load() && !f.End.IsZero() {
		if d := time.Since(f.End); d >= 0 {
			c.latency[i].Observe(d)
		}
	}
}

func band(s int, scored bool) int {
	switch {
	case !scored || s < 0:
		return 0
	case s <= 3:
		return 1
	case s <= 6:
		return 2
	case s <= 8:
		return 3
	}
	return 4
}
