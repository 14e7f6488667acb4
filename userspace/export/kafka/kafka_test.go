package kafka

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/bbolt"
)

var topics = []string{"edgesensor.tls", "edgesensor.file"}

func cluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(6, topics...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func open(t *testing.T, brokers []string, dir string, mut ...func(*Settings)) *Producer {
	t.Helper()
	s := Settings{Brokers: brokers, SpoolDir: dir, Linger: 5 * 1e6}
	for _, m := range mut {
		m(&s)
	}
	p, err := New(s, Options{Name: "kafka", Sensor: "sensor-1", Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gen makes events of nKeys flows, numbered per flow, alternating
// between the datasets.
type gen struct {
	nKeys int
	next  []int
	i     int
}

func newGen(nKeys int) *gen { return &gen{nKeys: nKeys, next: make([]int, nKeys)} }

func (g *gen) batch(n int) []Record {
	out := make([]Record, n)
	for j := range out {
		k := g.i % g.nKeys
		g.i++
		key := fmt.Sprintf("1:flow%04d", k)
		out[j] = Record{Dataset: topics[k%2], Key: key, Value: fmt.Appendf(nil, `{"flow":%q,"n":%d,"pad":"%s"}`, key, g.next[k], strings.Repeat("x", 200))}
		g.next[k]++
	}
	return out
}

// consume reads every record of the topics with a read_committed
// consumer until want have arrived or the time is up.
func consume(t *testing.T, brokers []string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	// Anything beyond want would be a duplicate: give it a moment to show.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	cl.PollFetches(ctx2).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	return out
}

// check asserts every event of g arrived exactly once, each flow's in
// order on one partition, with the headers.
func check(t *testing.T, g *gen, recs []*kgo.Record) {
	t.Helper()
	total := 0
	for _, n := range g.next {
		total += n
	}
	if len(recs) != total {
		t.Errorf("%d records read, %d sent", len(recs), total)
	}
	seen := make([]int, g.nKeys)
	part := make(map[string]string)
	bad := 0
	for _, r := range recs {
		v := string(r.Value)
		i := strings.Index(v, `"n":`)
		n, _ := strconv.Atoi(v[i+4 : i+4+strings.IndexByte(v[i+4:], ',')])
		k, _ := strconv.Atoi(strings.TrimPrefix(string(r.Key), "1:flow"))
		if !strings.Contains(v, string(r.Key)) {
			t.Fatalf("record key %q with value %s", r.Key, v)
		}
		tp := r.Topic + "/" + strconv.Itoa(int(r.Partition))
		if p, ok := part[string(r.Key)]; ok && p != tp {
			t.Errorf("flow %s on %s and %s", r.Key, p, tp)
		}
		part[string(r.Key)] = tp
		if n != seen[k] {
			if bad++; bad < 10 {
				t.Errorf("flow %d: got n=%d, want %d (duplicate or out of order)", k, n, seen[k])
			}
		}
		seen[k] = n + 1
		if len(r.Headers) != 2 || r.Headers[0].Key != "sensor_id" || string(r.Headers[0].Value) != "sensor-1" ||
			r.Headers[1].Key != "dataset" || string(r.Headers[1].Value) != r.Topic {
			t.Fatalf("headers %+v on %s", r.Headers, r.Topic)
		}
	}
	for k, n := range seen {
		if n != g.next[k] {
			if bad++; bad < 20 {
				t.Errorf("flow %d: read up to %d of %d", k, n, g.next[k])
			}
		}
	}
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// 100,000 events through three brokers that time out after writing,
// refuse some requests, move leaders and lose one broker mid-run: a
// read_committed consumer reads every event once, each flow's in order.
func TestExactlyOnceUnderFaults(t *testing.T) {
	c := cluster(t)
	// REQUEST_TIMED_OUT is answered after the batch was written: the
	// retry is what an idempotent producer must not duplicate.
	faults := c.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 12},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: 6},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicasAfterAppend, Count: 6})
	p := open(t, c.ListenAddrs(), t.TempDir())
	g := newGen(1000)
	for i := 0; i < 100_000/250; i++ {
		p.Send(g.batch(250))
		switch i {
		case 100:
			c.ShufflePartitionLeaders()
		case 200:
			if err := c.RemoveNode(0); err != nil {
				t.Fatal(err)
			}
		}
	}
	t0 := time.Now()
	waitFor(t, "every record acknowledged", 90*time.Second, func() bool {
		st := p.Stats()
		return st.Produced == 100_000 && st.Spooled == 0
	})
	st := p.Stats()
	t.Logf("all acknowledged %v after the last Send", time.Since(t0))
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.Failed != 0 || st.DroppedFull != 0 || st.Spooled != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := faults.Hits(); n != 24 {
		t.Errorf("%d produce requests faulted, want 24", n)
	}
	t.Logf("request errors %d, spilled %d, batches %d, %d B → %d B", st.RequestErrors, st.Spilled, st.Batches, st.Uncompressed, st.Compressed)
	check(t, g, consume(t, c.ListenAddrs(), 100_000))
}

// freePorts reserves n TCP ports on loopback.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// The brokers go away (outage() long, 60 s by default), the sensor is
// restarted during the outage, and nothing is lost: the spool keeps what
// the brokers did not take and drains it, in order, when they are back.
func TestOutageWithRestart(t *testing.T) {
	outage := 60 * time.Second
	if s := os.Getenv("EDGESENSOR_KAFKA_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		outage = d
	}
	dataDir, spoolDir := t.TempDir(), t.TempDir()
	ports := freePorts(t, 3)
	up := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.Ports(ports...), kfake.DataDir(dataDir), kfake.SeedTopics(6, topics...))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := up()
	brokers := c.ListenAddrs()
	p := open(t, brokers, spoolDir)
	g := newGen(500)
	for range 40 {
		p.Send(g.batch(250))
	}
	waitFor(t, "the first 10,000 acknowledged", 30*time.Second, func() bool { return p.Stats().Produced == 10_000 })
	c.Close()
	start := time.Now()
	for range 80 {
		p.Send(g.batch(250))
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil { // the restart, brokers away
		t.Fatal(err)
	}
	p = open(t, brokers, spoolDir)
	if st := p.Stats(); st.Spooled != 20_000 {
		t.Fatalf("after the restart the spool holds %d records, want 20000", st.Spooled)
	}
	for range 40 {
		p.Send(g.batch(250))
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Until(start.Add(outage)))
	st := p.Stats()
	if st.Connected || st.Produced != 0 || st.ConnectErrors == 0 || st.Spooled != 30_000 {
		t.Errorf("during the outage: %+v", st)
	}
	c = up()
	defer c.Close()
	waitFor(t, "the spool drained", 60*time.Second, func() bool {
		st := p.Stats()
		return st.Produced == 30_000 && st.Spooled == 0
	})
	st = p.Stats()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.DroppedFull != 0 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("outage %v: spilled %d, request errors %d", time.Since(start).Round(time.Second), st.Spilled, st.RequestErrors)
	check(t, g, consume(t, brokers, 40_000))
}

// A spool over its bound drops the oldest records and counts them; what
// is kept arrives whole and in order.
func TestSpoolFullDropsOldest(t *testing.T) {
	ports := freePorts(t, 1)
	dataDir := t.TempDir()
	p := open(t, []string{"127.0.0.1:" + strconv.Itoa(ports[0])}, t.TempDir(), func(s *Settings) { s.SpoolMaxBytes = 1 << 20 })
	setMax := func(n int) {
		p.mu.Lock()
		p.inflightMax = n
		p.mu.Unlock()
	}
	setMax(0) // everything through the spool
	g := newGen(1)
	for range 40 {
		p.Send(g.batch(250)) // 10,000 records of ~250 B: 2.5 MB
	}
	st := p.Stats()
	if st.DroppedFull == 0 || st.SpoolBytes > 1<<20 || st.Spooled+int64(st.DroppedFull) != 10_000 {
		t.Fatalf("stats %+v", st)
	}
	setMax(maxInflight)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(ports...), kfake.DataDir(dataDir), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.signal()
	waitFor(t, "the spool drained", 30*time.Second, func() bool { return p.Stats().Spooled == 0 })
	kept := int(st.Spooled)
	p.Close(context.Background())
	recs := consume(t, c.ListenAddrs(), kept)
	if len(recs) != kept {
		t.Fatalf("read %d, want %d", len(recs), kept)
	}
	for i, r := range recs {
		if want := fmt.Sprintf(`"n":%d,`, int(st.DroppedFull)+i); !strings.Contains(string(r.Value), want) {
			t.Fatalf("record %d: %s, want %s (the oldest dropped, the rest in order)", i, r.Value[:40], want)
		}
	}
}

// Events per second from Send to the brokers' acknowledgement (acks=all,
// one in-process kfake broker), and bytes on the wire per event.
func BenchmarkSend(b *testing.B) {
	for _, codec := range []string{"lz4", "zstd", "none"} {
		b.Run(codec, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, topics...))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			p, err := New(Settings{Brokers: c.ListenAddrs(), SpoolDir: b.TempDir(), Compression: codec}, Options{Name: "bench", Sensor: "s", Log: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			batches := realBatches(b)
			b.ResetTimer()
			sent := 0
			for i := 0; sent < b.N; i++ {
				n := min(256, b.N-sent)
				p.Send(batches[i%len(batches)][:n])
				sent += n
			}
			for p.Stats().Produced < uint64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			st := p.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(st.Compressed)/float64(b.N), "wire-B/event")
			b.ReportMetric(float64(st.Spilled)/float64(b.N), "spilled/event")
			p.Close(context.Background())
		})
	}
}

