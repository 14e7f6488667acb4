package libeval

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	spe "github.com/saferwall/pe"
	slog "github.com/saferwall/pe/log"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/analyzers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/files/formats"
	"github.com/edgesensor/edgesensor/userspace/files/formats/pefile"
)

// swOptions parses what the sensor reads (headers, sections, imports,
// resources, TLS) and nothing else, and logs nothing (the default logs
// errors to stdout).
func swOptions() *spe.Options {
	return &spe.Options{
		DisableCertValidation: true, DisableSignatureValidation: true,
		OmitExportDirectory: true, OmitExceptionDirectory: true, OmitSecurityDirectory: true,
		OmitRelocDirectory: true, OmitDebugDirectory: true, OmitArchitectureDirectory: true,
		OmitGlobalPtrDirectory: true, OmitLoadConfigDirectory: true, OmitBoundImportDirectory: true,
		OmitIATDirectory: true, OmitDelayImportDirectory: true, OmitCLRHeaderDirectory: true, OmitCLRMetadata: true,
		Logger: slog.NewStdLogger(io.Discard),
	}
}

// swFacts is what saferwall/pe says of a file, in the terms the sensor
// uses: its model mapped onto pefile.File (so the sensor's analyzers
// can run on it), its own imphash and version strings.
type swFacts struct {
	model   *pefile.File
	imphash string
	version map[string]string
}

func saferwall(b []byte) swFacts {
	sf, err := spe.NewBytes(b, swOptions())
	if err != nil {
		return swFacts{}
	}
	return swFrom(sf)
}

// saferwallMapped parses the file at path mapped in memory, as the
// library's NewFile does (the sensor's spool is a file).
func saferwallMapped(f *os.File) swFacts {
	sf, err := spe.NewFile(f, swOptions())
	if err != nil {
		return swFacts{}
	}
	defer sf.Unmap()
	return swFrom(sf)
}

func swFrom(sf *spe.File) swFacts {
	sf.Parse()
	if sf.DOSHeader.Magic != 0x5a4d || sf.NtHeader.Signature != 0x4550 {
		return swFacts{}
	}
	fh := sf.NtHeader.FileHeader
	m := &pefile.File{Machine: uint16(fh.Machine), NumSections: int(fh.NumberOfSections), TimeDateStamp: fh.TimeDateStamp,
		Characteristics: uint16(fh.Characteristics), Headers: len(sf.Sections) > 0}
	var dd [16]spe.DataDirectory
	var n uint32
	switch oh := sf.NtHeader.OptionalHeader.(type) {
	case spe.ImageOptionalHeader64:
		m.PE32Plus = true
		m.EntryPoint, m.FileAlignment, m.SizeOfHeaders, m.Subsystem = oh.AddressOfEntryPoint, oh.FileAlignment, oh.SizeOfHeaders, uint16(oh.Subsystem)
		dd, n = oh.DataDirectory, oh.NumberOfRvaAndSizes
	case spe.ImageOptionalHeader32:
		m.EntryPoint, m.FileAlignment, m.SizeOfHeaders, m.Subsystem = oh.AddressOfEntryPoint, oh.FileAlignment, oh.SizeOfHeaders, uint16(oh.Subsystem)
		dd, n = oh.DataDirectory, oh.NumberOfRvaAndSizes
	}
	for i := range min(int(n), 16) {
		m.Dirs = append(m.Dirs, pefile.DataDir{VirtualAddress: dd[i].VirtualAddress, Size: dd[i].Size})
	}
	for _, s := range sf.Sections {
		h := s.Header
		m.Sections = append(m.Sections, pefile.Section{Name: s.String(), VirtualSize: h.VirtualSize, VirtualAddress: h.VirtualAddress,
			RawSize: h.SizeOfRawData, RawOffset: h.PointerToRawData, Characteristics: h.Characteristics})
	}
	for _, im := range sf.Imports {
		x := pefile.Import{DLL: im.Name}
		for _, fn := range im.Functions {
			x.Funcs = append(x.Funcs, pefile.Func{Name: fn.Name, Ordinal: uint16(fn.Ordinal), ByOrdinal: fn.ByOrdinal})
		}
		m.Imports = append(m.Imports, x)
	}
	switch t := sf.TLS.Struct.(type) {
	case spe.ImageTLSDirectory64:
		m.TLSCallbacks = t.AddressOfCallBacks != 0
	case spe.ImageTLSDirectory32:
		m.TLSCallbacks = t.AddressOfCallBacks != 0
	}
	out := swFacts{model: m}
	out.imphash, _ = sf.ImpHash()
	out.version, _ = sf.ParseVersionResources()
	if len(out.version) > 0 {
		v := &pefile.Version{Company: out.version["CompanyName"], Product: out.version["ProductName"],
			OriginalFileName: out.version["OriginalFilename"], FileVersion: out.version["FileVersion"],
			Description: out.version["FileDescription"]}
		m.Version = v
	}
	return out
}

