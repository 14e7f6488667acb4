package analyzers

import (
	"bytes"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// FuzzCarriers: the carrier analyzers (shortcuts, scripts, ISO images,
// OneNote sections, CHM, .url) never panic on any input typed as any of
// them, and stay within their limits.
func FuzzCarriers(f *testing.F) {
	kinds := []string{filetype.KindLNK, filetype.KindURL, filetype.KindPowerShell, filetype.KindHTA,
		filetype.KindISO, filetype.KindOneNote, filetype.KindCHM, filetype.KindNamedImage}
	cats := []filetype.Category{filetype.Shortcut, filetype.Shortcut, filetype.Script, filetype.Script,
		filetype.DiskImage, filetype.Document, filetype.Document, filetype.DiskImage}
	f.Add(carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c calc", `\\h\s\i.ico`, true), uint8(0))
	f.Add([]byte("[InternetShortcut]\r\nURL=file://h/s/a.exe\r\n"), uint8(1))
	f.Add(carriers.PowerShellCradle(), uint8(2))
	f.Add(carriers.HTA(), uint8(3))
	f.Add(carriers.ISO(map[string][]byte{"a.exe": minimalPE(), "b.lnk": carriers.LNK(`C:\a.exe`, "", "", false)}), uint8(4))
	f.Add(carriers.OneNote(carriers.HTA()), uint8(5))
	f.Add(carriers.CHM(), uint8(6))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		testPanics = true
		defer func() { testPanics = false }()
		i := int(k) % len(kinds)
		ty := filetype.Type{Kind: kinds[i], Category: cats[i]}
		Analyze(bytes.NewReader(b), int64(len(b)), ty, "f", Limits{MaxRead: 1 << 20, MaxExpand: 1 << 20, MaxEntries: 100})
	})
}
