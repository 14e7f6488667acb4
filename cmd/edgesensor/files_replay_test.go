package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// fileEvent is the part of an edgesensor.file event the tests read.
type fileEvent struct {
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Source      endpoint `json:"source"`
	Destination endpoint `json:"destination"`
	Network     struct {
		Protocol string `json:"protocol"`
		Type     string `json:"type"`
	} `json:"network"`
	File struct {
		Name     string `json:"name"`
		Size     int64  `json:"size"`
		MimeType string `json:"mime_type"`
		Hash     *struct {
			SHA256 string `json:"sha256"`
			SHA1   string `json:"sha1"`
			MD5    string `json:"md5"`
		} `json:"hash"`
	} `json:"file"`
	URL *struct {
		Original string `json:"original"`
	} `json:"url"`
	UserAgent *struct {
		Original string `json:"original"`
	} `json:"user_agent"`
	HTTP *struct {
		Request struct {
			Method string `json:"method"`
		} `json:"request"`
	} `json:"http"`
	Email *struct {
		From *struct {
			Address []string `json:"address"`
		} `json:"from"`
		To *struct {
			Address []string `json:"address"`
		} `json:"to"`
		Subject string `json:"subject"`
	} `json:"email"`
	Edgesensor struct {
		File struct {
			Category            string `json:"category"`
			Kind                string `json:"kind"`
			Complete            bool   `json:"complete"`
			Cut                 string `json:"cut"`
			MissingBytes        int64  `json:"missing_bytes"`
			MissingEncodedBytes int64  `json:"missing_encoded_bytes"`
			Mismatch            bool   `json:"mismatch"`
			ContentEncoding     string `json:"content_encoding"`
			Direction           string `json:"direction"`
			ProxyTunnel         string `json:"proxy_tunnel"`
		} `json:"file"`
		SMTP *struct {
			MailFrom string   `json:"mail_from"`
			RcptTo   []string `json:"rcpt_to"`
		} `json:"smtp"`
		Score *eventScore `json:"score"`
	} `json:"edgesensor"`
}

// eventScore is an event's edgesensor.score.
type eventScore struct {
	Verdict string `json:"verdict"`
	Reasons []struct {
		Rule   string `json:"rule"`
		Weight int    `json:"weight"`
	} `json:"reasons"`
}

// has says whether the score gave this reason (no score gave none).
func (s *eventScore) has(rule string) bool {
	if s == nil {
		return false
	}
	for _, r := range s.Reasons {
		if r.Rule == rule {
			return true
		}
	}
	return false
}

func parseFileEvents(t *testing.T, out []byte) []fileEvent {
	t.Helper()
	var evs []fileEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e fileEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, sc.Text())
		}
		if e.Event.Dataset == "edgesensor.file" {
			evs = append(evs, e)
		}
	}
	return evs
}