func ours(b []byte) *pefile.File { return pefile.Parse(bytes.NewReader(b), int64(len(b))) }

// corpusPE is the corpus's sample.exe, cut from its capture and checked
// against the capture's truth.
func corpusPE(t testing.TB) []byte {
	t.Helper()
	const dir = "../../testdata/corpus/"
	c := testutil.TCPConns(t, dir+"http_exe.pcap")[0]
	b := c.ToClient[bytes.Index(c.ToClient, []byte("\r\n\r\n"))+4:]
	sum := sha256.Sum256(b)
	if want := testutil.ReadTruth(t, dir+"http_exe.truth.json").Files[0].SHA256; hex.EncodeToString(sum[:]) != want {
		t.Fatalf("sample.exe cut wrong: %x", sum)
	}
	return b
}

// longName renames section i "/4" and appends a COFF string table
// holding name, as MinGW writes long names.
func longName(b []byte, i int, name string) []byte {
	b = append([]byte(nil), b...)
	le := binary.LittleEndian
	lfanew := int(le.Uint32(b[60:]))
	sh := lfanew + 24 + int(le.Uint16(b[lfanew+20:])) + 40*i
	copy(b[sh:sh+8], "/4\x00\x00\x00\x00\x00\x00")
	le.PutUint32(b[lfanew+12:], uint32(len(b)))
	le.PutUint32(b[lfanew+16:], 0)
	return append(append(le.AppendUint32(b, uint32(4+len(name)+1)), name...), 0)
}

// Same results: the values pefile 2023.2.7 reports (pinned in the
// pefile package's tests; for the long section name, what debug/pe
// reads), from each reader.
func TestPEResults(t *testing.T) {
	const helloHash = "733671eb2f1ac029df421a54678f7279"
	for _, c := range []struct {
		name        string
		b           []byte
		imphash     string
		company     string
		fileVersion string
		section     string // the name of section 1
	}{
		{"hello-x64.exe", fixture(t, "hello-x64.exe"), helloHash, "Société Edgesensor Test", "1.2.3.4", ".rdata"},
		{"hello-x86.exe", fixture(t, "hello-x86.exe"), helloHash, "Société Edgesensor Test", "1.2.3.4", ".rdata"},
		{"hello-arm64.exe", fixture(t, "hello-arm64.exe"), helloHash, "Société Edgesensor Test", "1.2.3.4", ".rdata"},
		{"imports-x64.exe", fixture(t, "imports-x64.exe"), "0c4c223d14100f2d03480d176af0db65", "", "", ".rdata"},
		{"corpus sample.exe", corpusPE(t), "9b763104e1c7e7b7334a1e9ed4235cd3", "", "", ".rdata"},
		{"hello-x86.exe, section 1 long-named", longName(fixture(t, "hello-x86.exe"), 1, ".rdata$long"), helloHash,
			"Société Edgesensor Test", "1.2.3.4", ".rdata$long"},
	} {
		o, s := ours(c.b), saferwall(c.b)
		get := func(f *pefile.File) (company, fv, sec string) {
			if f == nil {
				return "-", "-", "-"
			}
			if f.Version != nil {
				company, fv = f.Version.Company, f.Version.FileVersion
			}
			if len(f.Sections) > 1 {
				sec = f.Sections[1].Name
			}
			return
		}
		oc, ofv, osec := get(o)
		sc, sfv, ssec := get(s.model)
		oh := o.Imphash()
		t.Logf("%s:\n  imphash  want %s, pefile reader %s, saferwall %s\n  company  want %q, pefile reader %q, saferwall %q\n"+
			"  version  want %q, pefile reader %q, saferwall %q\n  section1 want %q, pefile reader %q, saferwall %q",
			c.name, c.imphash, oh, s.imphash, c.company, oc, sc, c.fileVersion, ofv, sfv, c.section, osec, ssec)
		if oh != c.imphash || oc != c.company || ofv != c.fileVersion || osec != c.section {
			t.Errorf("%s: the sensor's reader differs from pefile", c.name)
		}
	}
}

