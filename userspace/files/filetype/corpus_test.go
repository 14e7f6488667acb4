package filetype

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// wireFile is one HTTP body cut from a corpus capture.
type wireFile struct {
	name, claimed string
	body          []byte
}

// httpBodies cuts the plain Content-Length responses of every connection
// of a capture, naming each by its request's path. The parse is minimal
// on purpose: the corpus servers answer GETs with Content-Length only.
func httpBodies(t testing.TB, pcap string) []wireFile {
	t.Helper()
	var out []wireFile
	for _, c := range testutil.TCPConns(t, pcap) {
		var names []string
		for _, line := range strings.Split(string(c.ToServer), "\r\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "GET" && strings.HasPrefix(f[2], "HTTP/") {
				names = append(names, filepath.Base(f[1]))
			}
		}
		s := c.ToClient
		for i := 0; len(s) > 0; i++ {
			end := bytes.Index(s, []byte("\r\n\r\n"))
			if end < 0 || !bytes.HasPrefix(s, []byte("HTTP/1.")) {
				t.Fatalf("%s: response %d: no header", pcap, i)
			}
			n, ctype := -1, ""
			for _, h := range strings.Split(string(s[:end]), "\r\n")[1:] {
				k, v, _ := strings.Cut(h, ":")
				switch strings.ToLower(k) {
				case "content-length":
					n, _ = strconv.Atoi(strings.TrimSpace(v))
				case "content-type":
					ctype = strings.TrimSpace(v)
				}
			}
			s = s[end+4:]
			if n < 0 || n > len(s) || i >= len(names) {
				t.Fatalf("%s: response %d: bad length %d (%d left, %d requests)", pcap, i, n, len(s), len(names))
			}
			out = append(out, wireFile{names[i], ctype, s[:n]})
			s = s[n:]
		}
	}
	return out
}

var (
	corpusOnce  sync.Once
	corpusFiles map[string]wireFile
)

// corpus returns the files of http_keepalive and http_exe by name, each
// checked against the capture's truth (SHA-256), so a wrong cut fails
// here and not as a confusing typing error later.
func corpus(t testing.TB) map[string]wireFile {
	t.Helper()
	corpusOnce.Do(func() {
		m := map[string]wireFile{}
		for _, p := range []string{"http_keepalive", "http_exe"} {
			base := "../../../testdata/corpus/" + p
			truth := testutil.ReadTruth(t, base+".truth.json")
			files := httpBodies(t, base+".pcap")
			want := append(append([]testutil.FileTruth{}, truth.Files...), truth.NotFiles...)
			if len(files) != len(want) {
				t.Fatalf("%s: %d bodies, truth has %d files", p, len(files), len(want))
			}
			for _, f := range files {
				sum := sha256.Sum256(f.body)
				found := false
				for _, w := range want {
					if w.Name == f.name {
						found = true
						if got := hex.EncodeToString(sum[:]); got != w.SHA256 {
							t.Fatalf("%s: %s: sha256 %s, truth %s", p, f.name, got, w.SHA256)
						}
					}
				}
				if !found {
					t.Fatalf("%s: %s not in truth", p, f.name)
				}
				m[f.name] = f
			}
		}
		corpusFiles = m
	})
	if corpusFiles == nil {
		t.Fatal("corpus not loaded")
	}
	return corpusFiles
}

func head(b []byte) []byte { return b[:min(len(b), HeadSize)] }

func TestCorpusDetect(t *testing.T) {
	files := corpus(t)
	cases := []struct {
		name     string
		cat      Category
		kind     string
		mime     string
		mismatch bool
	}{
		{"eicar.com", Executable, KindEICAR, "text/plain", false},
		{"report.pdf", Document, KindPDF, "application/pdf", false},
		{"letter.docx", Document, KindDOCX, mimeDOCX, false},
		{"archive.zip", Archive, KindZip, "application/zip", false},
		{"setup.bin", Executable, KindPE, mimePE, false},
		// Served as text/plain: the claim mismatches the content.
		{"tool_linux", Executable, KindELF, "application/x-executable", true},
		{"notes.txt", None, "", "text/plain", false},
		{"photo.jpg", None, "", "image/jpeg", false},
		{"sample.exe", Executable, KindPE, mimePE, false},
	}
	for _, c := range cases {
		f, ok := files[c.name]
		if !ok {
			t.Fatalf("%s: not in the captures", c.name)
		}
		got := Detect(head(f.body), f.name, f.claimed, int64(len(f.body)))
		if got.Category != c.cat || got.Kind != c.kind || got.MIME != c.mime || got.Mismatch != c.mismatch {
			t.Errorf("%s (claimed %s): got %+v, want %v/%q mime %q mismatch %v",
				c.name, f.claimed, got, c.cat, c.kind, c.mime, c.mismatch)
		}
		if (got.Category != None) != (got.Reason != "") {
			t.Errorf("%s: reason %q for category %v", c.name, got.Reason, got.Category)
		}
		// Without the size (a chunked body), the answer is the same.
		if again := Detect(head(f.body), f.name, f.claimed, -1); again != got {
			t.Errorf("%s: size unknown: %+v, with size %+v", c.name, again, got)
		}
	}
}

// writeTemp spools a body the way the pipeline does, for MetadataFile.
func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