// replayFiles replays captures through the command and returns its file
// events and --stats analysis counts.
func replayFiles(t *testing.T, extra []string, pcaps ...string) ([]fileEvent, map[string]uint64) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append([]string{"replay", "--stats"}, extra...)
	if err := run(context.Background(), append(args, pcaps...), &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	var st struct {
		Analysis map[string]uint64 `json:"analysis"`
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil {
		t.Fatalf("--stats: %v\n%s", err, stderr.String())
	}
	return parseFileEvents(t, stdout.Bytes()), st.Analysis
}

// spoolConfig writes a config whose spool is the test's own directory,
// and checks after the test that no spooled file is left behind.
func spoolConfig(t *testing.T, extra string) []string {
	t.Helper()
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	cfg := filepath.Join(dir, "sensor.toml")
	if err := os.WriteFile(cfg, []byte("[files]\nspool_dir = \""+spool+"\"\n"+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ents, _ := os.ReadDir(spool)
		if len(ents) > 0 {
			t.Errorf("spool not empty after the replay: %d files", len(ents))
		}
	})
	return []string{"-c", cfg}
}

// checkTruth: every file of the truth is reported whole with its SHA-256
// and name, and no not_file is reported.
func checkTruth(t *testing.T, name string, tr testutil.Truth, evs []fileEvent) {
	t.Helper()
	bySHA := map[string][]fileEvent{}
	for _, e := range evs {
		if e.File.Hash != nil {
			bySHA[e.File.Hash.SHA256] = append(bySHA[e.File.Hash.SHA256], e)
		}
	}
	for _, w := range tr.Files {
		got := bySHA[w.SHA256]
		if len(got) == 0 {
			t.Errorf("%s: %s (%s) not reported whole", name, w.Name, w.SHA256[:12])
			continue
		}
		ok := false
		for _, e := range got {
			if e.File.Name == w.Name && e.File.Size == w.Size && e.Edgesensor.File.Complete {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s: %s: events %+v", name, w.Name, got)
		}
	}
	for _, w := range tr.NotFiles {
		if len(bySHA[w.SHA256]) > 0 {
			t.Errorf("%s: non-candidate %s reported", name, w.Name)
		}
		for _, e := range evs {
			if e.File.Name == w.Name {
				t.Errorf("%s: non-candidate %s reported (incomplete)", name, w.Name)
			}
		}
	}
}

func TestPrivilegedReplayCorpusFiles(t *testing.T) {
	testutil.RequireBPF(t)
	pcaps, _ := filepath.Glob("../../testdata/corpus/*.pcap")
	evs, stats := replayFiles(t, spoolConfig(t, ""), pcaps...)
	want := 0
	for _, p := range pcaps {
		tr := testutil.ReadTruth(t, strings.TrimSuffix(p, ".pcap")+".truth.json")
		want += len(tr.Files)
		checkTruth(t, filepath.Base(p), tr, evs)
	}
	if len(evs) != want {
		for _, e := range evs {
			t.Logf("event: %s %d %s %+v", e.File.Name, e.File.Size, e.File.MimeType, e.Edgesensor.File)
		}
		t.Errorf("%d file events, the corpus has %d files", len(evs), want)
	}
	if stats["file_events"] != uint64(want) {
		t.Errorf("stats file_events %d, want %d", stats["file_events"], want)
	}
	for _, e := range evs {
		switch e.Network.Protocol {
		case "http":
			if e.URL == nil || e.HTTP == nil || e.HTTP.Request.Method != "GET" || !strings.HasSuffix(e.URL.Original, "/"+e.File.Name) {
				t.Errorf("%s: url/method %+v %+v", e.File.Name, e.URL, e.HTTP)
			}
		case "smtp":
			if e.Email == nil || e.Email.From == nil || e.Edgesensor.SMTP == nil || e.Edgesensor.SMTP.MailFrom == "" ||
				len(e.Edgesensor.SMTP.RcptTo) == 0 || e.Edgesensor.File.Direction != "upload" {
				t.Errorf("%s: mail fields %+v %+v", e.File.Name, e.Email, e.Edgesensor.SMTP)
			}
		default:
			t.Errorf("%s: protocol %q", e.File.Name, e.Network.Protocol)
		}
		if e.Source.Port == 80 || e.Source.Port == 25 {
			t.Errorf("%s: source is the server", e.File.Name)
		}
	}
	// Typing: the content decides, as the names in the corpus say.
	for _, e := range evs {
		want := map[string]string{"eicar.com": "executable", "report.pdf": "document", "letter.docx": "document",
			"archive.zip": "archive", "setup.bin": "executable", "tool_linux": "executable", "sample.exe": "executable",
			"invoice.pdf.exe": "executable"}[e.File.Name]
		if want != "" && e.Edgesensor.File.Category != want {
			t.Errorf("%s: category %q, want %q", e.File.Name, e.Edgesensor.File.Category, want)
		}
	}
	// The keep-alive capture's text and JPEG are non-candidates.
	if stats["file_non_candidates"] < 2 {
		t.Errorf("non-candidates %d, want at least 2", stats["file_non_candidates"])
	}
}

// packet is one record of a capture.
type packet struct {
	ci   gopacket.CaptureInfo
	data []byte
	tcp  *layers.TCP // nil when not TCP
}

func readPcap(t *testing.T, path string) ([]packet, layers.LinkType) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []packet
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := packet{ci: ci, data: data}
		gp := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if l := gp.Layer(layers.LayerTypeTCP); l != nil {
			p.tcp = l.(*layers.TCP)
		}
		pkts = append(pkts, p)
	}
	return pkts, r.LinkType()
}

