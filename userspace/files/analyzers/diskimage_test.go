package analyzers

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// The files of a FAT or NTFS volume in a VHD, a VHDX or a raw disk
// image, and of a UDF image, get the reasons the same files in an ISO
// get; what is not read is said.
func TestDiskImageReasons(t *testing.T) {
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	lure := carriers.FAT(map[string][]byte{
		"Invoice.pdf.lnk": carriers.LNK(ps, "-c x", "", true),
		"invoice.dll":     minimalPE(),
	})
	clean := carriers.FAT(map[string][]byte{"readme.txt": []byte("read me\n")})
	disk := carriers.MBRDisk(lure, 0x01)
	ntfs := make([]byte, 4096)
	copy(ntfs[3:], "NTFS    ")
	ntfs[510], ntfs[511] = 0x55, 0xAA
	exfat := make([]byte, 4096)
	copy(exfat[3:], "EXFAT   ")
	cases := []struct {
		name string
		body []byte
		want []string
		not  []string
	}{
		{"invoice.vhd", carriers.VHD(disk, false), []string{"image.downloaded", "archive.executable_inside", "archive.shortcut_inside", "lnk.runs_interpreter"}, []string{"image.incomplete"}},
		{"invoice.vhd", carriers.VHD(disk, true), []string{"archive.executable_inside", "archive.shortcut_inside"}, nil},
		{"invoice.vhdx", carriers.VHDXDisk(disk), []string{"archive.executable_inside", "archive.shortcut_inside"}, []string{"image.incomplete"}},
		{"usb.img", disk, []string{"archive.executable_inside", "archive.shortcut_inside"}, nil},
		{"floppy.img", lure, []string{"archive.executable_inside"}, nil},
		{"clean.vhdx", carriers.VHDXDisk(carriers.MBRDisk(clean, 0x01)), []string{"image.downloaded"},
			[]string{"archive.executable_inside", "archive.limit_reached", "image.volume_not_walked"}},
		{"broken-ntfs.vhd", carriers.VHD(carriers.MBRDisk(ntfs, 0x07), true), []string{"image.volume_not_walked"}, []string{"archive.executable_inside"}},
		{"exfat.vhd", carriers.VHD(carriers.MBRDisk(exfat, 0x07), false), []string{"image.volume_not_walked"}, []string{"archive.executable_inside"}},
		{"ntfs.vhdx", carriers.VHDXDisk(carriers.MBRDisk(carriers.NTFS(map[string][]byte{
			"Invoice.pdf.lnk": carriers.LNK(ps, "-c x", "", true), "invoice.dll": append(minimalPE(), make([]byte, 4096)...)}), 0x07)),
			[]string{"archive.executable_inside", "archive.shortcut_inside", "lnk.runs_interpreter"}, []string{"image.volume_not_walked", "image.incomplete"}},
		{"photos.udf", carriers.UDF(map[string][]byte{"Invoice.pdf.lnk": carriers.LNK(ps, "-c x", "", true), "invoice.dll": minimalPE()}),
			[]string{"image.downloaded", "archive.executable_inside", "archive.shortcut_inside", "lnk.runs_interpreter"}, []string{"image.incomplete"}},
		{"udf.vhdx", carriers.VHDXDisk(carriers.UDF(map[string][]byte{"a.exe": minimalPE()})), []string{"archive.executable_inside"}, []string{"image.volume_not_walked"}},
		{"empty.vhd", carriers.VHD(make([]byte, 1<<20), true), []string{"image.volume_not_walked"}, []string{"archive.executable_inside"}},
		{"cut.vhdx", carriers.VHDXDisk(disk)[:4<<20+100<<10], []string{"image.incomplete"}, nil},
	}
	for _, c := range cases {
		ty := filetype.Detect(c.body[:min(len(c.body), filetype.DeepHeadSize)], c.name, "", int64(len(c.body)))
		if ty.Category != filetype.DiskImage {
			t.Fatalf("%s: typed %+v", c.name, ty)
		}
		rs := Analyze(bytes.NewReader(c.body), int64(len(c.body)), ty, c.name, Limits{})
		checkRules(t, fmt.Sprintf("%s (%s)", c.name, ty.Kind), rs, c.want, c.not)
	}
}