// realBatches are the sensor's own events for the corpus captures
// (testdata/golden), 256 to a batch, each flow's id made distinct per
// copy so the records spread over partitions as a router's would.
func realBatches(b *testing.B) [][]Record {
	files, _ := filepath.Glob("../../../testdata/golden/*.ndjson")
	var lines [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		b.Fatal("no golden events")
	}
	// What differs between a router's events: times, client address and
	// port, the flow id. Without it, repeated lines would compress far
	// better than real ones.
	rnd := rand.New(rand.NewPCG(1, 2))
	stamp := regexp.MustCompile(`"(@timestamp|start|end)":"[^"]*"`)
	client := regexp.MustCompile(`"source":\{"ip":"[^"]*","port":\d+\}`)
	flow := regexp.MustCompile(`"community_id":"[^"]*"`)
	b64 := func(n int) string {
		const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		out := make([]byte, n)
		for i := range out {
			out[i] = a[rnd.IntN(64)]
		}
		return string(out)
	}
	batches := make([][]Record, 64)
	n := 0
	for i := range batches {
		batches[i] = make([]Record, 256)
		for j := range batches[i] {
			id := "1:" + b64(27) + "="
			t := time.Unix(1_790_000_000+int64(n), rnd.Int64N(1e9)).UTC().Format(time.RFC3339Nano)
			l := stamp.ReplaceAll(lines[n%len(lines)], fmt.Appendf(nil, `"$1":%q`, t))
			l = client.ReplaceAll(l, fmt.Appendf(nil, `"source":{"ip":"10.%d.%d.%d","port":%d}`, rnd.IntN(256), rnd.IntN(256), rnd.IntN(256), 1024+rnd.IntN(64000)))
			l = flow.ReplaceAll(l, fmt.Appendf(nil, `"community_id":%q`, id))
			batches[i][j] = Record{Dataset: "edgesensor.tls", Key: id, Value: l}
			if bytes.Contains(l, []byte(`"edgesensor.file"`)) {
				batches[i][j].Dataset = "edgesensor.file"
			}
			n++
		}
	}
	return batches
}

