package siem

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

func TestTCPOctetCounting(t *testing.T) {
	srv := newFrameServer(t, listen(t))
	f := newFanout(t, SinkConfig{Name: "tcp", Type: "syslog", Network: "tcp", Address: srv.ln.Addr().String()})
	const n = 500
	for i := range n {
		f.Write(rec(numbered(i)))
	}
	checkLines(t, collectFrames(t, srv.frames, n), 0, n)
	if err := f.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()[0]
	if st.Sent != n || st.Dropped != 0 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestTCPReconnect(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	srv := newFrameServer(t, ln)
	f := newFanout(t, SinkConfig{Name: "tcp", Type: "syslog", Network: "tcp", Address: addr})
	for i := range 10 {
		f.Write(rec(numbered(i)))
	}
	checkLines(t, collectFrames(t, srv.frames, 10), 0, 10)

	srv.stop()
	waitFor(t, "the sink to see the server go", func() bool { return !f.Stats()[0].Connected })
	for i := 10; i < 30; i++ {
		f.Write(rec(numbered(i)))
	}
	waitFor(t, "failed reconnects", func() bool { return f.Stats()[0].Errors > 1 })

	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	srv2 := newFrameServer(t, ln2)
	checkLines(t, collectFrames(t, srv2.frames, 20), 10, 30)
	st := f.Stats()[0]
	if st.Reconnects < 1 || !st.Connected || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestStuckServer: a receiver that accepts and never reads. Write must
// keep returning, the stuck sink drops, and a healthy sink next to it
// gets everything.
func TestStuckServer(t *testing.T) {
	ln := listen(t)
	defer ln.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	var out syncBuffer
	const n = 100_000
	f, err := New([]SinkConfig{
		{Name: "stuck", Type: "syslog", Network: "tcp", Address: ln.Addr().String(), Queue: 100, WriteTimeout: 100 * time.Millisecond},
		{Name: "ok", Type: "stdout", Writer: &out, Queue: n},
	}, nop)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := range n {
			f.Write(rec(numbered(i % 60000)))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Write blocked")
	}
	if st := f.Stats()[0]; st.Dropped == 0 {
		t.Errorf("stuck sink dropped nothing: %+v", st)
	}
	waitFor(t, "the healthy sink", func() bool { return f.Stats()[1].Sent == n })
	// Each reconnect gets fresh socket buffers, so the stuck sink may
	// have emptied its queue into them by now: Close may or may not
	// report it, but never the healthy one.
	if err := f.Close(500 * time.Millisecond); err != nil && strings.Contains(err.Error(), `sink "ok"`) {
		t.Errorf("Close: %v", err)
	}
	st := f.Stats()
	if st[0].Sent+st[0].Dropped != n {
		t.Errorf("stuck: sent %d + dropped %d != %d", st[0].Sent, st[0].Dropped, n)
	}
	if st[1].Sent != n || st[1].Dropped != 0 {
		t.Errorf("healthy sink: %+v", st[1])
	}
	if lines := bytes.Count(out.Bytes(), []byte("\n")); lines != n {
		t.Errorf("healthy sink wrote %d lines, want %d", lines, n)
	}
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f := newFanout(t, SinkConfig{Name: "udp", Type: "syslog", Network: "udp", Address: pc.LocalAddr().String(), MaxMessage: 480})

	f.Write(rec(numbered(0)))
	// Long and multi-byte, so the cut has to find a rune boundary.
	long := []byte(`{"event":{"dataset":"edgesensor.file"},"source":{"port":2},"file":{"name":"` + strings.Repeat("日", 300) + `"}}` + "\n")
	f.Write(rec(long))

	buf := make([]byte, 70000)
	var got [][]byte
	for len(got) < 2 {
		if err := pc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bytes.Clone(buf[:n]))
	}
	m, err := parse5424(got[0])
	if err != nil {
		t.Fatalf("%v: %q", err, got[0])
	}
	if want := strings.TrimSuffix(string(numbered(0)), "\n"); string(m.msg) != want {
		t.Errorf("datagram MSG %q, want %q", m.msg, want)
	}
	if len(got[1]) > 480 || len(got[1]) < 477 {
		t.Errorf("truncated datagram is %d bytes, want 477..480", len(got[1]))
	}
	if m, err := parse5424(got[1]); err != nil || !bytes.HasPrefix(long, m.msg) {
		t.Errorf("truncated datagram: %v, MSG not a prefix of the line", err)
	}
	// Sent is counted once the write returns, maybe after the read.
	waitFor(t, "Sent", func() bool { return f.Stats()[0].Sent == 2 })
	if st := f.Stats()[0]; st.Truncated != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFilters(t *testing.T) {
	var all, files, high syncBuffer
	f := newFanout(t,
		SinkConfig{Name: "all", Type: "stdout", Writer: &all},
		SinkConfig{Name: "files", Type: "stdout", Writer: &files, Datasets: []string{"edgesensor.file"}},
		SinkConfig{Name: "high", Type: "stdout", Writer: &high, MinScore: 7, Format: "cef"},
	)
	lines := []string{
		`{"event":{"dataset":"edgesensor.file","risk_score":8}}`,
		`{"event":{"dataset":"edgesensor.file","risk_score":6}}`,
		`{"event":{"dataset":"edgesensor.file","risk_score":-1}}`,
		`{"event":{"dataset":"edgesensor.file"}}`,
		`{"event":{"dataset":"edgesensor.tls","risk_score":10}}`,
		`{"event":{"dataset":"edgesensor.tls"}}`,
		`not json`,
	}
	for _, l := range lines {
		f.Write(rec([]byte(l + "\n")))
	}
	if err := f.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := all.Bytes(), strings.Join(lines, "\n")+"\n"; string(got) != want {
		t.Errorf("all:\n%s\nwant\n%s", got, want)
	}
	if got, want := files.Bytes(), strings.Join(lines[:4], "\n")+"\n"; string(got) != want {
		t.Errorf("files:\n%s\nwant\n%s", got, want)
	}
	var sevs []string
	for _, l := range strings.Split(strings.TrimSuffix(string(high.Bytes()), "\n"), "\n") {
		r, err := parseCEF(l)
		if err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		sevs = append(sevs, r.header[4]+":"+r.header[6])
	}
	if got, want := strings.Join(sevs, " "), "edgesensor.file:8 edgesensor.tls:10"; got != want {
		t.Errorf("high: %s, want %s", got, want)
	}
	st := f.Stats()
	for i, want := range []uint64{0, 3, 5} {
		if st[i].Filtered != want || st[i].Sent != uint64(len(lines))-want {
			t.Errorf("%s: filtered %d sent %d, want %d and %d", st[i].Name, st[i].Filtered, st[i].Sent, want, uint64(len(lines))-want)
		}
	}
}

func TestValidate(t *testing.T) {
	validate := func(c SinkConfig) error {
		var p setting.Problems
		c.Validate("sinks[0]", &p)
		return p.Err()
	}
	ok := SinkConfig{Name: "siem", Type: "syslog", Network: "tcp", Address: "siem:514"}
	if err := validate(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		edit func(*SinkConfig)
		want string
	}{
		{func(c *SinkConfig) { c.Network = "tpc" }, `sinks[0].network: "tpc" is not a transport; use "udp", "tcp" or "tls"`},
		{func(c *SinkConfig) { c.Name = "" }, `sinks[0].name: missing`},
		{func(c *SinkConfig) { c.Type = "kafak" }, `sinks[0].type: "kafak" is not a sink type; use "stdout", "file", "syslog" or "kafka"`},
		{func(c *SinkConfig) { c.Type = "kafka" }, `sinks[0].brokers: missing`},
		{func(c *SinkConfig) { c.Brokers = []string{"k:9092"} }, `sinks[0].type: "syslog", but Kafka keys`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.Topic = "kafka", []string{"k:9092"}, "events/{type}" }, `sinks[0].topic: "events/{type}" gives the topic "events/tls" (the character '/')`},
		{func(c *SinkConfig) { c.Type, c.Brokers = "kafka", []string{"k"} }, `sinks[0].brokers: "k" is not host:port`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.Key = "kafka", []string{"k:9092"}, "sha256" }, `sinks[0].key: "sha256" is not a record key`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.Compression = "kafka", []string{"k:9092"}, "brotli" }, `sinks[0].compression: "brotli" is not a codec`},
		{func(c *SinkConfig) {
			c.Type, c.Brokers, c.SASL, c.SASLUser, c.SASLPasswordFile = "kafka", []string{"k:9092"}, "plain", "u", "/etc/pw"
		}, `sinks[0].tls: false while sasl is "plain"`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.SASL = "kafka", []string{"k:9092"}, "scram-sha-512" }, `sinks[0].sasl_user: missing`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.CAFile = "kafka", []string{"k:9092"}, "/ca.pem" }, `sinks[0].ca_file: set but tls is false`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.SpoolDir = "kafka", []string{"k:9092"}, "spool" }, `sinks[0].spool_dir: "spool" must be an absolute`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.Format = "kafka", []string{"k:9092"}, "cef" }, `sinks[0].format: "cef" does not go with type "kafka"`},
		{func(c *SinkConfig) { c.Type, c.Brokers, c.Name = "kafka", []string{"k:9092"}, "soc/kafka" }, `sinks[0].name: "soc/kafka" names the sink's spool file`},
		{func(c *SinkConfig) { c.Type, c.Brokers = "kafka", []string{"k:9092"} }, `sinks[0].address: set on a kafka sink, where it does nothing`},
		{func(c *SinkConfig) { c.Format = "json" }, `sinks[0].format: "json" does not go with type "syslog"`},
		{func(c *SinkConfig) { c.Address = "siem" }, `sinks[0].address: "siem" is not host:port`},
		{func(c *SinkConfig) { c.Address = "siem:0" }, `sinks[0].address: "siem:0": port "0" is not 1..65535`},
		{func(c *SinkConfig) { c.CAFile = "/ca.pem" }, `sinks[0].ca_file: set but network is "tcp"`},
		{func(c *SinkConfig) { c.Network, c.ServerName = "udp", "siem.example" }, `sinks[0].server_name: set but network is "udp"`},
		{func(c *SinkConfig) { c.Network, c.CertFile = "tls", "/c.pem" }, `sinks[0].key_file: cert_file and key_file go together`},
		{func(c *SinkConfig) { c.Facility = 24 }, `sinks[0].facility: 24 is out of range`},
		{func(c *SinkConfig) { c.AppName = "edge sensor" }, `sinks[0].app_name:`},
		{func(c *SinkConfig) { c.MaxMessage = 100 }, `sinks[0].max_message: 100 is not 480..65507`},
		{func(c *SinkConfig) { c.MinScore = 11 }, `sinks[0].min_score: 11 is out of range`},
		{func(c *SinkConfig) { c.Queue = -1 }, `sinks[0].queue: -1 is out of range`},
		{func(c *SinkConfig) { c.Datasets = []string{""} }, `sinks[0].datasets: "" is not a dataset`},
		{func(c *SinkConfig) { c.Type, c.Format = "file", "rfc5424" }, `sinks[0].path: "" must be an absolute file path`},
		{func(c *SinkConfig) { c.Type, c.Format = "file", "rfc5424" }, `sinks[0].format: "rfc5424" does not go with type "file"`},
		{func(c *SinkConfig) { c.Type, c.Path, c.MaxSize = "file", "/var/log/s.json", 1 }, `sinks[0].max_size: 1B is too small`},
	} {
		c := ok
		tc.edit(&c)
		err := validate(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	_, err := New([]SinkConfig{{Name: "a", Type: "stdout"}, {Name: "a", Type: "stdout"}}, nop)
	if err == nil || !strings.Contains(err.Error(), `sinks[1].name: "a" is used twice`) {
		t.Errorf("duplicate names: %v", err)
	}
	_, err = New([]SinkConfig{{Name: "t", Type: "syslog", Network: "tls", Address: "x:1", CAFile: "/nonexistent/ca.pem"}}, nop)
	if err == nil || !strings.Contains(err.Error(), "sinks[t].ca_file") {
		t.Errorf("missing CA file: %v", err)
	}
}

// flakyWriter cuts its first write short with an error.
type flakyWriter struct {
	syncBuffer
	failed bool
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	if !w.failed {
		w.failed = true
		n := len(p) / 2
		_, _ = w.syncBuffer.Write(p[:n])
		return n, errors.New("disk full")
	}
	return w.syncBuffer.Write(p)
}

// TestResendAfterShortWrite: the message a failed write cut short is
// written again whole, and the ones after it too.
func TestResendAfterShortWrite(t *testing.T) {
	w := &flakyWriter{}
	f, err := New([]SinkConfig{{Name: "flaky", Type: "stdout", Writer: w, Queue: 100}}, nop)
	if err != nil {
		t.Fatal(err)
	}
	// Queue everything before the sink's first write, so that one
	// batch holds several lines.
	const n = 20
	var all []byte
	for i := range n {
		all = append(all, numbered(i)...)
	}
	for i := range n {
		f.Write(rec(numbered(i)))
	}
	if err := f.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	out := w.Bytes()
	// The first write held a batch of the first lines and wrote half of
	// it, ending inside line j; the retry starts again at line j. So out
	// is all[:h] + all[start(j):] for some h inside line j.
	extra := len(out) - len(all)
	ok := false
	for i, start := 0, 0; i < n && !ok; i++ {
		l := len(numbered(i))
		if h := start + extra; extra >= 0 && h < start+l {
			ok = bytes.Equal(out[:h], all[:h]) && bytes.Equal(out[h:], all[start:])
		}
		start += l
	}
	if !ok {
		t.Errorf("output is not the cut batch followed by a resend from the cut line:\n%s", out)
	}
	if st := f.Stats()[0]; st.Errors != 1 || st.Sent != n {
		t.Errorf("stats %+v", st)
	}
}
