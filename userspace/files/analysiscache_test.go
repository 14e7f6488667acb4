package files

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// TestAnalysisCachedByContent: the same zip (the EICAR file and a PE
// inside) fetched three times on one connection, twice under one name
// and once under another. The second is analysed from the cache with the
// first's reasons; the third is analysed again, and its reasons name it.
func TestAnalysisCachedByContent(t *testing.T) {
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	pe := c.ToClient[bytes.Index(c.ToClient, []byte("\r\n\r\n"))+4:]
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, b := range map[string][]byte{"eicar.com": []byte(eicar), "tools/setup.exe": pe} {
		w, _ := zw.Create(name)
		w.Write(b)
	}
	zw.Close()
	body := zb.Bytes()
	names := []string{"a.zip", "a.zip", "b.zip"}
	c.ToServer, c.ToClient = nil, nil
	for _, n := range names {
		c.ToServer = append(c.ToServer, "GET /"+n+" HTTP/1.1\r\nHost: x\r\n\r\n"...)
		c.ToClient = append(c.ToClient, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))...)
		c.ToClient = append(c.ToClient, body...)
	}
	p, buf, _ := feedPipeline(t, nil, nil, c)
	p.Close()
	var reasons [][]string
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var e struct {
			File       struct{ Name string }
			Edgesensor struct {
				Score struct{ Reasons []score.Reason }
			}
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, r := range e.Edgesensor.Score.Reasons {
			texts = append(texts, r.Rule+": "+r.Text)
		}
		reasons = append(reasons, texts)
	}
	if len(reasons) != 3 {
		t.Fatalf("%d events, want 3:\n%s", len(reasons), buf)
	}
	if got := p.Stats.AnalysisCached.Load(); got != 1 {
		t.Errorf("analyses from the cache: %d, want 1", got)
	}
	if strings.Join(reasons[0], "\n") != strings.Join(reasons[1], "\n") || len(reasons[0]) == 0 {
		t.Errorf("the cached analysis differs:\n%q\n%q", reasons[0], reasons[1])
	}
	if !strings.Contains(strings.Join(reasons[2], "\n"), "b.zip > EICAR") {
		t.Errorf("the third name's analysis does not name it: %q", reasons[2])
	}
}

// TestAnalysisCacheBounds: the cache keeps within its bytes, counts what
// it lets go, does not keep an entry of hostile size, and hands out
// copies (the scorer appends intel and YARA reasons to them).
func TestAnalysisCacheBounds(t *testing.T) {
	var st Stats
	c := newAnalysisCache(4096, &st)
	key := func(i int) analysisKey { k := analysisKey{name: fmt.Sprint("f", i)}; k.sum[0] = byte(i); return k }
	runs := 0
	analyse := func() []score.Reason { runs++; return []score.Reason{{Rule: "r", Text: "t", Weight: 5}} }
	for i := range 100 {
		c.do(key(i), analyse)
	}
	if c.bytes > 4096 || len(c.m) != c.l.Len() || len(c.m) == 0 || len(c.m) == 100 {
		t.Fatalf("%d bytes in %d entries (list %d)", c.bytes, len(c.m), c.l.Len())
	}
	if int(st.AnalysisEvicted.Load()) != 100-len(c.m) {
		t.Errorf("evicted %d, want %d", st.AnalysisEvicted.Load(), 100-len(c.m))
	}
	if c.do(key(0), analyse); runs != 101 {
		t.Error("the oldest entry was still there")
	}
	got := c.do(key(99), analyse)
	if runs != 101 || len(got) != 1 {
		t.Fatalf("newest entry analysed again (%d runs): %v", runs, got)
	}
	got[0].Text = "changed"
	_ = append(got, score.Reason{Rule: "intel"})
	if again := c.do(key(99), analyse); again[0].Text != "t" || len(again) != 1 {
		t.Errorf("a caller's change reached the cache: %v", again)
	}
	big := analysisKey{name: strings.Repeat("n", analysisEntryMax)}
	c.do(big, analyse)
	c.do(big, analyse)
	if runs != 103 {
		t.Errorf("an entry over analysisEntryMax was kept (%d runs, want 103)", runs)
	}
	if st.AnalysisCached.Load() != 2 {
		t.Errorf("hits %d, want 2", st.AnalysisCached.Load())
	}
}

// TestAnalysisCacheConcurrent: scorers asking for one file at once get
// one analysis; an analysis that panics leaves the waiters to analyse
// for themselves, and nothing is kept.
func TestAnalysisCacheConcurrent(t *testing.T) {
	var st Stats
	c := newAnalysisCache(1<<20, &st)
	var k analysisKey
	var runs atomic.Int32
	release := make(chan struct{})
	analyse := func() []score.Reason {
		runs.Add(1)
		<-release
		return []score.Reason{{Rule: "r"}}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); c.do(k, analyse) }()
	}
	for runs.Load() == 0 {
		runtime.Gosched()
	}
	time.Sleep(20 * time.Millisecond) // the others reach the wait
	close(release)
	wg.Wait()
	if runs.Load() != 1 || st.AnalysisCached.Load() != 7 {
		t.Errorf("%d analyses, %d from the cache; want 1 and 7", runs.Load(), st.AnalysisCached.Load())
	}

	k.name = "panics"
	func() {
		defer func() { recover() }()
		c.do(k, func() []score.Reason { panic("analyzer") })
	}()
	if r := c.do(k, func() []score.Reason { return nil }); r != nil || len(c.pending) != 0 {
		t.Errorf("after a panic: %v, %d pending", r, len(c.pending))
	}
}
