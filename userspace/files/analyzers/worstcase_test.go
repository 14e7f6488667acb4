package analyzers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// TestContainerWorstCase runs every input of the container readers' fuzz
// corpora (the seeds in testdata/fuzz and what the fuzzer kept in
// GOCACHE/fuzz) through the analyzers with the default limits, typed as
// the container its reader parses, and reports the slowest input of
// each corpus. It is a measurement: set EDGESENSOR_WORSTCASE=1 to run
// it. It fails when one input takes more than worstCaseMax.
//
//	EDGESENSOR_WORSTCASE=1 go test ./userspace/files/analyzers/ -run TestContainerWorstCase -v -count=1
func TestContainerWorstCase(t *testing.T) {
	if os.Getenv("EDGESENSOR_WORSTCASE") == "" {
		t.Skip("a measurement: EDGESENSOR_WORSTCASE=1 runs it")
	}
	const worstCaseMax = 2 * time.Second
	cache := os.Getenv("GOCACHE")
	if cache == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(dir, "go-build")
		}
	}
	const mod = "github.com/edgesensor/edgesensor/userspace/files/"
	corpora := []struct {
		pkg, target string
		kinds       []filetype.Type
	}{
		{"formats/isofile", "FuzzParse", []filetype.Type{{Kind: filetype.KindISO, Category: filetype.DiskImage}}},
		{"formats/lnkfile", "FuzzParse", []filetype.Type{{Kind: filetype.KindLNK, Category: filetype.Shortcut}}},
		{"formats/onenote", "FuzzScan", []filetype.Type{{Kind: filetype.KindOneNote, Category: filetype.Document}}},
		{"formats/chmfile", "FuzzParse", []filetype.Type{{Kind: filetype.KindCHM, Category: filetype.Document}}},
		{"formats/vhdfile", "FuzzOpen", []filetype.Type{{Kind: filetype.KindVHD, Category: filetype.DiskImage}}},
		{"formats/fatfs", "FuzzOpen", []filetype.Type{{Kind: filetype.KindNamedImage, Category: filetype.DiskImage}}},
		{"formats/ntfsfs", "FuzzOpen", []filetype.Type{{Kind: filetype.KindNamedImage, Category: filetype.DiskImage}}},
		{"formats/partition", "FuzzRead", []filetype.Type{{Kind: filetype.KindNamedImage, Category: filetype.DiskImage}}},
		{"analyzers", "FuzzCarriers", []filetype.Type{{Kind: filetype.KindVHD, Category: filetype.DiskImage},
			{Kind: filetype.KindCHM, Category: filetype.Document}, {Kind: filetype.KindOneNote, Category: filetype.Document}}},
	}
	// The builders' samples too (the fuzz seeds made in code), larger
	// than what the fuzzer keeps.
	built := t.TempDir()
	big := bytes.Repeat(minimalPE(), 8<<10) // 4 MiB
	vol := carriers.FAT(map[string][]byte{"a.lnk": carriers.LNK(`C:\a.exe`, "", "", false), "b.dll": big})
	// Many small executables: every one typed and analysed.
	many, manyCHM := map[string][]byte{}, map[string][]byte{}
	for i := 0; i < 3000; i++ {
		many[fmt.Sprintf("f%04d.exe", i)] = minimalPE()
		manyCHM[fmt.Sprintf("/f%04d.exe", i)] = minimalPE()
	}
	// A FAT32 volume claiming a 1 GiB FAT on a sparse 64 MiB disk: the
	// reader reads fatfs.MaxFATBytes of it (zeros from the VHDX).
	sparse := make([]byte, 64<<20)
	bs := sparse[128*512:]
	copy(bs, []byte{0xEB, 0x58, 0x90})
	binary.LittleEndian.PutUint16(bs[11:], 512)
	bs[13], bs[14], bs[16] = 1, 32, 1
	binary.LittleEndian.PutUint32(bs[32:], 0xFFFFFFF0)
	binary.LittleEndian.PutUint32(bs[36:], 1<<21)
	binary.LittleEndian.PutUint32(bs[44:], 2)
	sparse[446+4], sparse[446+8], sparse[446+13], sparse[510], sparse[511] = 0x0C, 128, 0xFF, 0x55, 0xAA
	for name, b := range map[string][]byte{
		"fat32-huge-fat": carriers.VHDXDisk(sparse),
		"fat-3000-pe":    carriers.VHD(carriers.FAT(many), false), "chm-3000-pe": carriers.CHMWith(manyCHM),
		"vhd-dynamic": carriers.VHD(carriers.MBRDisk(vol, 0x06), true), "vhdx": carriers.VHDXDisk(carriers.MBRDisk(vol, 0x06)),
		"chm":     carriers.CHMWith(map[string][]byte{"/a.exe": big, "/index.html": carriers.HTA()}),
		"onenote": carriers.OneNote(big), "ntfs-vhdx": carriers.VHDXDisk(carriers.MBRDisk(carriers.NTFS(many), 0x07)),
		"udf": carriers.UDF(many), "iso": carriers.ISO(map[string][]byte{"a.exe": big}),
	} {
		os.WriteFile(filepath.Join(built, name), []byte("go test fuzz v1\n[]byte("+strconv.Quote(string(b))+")\n"), 0o644)
	}
	corpora = append(corpora, struct {
		pkg, target string
		kinds       []filetype.Type
	}{"(builders)", built, []filetype.Type{{Kind: filetype.KindVHD, Category: filetype.DiskImage},
		{Kind: filetype.KindCHM, Category: filetype.Document}, {Kind: filetype.KindOneNote, Category: filetype.Document},
		{Kind: filetype.KindISO, Category: filetype.DiskImage}}})
	for _, c := range corpora {
		var files []string
		if c.pkg == "(builders)" {
			files, _ = filepath.Glob(filepath.Join(c.target, "*"))
		}
		for _, dir := range []string{filepath.Join("..", strings.TrimPrefix(c.pkg, "analyzers"), "testdata", "fuzz", c.target),
			filepath.Join(cache, "fuzz", mod+c.pkg, c.target)} {
			m, _ := filepath.Glob(filepath.Join(dir, "*"))
			files = append(files, m...)
		}
		var worst time.Duration
		var worstFile string
		var worstSize int
		n := 0
		for _, f := range files {
			b := corpusBytes(f)
			if b == nil {
				continue
			}
			n++
			for _, ty := range c.kinds {
				// The best of three: the machine is shared.
				best := time.Duration(1 << 62)
				for i := 0; i < 3; i++ {
					t0 := time.Now()
					Analyze(bytes.NewReader(b), int64(len(b)), ty, "f", Limits{})
					best = min(best, time.Since(t0))
				}
				if c.pkg == "(builders)" {
					t.Logf("  %-16s as %-10s %9d bytes: %v", filepath.Base(f), ty.Kind, len(b), best)
				}
				if best > worst {
					worst, worstFile, worstSize = best, filepath.Base(f)+" as "+ty.Kind, len(b)
				}
			}
		}
		t.Logf("%-18s %-13s %4d inputs: slowest %v (%s, %d bytes)", c.pkg, filepath.Base(c.target), n, worst, worstFile, worstSize)
		if worst > worstCaseMax {
			t.Errorf("%s: %s took %v", c.pkg, worstFile, worst)
		}
	}
}

// corpusBytes is the first []byte value of a corpus file ("go test fuzz
// v1", one Go literal a line).
func corpusBytes(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || lines[0] != "go test fuzz v1" {
		return nil
	}
	for _, l := range lines[1:] {
		if lit, ok := strings.CutPrefix(l, "[]byte("); ok {
			s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
			if err != nil {
				return nil
			}
			return []byte(s)
		}
	}
	return nil
}
