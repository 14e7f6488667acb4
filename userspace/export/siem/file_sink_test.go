package siem

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileSink(t *testing.T) {
	dir := t.TempDir()
	jsonPath, cefPath := filepath.Join(dir, "sub", "events.json"), filepath.Join(dir, "events.cef")
	f := newFanout(t,
		SinkConfig{Name: "json", Type: "file", Path: jsonPath, MaxSize: 1 << 20, MaxBackups: 2},
		SinkConfig{Name: "cef", Type: "file", Format: "cef", Path: cefPath},
	)
	// About 1.5 MiB: the json file rotates once.
	const n = 8000
	for i := range n {
		f.Write(rec(numbered(i)))
	}
	if err := f.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "sub", "events-*.json"))
	if len(matches) != 1 {
		t.Errorf("rotated files %v, want one", matches)
	}
	var total int
	for _, p := range append(matches, jsonPath) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 {
			t.Errorf("%s is %d bytes, over the 1 MiB rotation size", p, len(b))
		}
		total += bytes.Count(b, []byte("\n"))
	}
	if total != n {
		t.Errorf("json files hold %d lines, want %d", total, n)
	}
	b, err := os.ReadFile(cefPath)
	if err != nil {
		t.Fatal(err)
	}
	cefLines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(cefLines) != n {
		t.Fatalf("%d CEF lines, want %d", len(cefLines), n)
	}
	r, err := parseCEF(cefLines[7])
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.get("cs1"); v != "line\n7" {
		t.Errorf("cs1 %q", v)
	}
}

func TestFileSinkOversize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	f := newFanout(t, SinkConfig{Name: "file", Type: "file", Path: path, MaxSize: 1 << 20})
	huge := []byte(`{"x":"` + strings.Repeat("a", 1<<20) + `"}` + "\n")
	f.Write(rec(huge))
	f.Write(rec(numbered(0)))
	if err := f.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, numbered(0)) {
		t.Errorf("file holds %d bytes, want only the small line", len(b))
	}
	if st := f.Stats()[0]; st.Errors != 1 || st.Sent != 1 {
		t.Errorf("stats %+v", st)
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

func TestCloseTimeout(t *testing.T) {
	w := blockingWriter{make(chan struct{})}
	defer close(w.release)
	f, err := New([]SinkConfig{{Name: "stuck", Type: "stdout", Writer: w}}, nop)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		f.Write(rec(numbered(i)))
	}
	err = f.Close(50 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still blocked") {
		t.Errorf("Close = %v, want the blocked sink reported", err)
	}
	f.Write(rec(numbered(0))) // after Close: discarded, no panic
}

func TestCloseDrainsDuringOutage(t *testing.T) {
	// Nothing listens: Close must give up at its timeout and count what
	// it could not send.
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	f, err := New([]SinkConfig{{Name: "down", Type: "syslog", Network: "tcp", Address: addr}}, nop)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		f.Write(rec(numbered(i)))
	}
	err = f.Close(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "5 lines not sent") {
		t.Errorf("Close = %v, want 5 lines reported", err)
	}
	if st := f.Stats()[0]; st.Dropped != 5 || st.Sent != 0 || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
}
