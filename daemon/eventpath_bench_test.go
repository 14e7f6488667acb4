package daemon

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/events"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
	"github.com/edgesensor/edgesensor/userspace/export/siem"
)

// goldenLines are the corpus's events as replay writes them.
func goldenLines(b *testing.B) [][]byte {
	paths, _ := filepath.Glob("../testdata/golden/*.ndjson")
	var out [][]byte
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			out = append(out, append(append([]byte(nil), sc.Bytes()...), '\n'))
		}
		f.Close()
	}
	if len(out) < 10 {
		b.Fatalf("%d golden events", len(out))
	}
	return out
}

// BenchmarkEventPath: one event from the pipeline that wrote it to every
// consumer: the primary output, the metrics' counts, two SIEM sinks (CEF
// and RFC 5424, both filtered, formatting included: the sinks' goroutines
// are drained before the figures are read) and the cloud record the
// privacy policy builds. Real events of the corpus, in turn.
func BenchmarkEventPath(b *testing.B) {
	lines := goldenLines(b)
	key, err := anon.NewKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	pol, err := privacy.New(&cfg.Privacy, true, key)
	if err != nil {
		b.Fatal(err)
	}
	fan, err := siem.New([]siem.SinkConfig{
		{Name: "cef", Type: "stdout", Format: "cef", Writer: io.Discard, Datasets: []string{"edgesensor.file", "edgesensor.tls"}, Queue: 1 << 20},
		{Name: "json", Type: "stdout", Format: "json", Writer: io.Discard, MinScore: 0, Datasets: []string{"edgesensor.file", "edgesensor.tls"}, Queue: 1 << 20},
	}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	var t taps
	t.sinks.Store(fan)
	out := ndjson.NewNDJSON(io.Discard)
	out.SetTap(func(rec *ecs.Record) {
		t.write(rec)
		if _, _, err := pol.Record(rec); err != nil {
			b.Fatal(err)
		}
	})
	// The records the pipelines hand over: fields from the typed events.
	recs := make([]ecs.Record, len(lines))
	for i, l := range lines {
		r, err := events.Record(l)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Write(&recs[i%len(recs)])
	}
	fan.Close(time.Minute)
	b.StopTimer()
	for _, st := range fan.Stats() {
		if st.Dropped != 0 || st.Sent == 0 {
			b.Fatalf("sink %s: %+v", st.Name, st)
		}
	}
}