func writePcap(t *testing.T, path string, lt layers.LinkType, pkts []packet) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, lt); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := p.ci
		ci.CaptureLength, ci.Length = len(p.data), len(p.data)
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
}

func hasData(p packet) bool { return p.tcp != nil && len(p.tcp.Payload) > 0 }

// TestPrivilegedReplayMangledCaptures: segments reordered and duplicated
// still give the exact files; a dropped segment gives complete: false
// with the number of missing bytes, and no hash.
func TestPrivilegedReplayMangledCaptures(t *testing.T) {
	testutil.RequireBPF(t)
	dir := t.TempDir()
	cfg := spoolConfig(t, "")
	for _, name := range []string{"http_keepalive", "http_gzip_chunked", "smtp_attach", "http_exe"} {
		src := "../../testdata/corpus/" + name + ".pcap"
		tr := testutil.ReadTruth(t, "../../testdata/corpus/"+name+".truth.json")
		pkts, lt := readPcap(t, src)
		rng := rand.New(rand.NewSource(int64(len(pkts))))

		// Reordered: runs of up to 6 data segments of one direction
		// shuffled. (A response never overtakes its request past a
		// sensor between the two: the order across directions stays.)
		re := append([]packet(nil), pkts...)
		for i := 0; i < len(re); {
			j := i
			for j < len(re) && j-i < 6 && hasData(re[j]) && re[j].tcp.SrcPort == re[i].tcp.SrcPort {
				j++
			}
			if j-i > 1 {
				rng.Shuffle(j-i, func(a, b int) { re[i+a], re[i+b] = re[i+b], re[i+a] })
			}
			i = max(j, i+1)
		}
		// Duplicated: every fifth data segment twice, the copy a few
		// packets later.
		var dup []packet
		var pending []packet
		n := 0
		for _, p := range pkts {
			dup = append(dup, p)
			if len(pending) > 0 && rng.Intn(3) == 0 {
				dup = append(dup, pending[0])
				pending = pending[1:]
			}
			if hasData(p) {
				if n++; n%5 == 0 {
					pending = append(pending, p)
				}
			}
		}
		dup = append(dup, pending...)
		for _, v := range []struct {
			kind string
			pkts []packet
		}{{"reordered", re}, {"duplicated", dup}} {
			out := filepath.Join(dir, name+"-"+v.kind+".pcap")
			writePcap(t, out, lt, v.pkts)
			evs, _ := replayFiles(t, cfg, out)
			checkTruth(t, filepath.Base(out), tr, evs)
			if _, err := exec.LookPath("tshark"); err == nil && strings.HasPrefix(name, "http") {
				// tshark on the same mangled capture: every whole file it
				// exports we report too, and it must not do better on
				// the truth than we do.
				ours := map[string]bool{}
				for _, e := range evs {
					if e.File.Hash != nil {
						ours[e.File.Hash.SHA256] = true
					}
				}
				theirs, wrong := map[string]bool{}, 0
				for _, o := range tsharkObjects(t, out) {
					switch {
					case truthHas(tr, o.sha256):
						theirs[o.sha256] = true
						if !ours[o.sha256] {
							t.Errorf("%s: tshark exported %s (%s) whole, we did not", filepath.Base(out), o.name, o.kind)
						}
					case !ours[o.sha256]:
						wrong++ // bytes that are no file of the capture
					}
				}
				t.Logf("%s: tshark exports %d of the %d truth files whole and %d objects with wrong bytes; we report all of them (checkTruth)",
					filepath.Base(out), len(theirs), len(tr.Files), wrong)
			}
		}

		// Dropped: one full-size data segment from the middle of the
		// largest transfer.
		var big []int
		for i, p := range pkts {
			if hasData(p) && len(p.tcp.Payload) >= 1000 {
				big = append(big, i)
			}
		}
		drop := big[len(big)/2]
		lost := int64(len(pkts[drop].tcp.Payload))
		dr := append(append([]packet(nil), pkts[:drop]...), pkts[drop+1:]...)
		out := filepath.Join(dir, name+"-dropped.pcap")
		writePcap(t, out, lt, dr)
		evs, _ := replayFiles(t, cfg, out)
		cut := 0
		for _, e := range evs {
			if e.Edgesensor.File.Complete {
				continue
			}
			cut++
			if e.File.Hash != nil {
				t.Errorf("%s: incomplete %s carries a hash", name, e.File.Name)
			}
			// A dropped identity-coded byte range is counted exactly; in
			// an encoded one (gzip, base64) the file bytes it held cannot
			// be counted: the encoded bytes lost are.
			identity := name == "http_keepalive" || name == "http_exe"
			f := e.Edgesensor.File
			if f.Cut != "gap" || identity && f.MissingBytes != lost || !identity && (f.MissingBytes != 0 || f.MissingEncodedBytes <= 0 || f.MissingEncodedBytes > lost) {
				t.Errorf("%s: %s missing %d bytes (%d encoded), %d were dropped", name, e.File.Name, f.MissingBytes, f.MissingEncodedBytes, lost)
			}
		}
		if cut != 1 {
			t.Errorf("%s with one segment dropped: %d incomplete files, want 1: %+v", name, cut, evs)
		}
		whole := 0
		for _, e := range evs {
			if e.Edgesensor.File.Complete {
				whole++
			}
		}
		if whole != len(tr.Files)-1 {
			t.Errorf("%s with one segment dropped: %d whole files, want %d", name, whole, len(tr.Files)-1)
		}
	}
}

