package files

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/pe"
	"encoding/json"
	"math/rand"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// goPE is the corpus's sample.exe: a harmless Go-built "hello" program.
func goPE(t testing.TB) []byte {
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	return append([]byte(nil), c.ToClient[bytes.Index(c.ToClient, []byte("\r\n\r\n"))+4:]...)
}

// packedPE overwrites the PE's largest section with random bytes: the
// entropy of a packed or encrypted payload.
func packedPE(t testing.TB) []byte {
	b := goPE(t)
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var big *pe.Section
	for _, s := range f.Sections {
		if big == nil || s.Size > big.Size {
			big = s
		}
	}
	rand.New(rand.NewSource(7)).Read(b[big.Offset : big.Offset+big.Size])
	return b
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, data := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestScoresOfBuiltSamples serves harmless samples built here over HTTP
// and checks the score each gets through the whole file path.
func TestScoresOfBuiltSamples(t *testing.T) {
	docm := zipOf(t, map[string][]byte{
		"[Content_Types].xml": []byte(`<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>`),
		"word/document.xml":   []byte(`<w:document/>`),
		"word/vbaProject.bin": []byte("\xd0\xcf\x11\xe0 stub Attribute VB_Name = \"ThisDocument\"\r\nSub AutoOpen()\r\nEnd Sub\r\n"),
	})
	pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	samples := []struct {
		name     string
		body     []byte
		min, max int
		rule     string
	}{
		{"eicar.com", []byte(eicar), 10, 10, "eicar"},
		{"packed.exe", packedPE(t), 6, 10, "pe.packed_section"},
		{"report.docm", docm, 8, 10, "office.autoexec_macro"},
		{"offer.pdf", pdf, 7, 10, "pdf.auto_javascript"},
		{"tools.zip", zipOf(t, map[string][]byte{"setup.exe": goPE(t)}), 7, 10, "archive.executable_inside"},
		{"photo.jpg", goPE(t), 6, 10, "name.extension_mismatch"},
		{"invoice.pdf.exe", goPE(t), 7, 10, "name.double_extension"},
		{"hello.exe", goPE(t), 0, 3, ""},
	}
	var req, resp bytes.Buffer
	for _, s := range samples {
		req.WriteString("GET /" + s.name + " HTTP/1.1\r\nHost: samples.test\r\n\r\n")
		resp.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + strconv.Itoa(len(s.body)) + "\r\n\r\n")
		resp.Write(s.body)
	}
	c := testutil.TCPConn{
		Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: req.Bytes(), ToClient: resp.Bytes(),
	}
	_, buf, _ := feedPipeline(t, nil, nil, c)
	type scored struct {
		Event struct {
			RiskScore int `json:"risk_score"`
		} `json:"event"`
		File struct {
			Name string `json:"name"`
		} `json:"file"`
		Edgesensor struct {
			Score struct {
				Verdict string `json:"verdict"`
				Reasons []struct {
					Rule string `json:"rule"`
				} `json:"reasons"`
			} `json:"score"`
		} `json:"edgesensor"`
	}
	got := map[string]scored{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e scored
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		got[e.File.Name] = e
	}
	for _, s := range samples {
		e, ok := got[s.name]
		if !ok {
			t.Errorf("%s: no event", s.name)
			continue
		}
		sc := e.Event.RiskScore
		has := s.rule == ""
		for _, r := range e.Edgesensor.Score.Reasons {
			has = has || r.Rule == s.rule
		}
		if sc < s.min || sc > s.max || !has {
			t.Errorf("%s: score %d (want %d..%d), reasons %+v, want rule %q", s.name, sc, s.min, s.max, e.Edgesensor.Score.Reasons, s.rule)
		}
	}
}

// BenchmarkScore2MBPE: scoring a 2 MB PE (a packed section and an
// overlay) once its last byte is in: the parse, metadata, static
// analyzers, intel, score; what runs on a scorer for each candidate.
func BenchmarkScore2MBPE(b *testing.B) {
	body := packedPE(b)
	body = append(body, make([]byte, 2<<20-len(body))...)
	p, _, _ := newPipeline(b, nil, nil)
	sh := p.NewShard(0).(*shard)
	fl := &flow{key: flowKey{netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80"), 0}}
	typ := filetype.Detect(body[:filetype.HeadSize], "big.exe", "", int64(len(body)))
	sp, err := os.CreateTemp(b.TempDir(), "spool")
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	sp.Write(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	var sc int
	for i := 0; i < b.N; i++ {
		f := &file{s: sh, flow: fl, meta: transfer.Meta{Protocol: transfer.HTTP, Name: "big.exe", Host: "x.test", Size: -1},
			typ: typ, want: true, spool: sp, spoolPath: sp.Name(), spoolBytes: int64(len(body)), complete: true}
		f.analyse()
		sc = f.score.Score
	}
	b.StopTimer()
	if sc < 6 {
		b.Fatalf("the packed PE scored %d", sc)
	}
}

// A decompression bomb is cut by files.max_decompressed/max_ratio, and the
// cut is a reason, not a hang.
func TestDecompressionBombIsAReason(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zeros := make([]byte, 1<<20)
	copy(zeros, "MZ")
	for i := 0; i < 64; i++ {
		zw.Write(zeros)
	}
	zw.Close()
	c := testutil.TCPConn{
		Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: []byte("GET /bomb.exe HTTP/1.1\r\nHost: x\r\n\r\n"),
		ToClient: append([]byte("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "+strconv.Itoa(z.Len())+"\r\n\r\n"), z.Bytes()...),
	}
	_, buf, _ := feedPipeline(t, nil, nil, c)
	out := buf.String()
	if !strings.Contains(out, `"cut":"bomb"`) || !strings.Contains(out, `"rule":"file.decompression_bomb"`) {
		t.Errorf("gzip bomb: %s", out)
	}
}
