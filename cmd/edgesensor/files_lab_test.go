package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/edgesensor/edgesensor/internal/lab"
)

// fileTraffic makes the HTTP file transfers of the lab run: gzip and
// chunked from nginx, a keep-alive connection whose first body is a large
// non-candidate, and IPv6.
func fileTraffic(t *testing.T, l *lab.Lab) {
	t.Helper()
	e := l.Env
	s4, s6 := e["SERVER4"], e["SERVER6"]
	c := l.Client()
	get := func(args ...string) {
		t.Helper()
		out := l.MustExec(c, append([]string{"curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-o", "/dev/null",
			"-w", "%{http_code} %{num_connects}\n"}, args...)...)
		t.Logf("curl %v: %s", args, out)
	}
	// nginx compresses on 8080: Content-Encoding gzip, chunked.
	get("--compressed", "-H", "User-Agent: lab-gzip", "http://"+s4+":8080/sample.exe")
	// One connection: 8 MiB of video first (SKIP keeps it in the kernel),
	// then the executable.
	get("-H", "User-Agent: lab-keepalive", "http://"+s4+"/video.mp4", "http://"+s4+"/report.pdf")
	get("-6", "-H", "User-Agent: lab-ipv6", "http://["+s6+"]/sample.exe")
	// One connection, three ranges in order (a resumed or segmented
	// download): one file.
	st, err := os.Stat(filepath.Join(e["LAB_DIR"], "www", "sample.exe"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := st.Size()/5, st.Size()/2
	r := func(lo, hi int64) string {
		if hi < 0 {
			return strconv.FormatInt(lo, 10) + "-"
		}
		return strconv.FormatInt(lo, 10) + "-" + strconv.FormatInt(hi, 10)
	}
	out := l.MustExec(c, "curl", "-sS", "--max-time", "20", "-H", "User-Agent: lab-ranges",
		"-r", r(0, a-1), "-o", "/dev/null", "http://"+s4+"/sample.exe", "--next",
		"-H", "User-Agent: lab-ranges", "-r", r(a, b-1), "-o", "/dev/null", "http://"+s4+"/sample.exe", "--next",
		"-H", "User-Agent: lab-ranges", "-r", r(b, -1), "-o", "/dev/null", "-w", "%{http_code} %{num_connects}", "http://"+s4+"/sample.exe")
	if out != "206 0" {
		t.Fatalf("ranged download: %q, want one connection of 206s", out)
	}
}

// checkLabFiles checks the file events of the lab run against the files
// the servers hold.
func checkLabFiles(t *testing.T, l *lab.Lab, out []byte, errPath string) {
	t.Helper()
	e := l.Env
	exe, pdf := sampleSHA(t, l), sha256File(t, filepath.Join(e["LAB_DIR"], "www", "report.pdf"))
	evs := parseFileEvents(t, out)
	found := func(what, sha, protocol string, match func(fileEvent) bool) *fileEvent {
		for i := range evs {
			ev := &evs[i]
			if ev.Network.Protocol == protocol && ev.File.Hash != nil && ev.File.Hash.SHA256 == sha && match(*ev) {
				return ev
			}
		}
		t.Errorf("%s: no whole %s file with sha256 %s", what, protocol, sha[:12])
		return nil
	}
	anyEvent := func(fileEvent) bool { return true }
	port := func(p int) func(fileEvent) bool {
		return func(ev fileEvent) bool { return ev.Destination.Port == p && ev.Network.Type == "ipv4" }
	}
	if ev := found("plain HTTP", exe, "http", port(80)); ev != nil {
		if ev.Edgesensor.File.Category != "executable" || ev.File.Name != "sample.exe" || ev.Edgesensor.File.Direction != "download" {
			t.Errorf("plain HTTP: %+v", ev)
		}
		if ev.Source.IP != e["CLIENT4"] {
			t.Errorf("plain HTTP: source %+v is not the client", ev.Source)
		}
	}
	if ev := found("gzip + chunked", exe, "http", port(8080)); ev != nil && ev.Edgesensor.File.ContentEncoding != "gzip" {
		t.Errorf("gzip: content_encoding %q", ev.Edgesensor.File.ContentEncoding)
	}
	found("keep-alive after a large non-candidate", pdf, "http", port(80))
	found("IPv6", exe, "http", func(ev fileEvent) bool { return ev.Network.Type == "ipv6" })
	found("ranges joined", exe, "http", func(ev fileEvent) bool { return ev.UserAgent != nil && ev.UserAgent.Original == "lab-ranges" })
	for _, proto := range []string{"smtp", "imap"} {
		for _, sha := range []string{exe, pdf} {
			ev := found("mail attachment", sha, proto, anyEvent)
			if ev == nil {
				continue
			}
			if ev.Email == nil || ev.Email.Subject != "lab" || ev.Email.From == nil || len(ev.Email.From.Address) == 0 ||
				ev.Email.From.Address[0] != "alice@example.test" {
				t.Errorf("%s: email fields %+v", proto, ev.Email)
			}
		}
	}
	// IMAP part sections: the exe by BODY.PEEK[2] after a BODYSTRUCTURE
	// (named), the PDF by BINARY.PEEK[3] (named) and by curl's SECTION=3
	// (no structure: unnamed, typed by content); with the whole message
	// fetched at once and in pieces, three and four events.
	named := map[string]int{}
	all := map[string]int{}
	for _, ev := range evs {
		if ev.Network.Protocol != "imap" || ev.File.Hash == nil {
			continue
		}
		all[ev.File.Hash.SHA256]++
		if ev.File.Name == "sample.exe" || ev.File.Name == "report.pdf" {
			named[ev.File.Hash.SHA256]++
			// Parts fetched alone carry the ENVELOPE's sender and subject.
			if ev.Email == nil || ev.Email.Subject != "lab" || ev.Email.From == nil || len(ev.Email.From.Address) == 0 ||
				ev.Email.From.Address[0] != "alice@example.test" {
				t.Errorf("IMAP %s without its mail context: %+v", ev.File.Name, ev.Email)
			}
		}
	}
	if all[exe] != 3 || named[exe] != 3 || all[pdf] != 4 || named[pdf] != 3 {
		b, _ := os.ReadFile(errPath)
		t.Errorf("IMAP files: exe %d (%d named), pdf %d (%d named); want 3 (3), 4 (3); counters %s", all[exe], named[exe], all[pdf], named[pdf],
			regexp.MustCompile(`"(imap|mime)_[a-z_]+":[1-9]\d*`).FindAll(b, -1))
	}
	for _, ev := range evs {
		if !ev.Edgesensor.File.Complete {
			t.Errorf("incomplete file in the lab: %+v", ev)
		}
	}
	// The video's body stayed in the kernel.
	b, _ := os.ReadFile(errPath)
	m := regexp.MustCompile(`"file_verdict_skip":(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Errorf("no file_verdict_skip in the stop log:\n%s", b)
	} else if n, _ := strconv.Atoi(string(m[1])); n < 1 {
		t.Errorf("no SKIP verdict for the 8 MiB non-candidate body")
	}
}