// TestPrivilegedReplayVersusTshark: every candidate object tshark
// exports from the captures is among our files, byte for byte.
func TestPrivilegedReplayVersusTshark(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	pcaps, _ := filepath.Glob("../../testdata/corpus/http_*.pcap")
	evs, _ := replayFiles(t, spoolConfig(t, ""), pcaps...)
	ours := map[string]bool{}
	for _, e := range evs {
		if e.File.Hash != nil {
			ours[e.File.Hash.SHA256] = true
		}
	}
	for _, p := range pcaps {
		objs := tsharkObjects(t, p)
		if len(objs) == 0 {
			t.Fatalf("tshark exported nothing from %s", p)
		}
		for _, o := range objs {
			if !ours[o.sha256] {
				t.Errorf("%s: tshark exported %s (%s, %d bytes), we did not report it", filepath.Base(p), o.name, o.kind, o.size)
			}
		}
	}
}

type tsharkObject struct {
	name, kind, sha256 string
	size               int
}

// tsharkObjects returns the candidates (by our typing) that
// tshark --export-objects http writes from a capture.
func tsharkObjects(t *testing.T, pcap string) []tsharkObject {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("tshark", "-n", "-r", pcap, "-Q", "--export-objects", "http,"+dir).CombinedOutput(); err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	ents, _ := os.ReadDir(dir)
	var objs []tsharkObject
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		typ := filetype.Detect(b[:min(len(b), filetype.HeadSize)], ent.Name(), "", int64(len(b)))
		if typ.Category == filetype.None {
			continue
		}
		sum := sha256.Sum256(b)
		objs = append(objs, tsharkObject{ent.Name(), typ.Kind, hex.EncodeToString(sum[:]), len(b)})
	}
	return objs
}

func truthHas(tr testutil.Truth, sha string) bool {
	for _, f := range tr.Files {
		if f.SHA256 == sha {
			return true
		}
	}
	return false
}