// A spooled value that does not decode (a torn write) is dropped and
// counted; the records around it are sent, in order.
func TestSpoolCorruptRecordSkipped(t *testing.T) {
	dir := t.TempDir()
	ports := freePorts(t, 1)
	broker := []string{"127.0.0.1:" + strconv.Itoa(ports[0])}
	p := open(t, broker, dir)
	p.mu.Lock()
	p.inflightMax = 0 // everything through the spool
	p.mu.Unlock()
	g := newGen(1)
	p.Send(g.batch(10))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	db, err := bbolt.Open(filepath.Join(dir, "kafka.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRecords).Put(seqKey(5), []byte{spoolVersion, 200})
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(ports...), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p = open(t, broker, dir)
	waitFor(t, "the spool drained", 20*time.Second, func() bool { st := p.Stats(); return st.Spooled == 0 && st.Produced == 9 })
	if st := p.Stats(); st.DroppedFull != 1 {
		t.Errorf("stats %+v", st)
	}
	p.Close(context.Background())
	recs := consume(t, c.ListenAddrs(), 9)
	var ns []string
	for _, r := range recs {
		v := string(r.Value)
		ns = append(ns, v[strings.Index(v, `"n":`)+4:strings.Index(v, `,"pad"`)])
	}
	if got := strings.Join(ns, ","); got != "0,1,2,3,5,6,7,8,9" {
		t.Errorf("records %s, want all but the fifth (n=4), in order", got)
	}
}
