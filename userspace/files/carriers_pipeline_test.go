package files

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strconv"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

// The carriers of today's malware, served one after another on one
// keep-alive HTTP connection as a lure site would: each is reported
// whole, with its category, its kind and the SHA-256 of the original,
// through the whole file path (the ISO's type read from the deeper head
// the sink keeps for an empty system area).
func TestCarriersOverKeepAlive(t *testing.T) {
	pe := goPE(t)
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	samples := []struct {
		name, claimed, category, kind string
		body                          []byte
		rule                          string
	}{
		{"invoice.iso", "application/octet-stream", "disk_image", "iso9660", carriers.ISO(map[string][]byte{"invoice.exe": pe}), "archive.executable_inside"},
		{"disk.vhdx", "application/octet-stream", "disk_image", "vhdx", carriers.VHDX()[:256<<10], "image.downloaded"},
		{"invoice.pdf.lnk", "application/octet-stream", "shortcut", "lnk", carriers.LNK(ps, "-w hidden -c calc", "", true), "lnk.runs_interpreter"},
		{"notes.one", "application/onenote", "document", "onenote", carriers.OneNote(carriers.HTA()), "onenote.embedded_file"},
		{"help.chm", "application/octet-stream", "document", "chm", carriers.CHM(), "chm.downloaded"},
		{"invoice.hta", "application/hta", "script", "hta", carriers.HTA(), "script.hta"},
		{"update.ps1", "application/octet-stream", "script", "powershell", carriers.PowerShellCradle(), "script.download_cradle"},
		{"photo.jpg", "image/jpeg", "shortcut", "lnk", carriers.LNK(ps, "-c x", "", false), "name.extension_mismatch"},
	}
	var req, resp bytes.Buffer
	for _, s := range samples {
		req.WriteString("GET /" + s.name + " HTTP/1.1\r\nHost: lure.test\r\n\r\n")
		resp.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + s.claimed + "\r\nContent-Length: " + strconv.Itoa(len(s.body)) + "\r\n\r\n")
		resp.Write(s.body)
	}
	c := testutil.TCPConn{
		Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: req.Bytes(), ToClient: resp.Bytes(),
	}
	_, buf, _ := feedPipeline(t, nil, nil, c)
	// polyEvent carries every field checked here (polyglot_test.go).
	got := polyEvents(t, buf)
	for _, s := range samples {
		e, ok := got[s.name]
		if !ok {
			t.Errorf("%s: no event", s.name)
			continue
		}
		sum := sha256.Sum256(s.body)
		f := e.Edgesensor.File
		if f.Category != s.category || f.Kind != s.kind || !f.Complete || e.File.Hash.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %s/%s complete %v sha256 %s", s.name, f.Category, f.Kind, f.Complete, e.File.Hash.SHA256)
		}
		has := false
		for _, r := range e.Edgesensor.Score.Reasons {
			has = has || r.Rule == s.rule
		}
		if !has {
			t.Errorf("%s: no %s in %+v", s.name, s.rule, e.Edgesensor.Score.Reasons)
		}
	}
}
