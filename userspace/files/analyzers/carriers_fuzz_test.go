package analyzers

import (
	"bytes"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// FuzzCarriers: the carrier analyzers (shortcuts, scripts, ISO, VHD and
// VHDX images, OneNote sections, CHM, .url) never panic on any input typed as any of
// them, and stay within their limits.
func FuzzCarriers(f *testing.F) {
	kinds := []string{filetype.KindLNK, filetype.KindURL, filetype.KindPowerShell, filetype.KindHTA,
		filetype.KindISO, filetype.KindOneNote, filetype.KindCHM, filetype.KindNamedImage,
		"jpeg+zip", "png+pe", "gif+hta", filetype.KindVHD, filetype.KindVHDX}
	cats := []filetype.Category{filetype.Shortcut, filetype.Shortcut, filetype.Script, filetype.Script,
		filetype.DiskImage, filetype.Document, filetype.Document, filetype.DiskImage,
		filetype.Archive, filetype.Executable, filetype.Script, filetype.DiskImage, filetype.DiskImage}
	f.Add(carriers.LNK(`C:\Windows\System32\cmd.exe`, "/c calc", `\\h\s\i.ico`, true), uint8(0))
	f.Add([]byte("[InternetShortcut]\r\nURL=file://h/s/a.exe\r\n"), uint8(1))
	f.Add(carriers.PowerShellCradle(), uint8(2))
	f.Add(carriers.HTA(), uint8(3))
	f.Add(carriers.ISO(map[string][]byte{"a.exe": minimalPE(), "b.lnk": carriers.LNK(`C:\a.exe`, "", "", false)}), uint8(4))
	f.Add(carriers.OneNote(carriers.HTA()), uint8(5))
	f.Add(carriers.CHM(), uint8(6))
	// Polyglots: a picture, then a payload (polyglot.go).
	f.Add(carriers.PictureZip(carriers.JPEG(16, 16, 1), map[string][]byte{"a.exe": minimalPE()}), uint8(8))
	f.Add(append(carriers.PNG(8, 8, 1), minimalPE()...), uint8(9))
	f.Add(append(carriers.JPEG(8, 8, 1), carriers.HTA()...), uint8(10))
	// Disk images with a FAT volume (diskimage.go), a CHM with a stored
	// page (chm.go). VHDX seeds are megabytes (1 MiB alignment): package
	// vhdfile fuzzes its reader.
	vol := carriers.FAT(map[string][]byte{"a.lnk": carriers.LNK(`C:\a.exe`, "", "", false), "b.dll": minimalPE()})
	f.Add(carriers.VHD(vol, false), uint8(11))
	f.Add(vol, uint8(7))
	f.Add(carriers.NTFS(map[string][]byte{"a.lnk": carriers.LNK(`C:\a.exe`, "", "", false), "b.dll": minimalPE()}), uint8(7))
	f.Add(carriers.CHMShortcut(), uint8(6))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		i := int(k) % len(kinds)
		ty := filetype.Type{Kind: kinds[i], Category: cats[i]}
		Analyze(bytes.NewReader(b), int64(len(b)), ty, "f", Limits{MaxRead: 1 << 20, MaxExpand: 1 << 20, MaxEntries: 100})
	})
}
