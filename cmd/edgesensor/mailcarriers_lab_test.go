package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// TestPrivilegedMailCarriers sends today's malware carriers as the
// attachments of one message with swaks through the lab's postfix
// (SMTP across the router), then fetches the delivered message from
// dovecot with curl over IMAP (across the router): each attachment is
// reported twice, on port 25 and on port 143, with its category and the
// SHA-256 of the original.
func TestPrivilegedMailCarriers(t *testing.T) {
	l := lab.Up(t, "esml", 97)
	e := l.Env
	bin := buildBinary(t)
	samples := carrierSamples(labSample(t, l))
	dir := t.TempDir()
	att := filepath.Join(dir, "attachments")
	if err := os.Mkdir(att, 0o755); err != nil {
		t.Fatal(err)
	}
	swaks := []string{"swaks", "--to", "user@example.test", "--from", "alice@example.test", "--server", e["SERVER4"],
		"--h-Subject", "carriers", "--body", "see attached"}
	for name, s := range samples {
		p := filepath.Join(att, name)
		if err := os.WriteFile(p, s.body, 0o644); err != nil {
			t.Fatal(err)
		}
		swaks = append(swaks, "--attach", p)
	}
	confPath := filepath.Join(dir, "sensor.toml")
	writeConfig(t, confPath, opsConfig{spool: filepath.Join(dir, "spool"), metrics: opsMetricsAddr})
	sensor := startOnRouter(t, l, bin, confPath, 20*time.Second)

	check := func(evs []fileEvent, port int, proto string) {
		t.Helper()
		for name, s := range samples {
			ev := eventFor(evs, name, port)
			checkCarrier(t, proto+" "+name, ev, s)
			if ev != nil && ev.Network.Protocol != proto {
				t.Errorf("%s %s: network.protocol %q", proto, name, ev.Network.Protocol)
			}
		}
	}

	start := time.Now()
	l.MustExec(l.Client(), swaks...)
	check(waitFileEvents(t, sensor.outPath, allReported(samples, 25), 15*time.Second), 25, "smtp")
	t.Logf("SMTP: %d attachments sent and reported in %v", len(samples), time.Since(start).Round(time.Millisecond))

	// Delivered to the maildir dovecot serves; this lab's first message.
	inbox := filepath.Join(e["LAB_DIR"], "mail", "inbox", "new")
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ents, _ := os.ReadDir(inbox); len(ents) > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the message was not delivered")
		}
	}
	start = time.Now()
	msg := filepath.Join(dir, "fetched.eml")
	l.MustExec(l.Client(), "curl", "-sS", "--max-time", "20", "-o", msg, "imap://"+e["SERVER4"]+"/INBOX;UID=1", "-u", "user:secret")
	if b, _ := os.ReadFile(msg); !strings.Contains(string(b), "Subject: carriers") {
		t.Fatalf("IMAP fetch did not return the message: %.200s", b)
	}
	check(waitFileEvents(t, sensor.outPath, allReported(samples, 143), 15*time.Second), 143, "imap")
	t.Logf("IMAP: %d attachments fetched and reported in %v", len(samples), time.Since(start).Round(time.Millisecond))

	// A desktop client's way: the structure, then each attachment as its
	// own part (swaks: part 1 the text, then the attachments). Each is
	// reported again, named from the structure.
	start = time.Now()
	py := fmt.Sprintf(`import imaplib
m = imaplib.IMAP4(%q)
m.login("user", "secret")
m.select("INBOX", readonly=True)
typ, d = m.uid("FETCH", "1", "(UID BODYSTRUCTURE)")
assert typ == "OK" and d and d[0], d
for n in range(2, %d):
    typ, d = m.uid("FETCH", "1", "(BODY.PEEK[%%d])" %% n)
    assert typ == "OK" and d and isinstance(d[0], tuple), (n, typ, d)
m.logout()
`, e["SERVER4"], len(samples)+2)
	l.MustExec(l.Client(), "python3", "-c", py)
	twice := func(evs []fileEvent) bool {
		for name := range samples {
			if countFor(evs, name, 143) < 2 {
				return false
			}
		}
		return true
	}
	evs := waitFileEvents(t, sensor.outPath, twice, 15*time.Second)
	if !twice(evs) {
		t.Errorf("IMAP part by part: not every attachment reported a second time")
	}
	check(evs, 143, "imap") // the last event of each: the part's
	t.Logf("IMAP part by part: %d attachments fetched and reported in %v", len(samples), time.Since(start).Round(time.Millisecond))
}
