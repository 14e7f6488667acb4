package filetype

import (
	"fmt"
	"time"

	"github.com/edgesensor/edgesensor/userspace/files/formats/pefile"
)

// PEMeta is what a PE file says about itself. The comments give the ECS
// field each goes to; fields marked "no ECS field" need a custom one.
type PEMeta struct {
	Architecture     string    // file.pe.architecture: "x86", "x64", "arm64", "arm", "ia64", "unknown"
	Company          string    // file.pe.company: CompanyName
	Product          string    // file.pe.product: ProductName
	OriginalFileName string    // file.pe.original_file_name: OriginalFilename
	FileVersion      string    // file.pe.file_version: FileVersion (else VS_FIXEDFILEINFO as a.b.c.d)
	Description      string    // file.pe.description: FileDescription
	Imphash          string    // file.pe.imphash (file.pe.import_hash too): pefile's algorithm, "" if no imports
	InternalName     string    // no ECS field: InternalName
	LegalCopyright   string    // no ECS field: LegalCopyright
	ProductVersion   string    // no ECS field: ProductVersion
	CompileTime      time.Time // no ECS field: COFF TimeDateStamp (UTC); zero when 0 (Go, some reproducible builds put a hash there)
	Subsystem        string    // no ECS field: "console", "windows", "native", "efi-application"...
	DLL              bool      // no ECS field: IMAGE_FILE_DLL
	PE32Plus         bool      // no ECS field: 64-bit optional header
	Sections         int       // no ECS field: number of sections
}

var peMachines = map[uint16]string{
	0x14c: "x86", 0x8664: "x64", 0xaa64: "arm64", 0x1c0: "arm", 0x1c4: "arm", 0x200: "ia64",
	0xa641: "arm64", // ARM64EC
}

var peSubsystems = map[uint16]string{
	1: "native", 2: "windows", 3: "console", 5: "os2-console", 7: "posix-console",
	9: "windows-ce", 10: "efi-application", 11: "efi-boot-driver", 12: "efi-runtime-driver",
	13: "efi-rom", 14: "xbox", 16: "windows-boot-application",
}

// metaPE is the metadata of a parsed PE: the file header's facts always,
// the optional header's, the version strings and the imphash when the
// headers were read whole.
func metaPE(f *pefile.File) *PEMeta {
	if f == nil {
		return nil
	}
	m := &PEMeta{Architecture: "unknown", DLL: f.Characteristics&0x2000 != 0, Sections: f.NumSections}
	if a, ok := peMachines[f.Machine]; ok {
		m.Architecture = a
	}
	if f.TimeDateStamp != 0 {
		m.CompileTime = time.Unix(int64(f.TimeDateStamp), 0).UTC()
	}
	if !f.Headers {
		return m
	}
	m.PE32Plus = f.PE32Plus
	if s, ok := peSubsystems[f.Subsystem]; ok {
		m.Subsystem = s
	} else if f.Subsystem != 0 {
		m.Subsystem = fmt.Sprintf("unknown(%d)", f.Subsystem)
	}
	if v := f.Version; v != nil {
		m.Company, m.Product, m.OriginalFileName, m.FileVersion = v.Company, v.Product, v.OriginalFileName, v.FileVersion
		m.Description, m.InternalName, m.LegalCopyright, m.ProductVersion = v.Description, v.InternalName, v.LegalCopyright, v.ProductVersion
	}
	m.Imphash = f.Imphash()
	return m
}
