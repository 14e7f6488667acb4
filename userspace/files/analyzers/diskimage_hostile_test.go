package analyzers

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// Files nested in directories of an NTFS volume (a "$" folder, a deep
// one) and a PE inside a zip inside the volume are still typed and
// scored, the zip's inner file named through the chain; the deep
// path's cut is said (archive.limit_reached).
func TestDiskImageNested(t *testing.T) {
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	vol := carriers.NTFS(map[string][]byte{
		"$Docs/2026/Invoice.pdf.lnk":                   carriers.LNK(ps, "-c x", "", true),
		strings.Repeat("deep/", 40) + "tools/pack.zip": carriers.ZipOf(map[string][]byte{"setup.exe": minimalPE()}),
	})
	body := carriers.VHDXDisk(carriers.MBRDisk(vol, 0x07))
	ty := filetype.Detect(body[:filetype.DeepHeadSize], "photos.vhdx", "", int64(len(body)))
	rs := Analyze(bytes.NewReader(body), int64(len(body)), ty, "photos.vhdx", Limits{})
	have := map[string]string{}
	for _, r := range rs {
		have[r.Rule] += r.Text + "\n"
	}
	for _, w := range []string{"archive.shortcut_inside", "lnk.runs_interpreter", "archive.executable_inside", "archive.limit_reached"} {
		if have[w] == "" {
			t.Errorf("no %s in %+v", w, rs)
		}
	}
	if !strings.Contains(have["archive.executable_inside"], "pack.zip") {
		t.Errorf("the PE is not named through the zip: %q", have["archive.executable_inside"])
	}
}

// An ISO/UDF bridge whose ISO 9660 directory shows a decoy and whose
// UDF directory (what Windows mounts) holds the shortcut: the UDF side
// is examined too.
func TestISOUDFBridgeDivergent(t *testing.T) {
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	img := carriers.UDF(map[string][]byte{"Invoice.pdf.lnk": carriers.LNK(ps, "-c x", "", true)})
	iso := carriers.ISO(map[string][]byte{"readme.txt": []byte("nothing to see\n")})
	copy(img[16*2048:32*2048], iso[16*2048:]) // the ISO 9660 side, before the UDF descriptors at 32
	ty := filetype.Detect(img[:filetype.DeepHeadSize], "photos.iso", "", int64(len(img)))
	if ty.Kind != filetype.KindISO {
		t.Fatalf("typed %+v", ty)
	}
	rs := Analyze(bytes.NewReader(img), int64(len(img)), ty, "photos.iso", Limits{})
	have := ruleSet(rs)
	if !have["archive.shortcut_inside"] || !have["lnk.runs_interpreter"] {
		t.Fatalf("the UDF side's shortcut is not seen: %+v", rs)
	}
	// An ordinary ISO gives no UDF reasons and its files once.
	plain := carriers.ISO(map[string][]byte{"a.lnk": carriers.LNK(ps, "-c x", "", true)})
	ty = filetype.Detect(plain[:min(len(plain), filetype.DeepHeadSize)], "a.iso", "", int64(len(plain)))
	rs = Analyze(bytes.NewReader(plain), int64(len(plain)), ty, "a.iso", Limits{})
	n := 0
	for _, r := range rs {
		if r.Rule == "archive.shortcut_inside" {
			n++
		}
		if strings.HasPrefix(r.Rule, "image.") && r.Rule != "image.downloaded" {
			t.Errorf("%+v", r)
		}
	}
	if n != 1 {
		t.Errorf("%d shortcut reasons: %+v", n, rs)
	}
}

// A shortcut "compact /exe" compressed on an NTFS volume (a WOF reparse
// point: the raw $DATA is not its bytes) is judged by its name, and the
// unread content is said.
func TestDiskImageUnreadableExecutable(t *testing.T) {
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	vol := carriers.NTFS(map[string][]byte{"Invoice.pdf.lnk": carriers.LNK(ps, "-c x", "", true), "readme.txt": []byte("hello")})
	// Invoice.pdf.lnk is record 32 (MFT at cluster 16, 1 KiB records):
	// a resident $REPARSE_POINT with IO_REPARSE_TAG_WOF after its
	// attributes, inside the first 510 bytes (the fixups).
	r := vol[16*512+32*1024:][:1024]
	p := int(binary.LittleEndian.Uint16(r[20:]))
	for binary.LittleEndian.Uint32(r[p:]) != 0xFFFFFFFF {
		p += int(binary.LittleEndian.Uint32(r[p+4:]))
	}
	if p+40 > 510 {
		t.Fatalf("record too full: %d", p)
	}
	binary.LittleEndian.PutUint32(r[p:], 0xC0)
	binary.LittleEndian.PutUint32(r[p+4:], 32)
	binary.LittleEndian.PutUint32(r[p+16:], 8)
	binary.LittleEndian.PutUint16(r[p+20:], 24)
	binary.LittleEndian.PutUint32(r[p+24:], 0x80000017)
	binary.LittleEndian.PutUint32(r[p+32:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(r[24:], uint32(p+40))
	body := carriers.VHD(carriers.MBRDisk(vol, 0x07), false)
	ty := filetype.Detect(body[:filetype.DeepHeadSize], "a.vhd", "", int64(len(body)))
	rs := Analyze(bytes.NewReader(body), int64(len(body)), ty, "a.vhd", Limits{})
	have := ruleSet(rs)
	if !have["image.executable_unread"] || !have["image.incomplete"] || have["lnk.runs_interpreter"] {
		t.Fatalf("%+v", rs)
	}
}

// A OneNote section whose payload lies past MaxRead (padding first) is
// not silent: the limit is said.
func TestOneNotePastMaxRead(t *testing.T) {
	pad := bytes.Repeat([]byte{0x11}, 1<<20)
	body := append(carriers.OneNote([]byte("decoy picture")), pad...)
	body = append(body, carriers.OneNote(carriers.HTA())...)
	ty := filetype.Detect(body[:filetype.DeepHeadSize], "notes.one", "", int64(len(body)))
	for _, c := range []struct {
		maxRead int64
		want    string
	}{{1 << 19, "archive.limit_reached"}, {4 << 20, "script.hta"}} {
		rs := Analyze(bytes.NewReader(body), int64(len(body)), ty, "notes.one", Limits{MaxRead: c.maxRead})
		have := ruleSet(rs)
		if !have[c.want] {
			t.Errorf("MaxRead %d: no %s in %+v", c.maxRead, c.want, rs)
		}
	}
}