// The hostile variants of pefile's TestHostile (and more), each run by
// both readers in a child process with a 10 s deadline.
func TestPEHostile(t *testing.T) {
	good := fixture(t, "hello-x64.exe")
	le := binary.LittleEndian
	lfanew := int(le.Uint32(good[60:]))
	g := ours(good)
	rsrc, _ := g.Offset(g.Dir(pefile.DirResource).VirtualAddress)
	mutate := func(b []byte, f func(b []byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return b
	}
	u16 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = le.AppendUint16(b, uint16(r))
		}
		return b
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"a string table of length 0", mutate(good, func(b []byte) {
			i := bytes.Index(b, u16("StringFileInfo")) - 6
			le.PutUint16(b[i+36:], 0)
		})},
		{"VS_VERSIONINFO lengths zeroed", mutate(good, func(b []byte) {
			le.PutUint16(b[bytes.Index(b, u16("VS_VER"))-6:], 0)
		})},
		{"every resource subdirectory points at the root", mutate(good, func(b []byte) {
			n := int(le.Uint16(b[rsrc+12:])) + int(le.Uint16(b[rsrc+14:]))
			for i := range n {
				le.PutUint32(b[int(rsrc)+16+8*i+4:], 0x80000000)
			}
		})},
		{"resource entry count 65535+65535", mutate(good, func(b []byte) {
			le.PutUint16(b[rsrc+12:], 0xffff)
			le.PutUint16(b[rsrc+14:], 0xffff)
		})},
		{"RT_VERSION 4096 times, 8 names, 8 languages, one broken entry", versionFlood(t, good)},
		{"endless import descriptors", mutate(good, func(b []byte) {
			le.PutUint32(b[lfanew+24+120:], 0x1000)
			for i := 0x400; i < 0x600; i += 4 {
				le.PutUint32(b[i:], 0x1000)
			}
		})},
		{"TLS callbacks: 16 MiB of non-zero pointers", tlsFlood(t, fixture(t, "imports-x64.exe"), 16<<20)},
		{"section table past the end", mutate(good, func(b []byte) { le.PutUint16(b[lfanew+6:], 0xffff) })},
	}
	for _, c := range cases {
		o := isolated(t, "ours/"+c.name, 10*time.Second, func() string {
			f := ours(c.b)
			return fmt.Sprintf("%v", f != nil && f.Version != nil)
		})
		s := isolated(t, "saferwall/"+c.name, 10*time.Second, func() string {
			f := saferwall(c.b)
			return fmt.Sprintf("%v", f.model != nil && f.model.Version != nil)
		})
		t.Logf("%-62s %7d bytes  pefile reader: %-22s saferwall: %s", c.name, len(c.b), o, s)
		if !o.Returned || o.Panic != "" {
			t.Errorf("%s: the sensor's reader: %s", c.name, o)
		}
	}
}

