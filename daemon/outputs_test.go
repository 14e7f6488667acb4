package daemon

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/cloudtest"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/events"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// output.max_size rotates the events file; nothing is lost across it.
func TestEventsFileRotates(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Output.Events = filepath.Join(dir, "events.ndjson")
	cfg.Output.MaxSize = 1 << 20
	w, closeFn, err := openEvents(&cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(`{"event":{"dataset":"edgesensor.file"},"pad":"` + strings.Repeat("x", 1000) + "\"}\n")
	for i := 0; i < 2500; i++ { // about 2.5 MB
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	closeFn()
	files, _ := filepath.Glob(filepath.Join(dir, "events*.ndjson"))
	total := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 1<<20 {
			t.Errorf("%s is %d bytes, over output.max_size", f, len(b))
		}
		total += bytes.Count(b, []byte("\n"))
	}
	if len(files) < 3 || total != 2500 {
		t.Errorf("%d files holding %d lines, want at least 3 and 2500", len(files), total)
	}
}

// Samples waiting for upload are bounded: past uplink.spool_max new ones
// are refused, and those older than spool_max_age are deleted.
func TestSamplesBounded(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	client, err := uplink.New(uplink.Options{URL: "https://127.0.0.1:1", CAFile: filepath.Join(pki, cloudapi.CAFile),
		CertFile: filepath.Join(pki, cloudapi.ClientCertFile), KeyFile: filepath.Join(pki, cloudapi.ClientKeyFile),
		SpoolDir: filepath.Join(dir, "uplink")})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cfg := config.Default()
	cfg.Uplink.URL = "https://127.0.0.1:1"
	cfg.Privacy.Share, cfg.Privacy.Executables = privacy.ShareFull, privacy.ShareFull
	pol, err := Policy(&cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Uplink.SpoolMax, cfg.Uplink.SpoolMaxAge = 3000, config.Duration(time.Hour)
	c := &cloudLink{}
	c.cur.Store(&cloudConn{cfg: &cfg, pol: pol, client: client})
	if p := c.sample(filetype.Executable, 100, "aa"); p != filepath.Join(client.SampleDir(), "aa") {
		t.Fatalf("sample path %q", p)
	}
	if p := c.sample(filetype.Document, 100, "bb"); p != "" {
		t.Errorf("documents are hash-only, yet a sample path: %q", p)
	}
	old := filepath.Join(client.SampleDir(), "old")
	os.WriteFile(old, make([]byte, 10), 0o600)
	os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	os.WriteFile(filepath.Join(client.SampleDir(), "big"), make([]byte, 4000), 0o600)
	c.sweepSamples(time.Now())
	if _, err := os.Stat(old); !os.IsNotExist(err) || c.samplesExpired.Load() != 1 {
		t.Errorf("an expired sample stayed (expired %d)", c.samplesExpired.Load())
	}
	if p := c.sample(filetype.Executable, 100, "cc"); p != "" || c.samplesRefused.Load() != 1 {
		t.Errorf("over spool_max, yet a sample path %q", p)
	}
	os.Remove(filepath.Join(client.SampleDir(), "big"))
	c.sweepSamples(time.Now())
	if p := c.sample(filetype.Executable, 100, "dd"); p == "" {
		t.Error("room again, yet refused")
	}
}

// The uplink link across a [privacy] change while the cloud is down: the
// records spooled under the old settings are dropped and counted, never
// delivered; what comes after reaches the cloud.
func TestCloudLinkPurgesOnPolicyChange(t *testing.T) {
	cloudBin := cloudtest.Build(t)
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	addr := cloudtest.FreePort(t)
	data := filepath.Join(dir, "cloud")
	cl := cloudtest.Run(t, cloudBin, pki, addr, data, cloudapi.ServerCertFile, cloudapi.ServerKeyFile)
	path := cloudtest.UplinkConfig(t, dir, pki, addr, "")
	load := func(extra string) *config.Config {
		b, _ := os.ReadFile(path)
		cfg, err := config.Parse(strings.Replace(string(b), "[privacy]\n", "[privacy]\n"+extra, 1))
		if err != nil {
			t.Fatal(err)
		}
		return &cfg
	}
	evs, err := os.ReadFile("../userspace/export/privacy/testdata/events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(evs), []byte("\n"))
	out := ndjson.NewNDJSON(io.Discard)
	link, err := startCloud(load(""), out, cloudIntel{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[:3] {
		link.tap(eventRecord(t, l))
	}
	if !link.drain(context.Background(), 20*time.Second) || len(cl.Received(t)) != 3 {
		t.Fatalf("cloud up: %d records", len(cl.Received(t)))
	}
	cl.Stop()
	for _, l := range lines[3:5] {
		link.tap(eventRecord(t, l))
	}
	link.drain(context.Background(), time.Second) // cannot: the cloud is down
	if err := link.reconfigure(load("client_ip = \"truncate\"\n"), newPolicy); err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	link.counts(m)
	if m["uplink_purged"] != 2 {
		t.Errorf("purged %d records, want the 2 spooled under the old settings", m["uplink_purged"])
	}
	cl = cloudtest.Run(t, cloudBin, pki, addr, data, cloudapi.ServerCertFile, cloudapi.ServerKeyFile)
	link.tap(eventRecord(t, lines[5]))
	if !link.drain(context.Background(), 20*time.Second) {
		t.Fatal("not delivered after the cloud came back")
	}
	if got := cl.Received(t); len(got) != 4 {
		t.Errorf("the cloud has %d records, want 3 + 1", len(got))
	}
	if err := link.close(false); err != nil {
		t.Error(err)
	}
	m = map[string]uint64{}
	link.counts(m)
	if m["uplink_delivered"] != 4 || m["uplink_records"] != 6 {
		t.Errorf("counts after close: delivered %d records %d", m["uplink_delivered"], m["uplink_records"])
	}

	// Across a restart: records spooled by one run under the truncate
	// settings are dropped by the next run, started with other settings.
	cl.Stop()
	link, err = startCloud(load("client_ip = \"truncate\"\n"), out, cloudIntel{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[6:8] {
		link.tap(eventRecord(t, l))
	}
	link.drain(context.Background(), time.Second)
	link.close(false)
	link, err = startCloud(load(""), out, cloudIntel{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer link.close(false)
	m = map[string]uint64{}
	link.counts(m)
	if m["uplink_purged"] != 2 || m["uplink_spooled"] != 0 {
		t.Errorf("after a restart under other settings: purged %d, spooled %d; want 2, 0", m["uplink_purged"], m["uplink_spooled"])
	}
}

// eventRecord is the record the outputs receive for an event line.
func eventRecord(t *testing.T, line []byte) *ecs.Record {
	t.Helper()
	r, err := events.Record(line)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// uplink.lookups with privacy.share = "none": each whole file's hash is
// asked once (then answered by the cache), a known one becomes one
// verdict event per file event, nothing else reaches the cloud, and
// verdict events (which carry the hash too) are never asked about.
func TestCloudLinkLookupsOnly(t *testing.T) {
	cloudBin := cloudtest.Build(t)
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if err := cloudapi.GenerateCerts(pki); err != nil {
		t.Fatal(err)
	}
	evs, err := os.ReadFile("../userspace/export/privacy/testdata/events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var file []byte
	for _, l := range bytes.Split(bytes.TrimSpace(evs), []byte("\n")) {
		if bytes.Contains(l, []byte(`"dataset":"edgesensor.file"`)) && bytes.Contains(l, []byte(`"sha256":"`)) {
			file = l
			break
		}
	}
	sum := eventRecord(t, file).Fields.SHA256
	known := filepath.Join(dir, "verdicts.txt")
	os.WriteFile(known, []byte(sum+" 5\n"), 0o600) // below the local score given the event below
	addr := cloudtest.FreePort(t)
	cl := cloudtest.Run(t, cloudBin, pki, addr, filepath.Join(dir, "cloud"), cloudapi.ServerCertFile, cloudapi.ServerKeyFile, "--verdicts", known)
	b, _ := os.ReadFile(cloudtest.UplinkConfig(t, dir, pki, addr, "share = \"none\"\n"))
	cfg, err := config.Parse(string(b) + "lookups = true\n")
	if err != nil {
		t.Fatal(err)
	}
	w := ndjson.NewNDJSON(io.Discard)
	link, err := startCloud(&cfg, w, cloudIntel{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer link.close(false)
	var n, wrong atomic.Int64
	// As the daemon's taps: every event written goes to the uplink.
	w.SetTap(func(r *ecs.Record) {
		if r.Fields.Dataset == ecs.VerdictDataset {
			n.Add(1)
			// The higher of the local score (9) and the cloud's (5).
			if r.Fields.Score != 9 || r.Fields.Kind != "alert" {
				wrong.Add(1)
			}
		}
		link.tap(r)
	})
	fileEvent := func() *ecs.Record {
		r := eventRecord(t, file)
		r.Fields.Score, r.Fields.Scored = 9, true
		return r
	}
	verdicts := func() int { return int(n.Load()) }
	for i := range 2 {
		link.tap(fileEvent())
		for end := time.Now().Add(5 * time.Second); verdicts() <= i && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // room for a loop to show
	if n := verdicts(); n != 2 {
		t.Errorf("%d verdict events for 2 file events, want 2 (failed %d, dropped %d)", n, link.lookFailed.Load(), link.lookDropped.Load())
	}
	if wrong.Load() > 0 {
		t.Errorf("%d verdict events without the higher local score (9) as an alert", wrong.Load())
	}
	st := link.cache.Stats()
	if st.Hits.Load() != 1 || st.Misses.Load() != 1 {
		t.Errorf("cache hits %d misses %d, want 1 and 1", st.Hits.Load(), st.Misses.Load())
	}
	if got := cl.Received(t); len(got) != 0 {
		t.Errorf("the cloud received %d records with share = none", len(got))
	}
	if s := cl.Stats(t); s.Lookups != 1 {
		t.Errorf("the cloud answered %d lookups, want 1", s.Lookups)
	}
	// Turned off by a reload: nothing more is asked, from the cache or
	// the cloud.
	off, err := config.Parse(string(b) + "lookups = false\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := link.reconfigure(&off, keepSpool); err != nil {
		t.Fatal(err)
	}
	link.tap(fileEvent())
	time.Sleep(300 * time.Millisecond)
	if n := verdicts(); n != 2 || st.Hits.Load()+st.Misses.Load() != 2 {
		t.Errorf("lookups off: %d verdict events, %d cache lookups; want 2 and 2", n, st.Hits.Load()+st.Misses.Load())
	}
	if link.lookupFn() != nil {
		t.Error("lookups off: held downloads could still ask")
	}
}