// versionFlood: the resource tree names RT_VERSION 4096 times, each
// with 8 names of 8 languages, all at one broken 64 KiB data entry.
func versionFlood(t testing.TB, good []byte) []byte {
	le := binary.LittleEndian
	f := ours(good)
	last := f.Sections[len(f.Sections)-1]
	lfanew := int(le.Uint32(good[60:]))
	shdr := lfanew + 24 + int(le.Uint16(good[lfanew+20:])) + 40*(len(f.Sections)-1)
	b := append([]byte(nil), good[:last.RawOffset+last.RawSize]...)
	const types = 4096
	nameDir := 16 + 8*types
	langDir := nameDir + 16 + 8*8
	data := langDir + 16 + 8*8
	hdr := func(ids int) []byte { h := make([]byte, 16); le.PutUint16(h[14:], uint16(ids)); return h }
	tree := hdr(types)
	for range types {
		tree = le.AppendUint32(le.AppendUint32(tree, 16), 0x80000000|uint32(nameDir))
	}
	tree = append(tree, hdr(8)...)
	for i := range 8 {
		tree = le.AppendUint32(le.AppendUint32(tree, uint32(i+1)), 0x80000000|uint32(langDir))
	}
	tree = append(tree, hdr(8)...)
	for i := range 8 {
		tree = le.AppendUint32(le.AppendUint32(tree, uint32(i)), uint32(data))
	}
	tree = append(le.AppendUint32(le.AppendUint32(tree, last.VirtualAddress), 0xffff), make([]byte, 8)...)
	for len(tree)%512 != 0 {
		tree = append(tree, 0)
	}
	b = append(b, tree...)
	le.PutUint32(b[shdr+8:], last.RawSize+uint32(len(tree)))
	le.PutUint32(b[shdr+16:], last.RawSize+uint32(len(tree)))
	le.PutUint32(b[lfanew+24+112+8*pefile.DirResource:], last.VirtualAddress+last.RawSize)
	le.PutUint32(b[lfanew+24+112+8*pefile.DirResource+4:], uint32(len(tree)))
	return b
}

// tlsFlood points the TLS callback array of a PE32+ at n bytes of
// non-zero pointers appended to its last section.
func tlsFlood(t testing.TB, good []byte, n int) []byte {
	le := binary.LittleEndian
	f := ours(good)
	last := f.Sections[len(f.Sections)-1]
	lfanew := int(le.Uint32(good[60:]))
	shdr := lfanew + 24 + int(le.Uint16(good[lfanew+20:])) + 40*(len(f.Sections)-1)
	imageBase := le.Uint64(good[lfanew+24+24:])
	b := append([]byte(nil), good[:last.RawOffset+last.RawSize]...)
	b = append(b, bytes.Repeat([]byte{0x41}, n)...)
	le.PutUint32(b[shdr+8:], last.RawSize+uint32(n))
	le.PutUint32(b[shdr+16:], last.RawSize+uint32(n))
	tls, ok := f.Offset(f.Dir(pefile.DirTLS).VirtualAddress)
	if !ok {
		t.Fatal("no TLS directory")
	}
	le.PutUint64(b[tls+24:], imageBase+uint64(last.VirtualAddress+last.RawSize))
	return b
}

// Seeded random mutations of the fixtures, as a fuzzer's first inputs:
// both readers on each, the library with a 2 s deadline per mutant. Each
// campaign runs in a child process, which a mutant that never returns
// ends (its goroutine would spin on).
func TestPEMutations(t *testing.T) {
	const perSeed = 3000
	for _, name := range []string{"hello-x64.exe", "imports-x64.exe"} {
		seed := fixture(t, name)
		r := isolated(t, name, 5*time.Minute, func() string {
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			return campaign(perSeed, func() []byte { return mutatePE(rng, seed) },
				func(b []byte) {
					if f := ours(b); f != nil {
						f.Imphash()
					}
				}, func(b []byte) { saferwall(b) })
		})
		t.Logf("%s: %s", name, r.Note)
		if r.Panic != "" || !r.Returned {
			t.Errorf("%s: %s", name, r)
		}
	}
}

// campaign runs n inputs through both readers: ours in this goroutine,
// the library's in another with a 2 s deadline (the first that misses
// it ends the campaign), and reports the slowest of each, the library's
// panics and where it first did not return.
func campaign(n int, next func() []byte, ours, lib func([]byte)) string {
	var oursMax, libMax time.Duration
	panics, i := 0, 0
	for ; i < n; i++ {
		b := next()
		start := time.Now()
		ours(b)
		oursMax = max(oursMax, time.Since(start))
		done := make(chan bool, 1)
		start = time.Now()
		go func() {
			defer func() { done <- recover() != nil }()
			lib(b)
		}()
		select {
		case p := <-done:
			if p {
				panics++
			}
			libMax = max(libMax, time.Since(start))
		case <-time.After(2 * time.Second):
			return fmt.Sprintf("mutant %d (of %d) did not return from the library in 2 s; before it: sensor's reader slowest %v, library slowest %v, %d library panics",
				i+1, n, oursMax, libMax, panics)
		}
	}
	return fmt.Sprintf("%d mutants: sensor's reader slowest %v, library slowest %v, %d library panics, all returned", n, oursMax, libMax, panics)
}

// mutatePE changes 1 to 8 random bytes, 16- or 32-bit words of b (a copy).
func mutatePE(rng *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	for range 1 + rng.IntN(8) {
		i := rng.IntN(len(b) - 4)
		switch rng.IntN(4) {
		case 0:
			b[i] = byte(rng.Uint32())
		case 1:
			binary.LittleEndian.PutUint16(b[i:], []uint16{0, 0xffff, 1, uint16(rng.Uint32())}[rng.IntN(4)])
		case 2:
			binary.LittleEndian.PutUint32(b[i:], []uint32{0, 0xffffffff, 0x80000000, rng.Uint32()}[rng.IntN(4)])
		case 3:
			b[i] ^= 1 << rng.IntN(8)
		}
	}
	return b
}

func BenchmarkPEParse(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"corpus-1.6MB", corpusPE(b)},
		{"version-resource", fixture(b, "hello-x64.exe")},
		{"imports-tls", fixture(b, "imports-x64.exe")},
	} {
		b.Run(c.name+"/pefile-reader", func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(c.body)
			for b.Loop() {
				pefile.Parse(r, int64(len(c.body))).Imphash()
			}
		})
		b.Run(c.name+"/saferwall-bytes", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				saferwall(c.body)
			}
		})
		path := filepath.Join(b.TempDir(), "pe")
		os.WriteFile(path, c.body, 0o644)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.Run(c.name+"/saferwall-mapped", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				saferwallMapped(f)
			}
		})
	}
}

// BenchmarkScorePE2MB: the metadata and static analyzers of a 2 MB PE
// (the corpus program with its largest section made random, padded), as
// files.BenchmarkScore2MBPE runs them, on each reader's model: the
// pefile reader over the spooled file, saferwall over it mapped.
func BenchmarkScorePE2MB(b *testing.B) {
	body := corpusPE(b)
	g := ours(body)
	big := g.Sections[0]
	for _, s := range g.Sections {
		if s.RawSize > big.RawSize {
			big = s
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := big.RawOffset; i < big.RawOffset+big.RawSize; i++ {
		body[i] = byte(rng.Uint32())
	}
	body = append(body, make([]byte, 2<<20-len(body))...)
	path := filepath.Join(b.TempDir(), "big.exe")
	os.WriteFile(path, body, 0o644)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	typ := filetype.Detect(body[:filetype.HeadSize], "big.exe", "", int64(len(body)))
	lim := analyzers.Limits{}
	score := func(b *testing.B, d *formats.Doc) {
		filetype.MetadataOf(d)
		if rs := analyzers.AnalyzeDoc(d, typ, "big.exe", lim); len(rs) == 0 || !strings.HasPrefix(rs[0].Rule, "pe.") {
			b.Fatalf("reasons %+v", rs)
		}
	}
	b.Run("pefile-reader", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			score(b, formats.Parse(f, int64(len(body)), formats.PE, 0))
		}
	})
	b.Run("saferwall-mapped", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			score(b, &formats.Doc{R: f, Size: int64(len(body)), Format: formats.PE, PE: saferwallMapped(f).model})
		}
	})
}
