package pefile

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// Import is one import descriptor: a DLL and what is imported from it.
type Import struct {
	// DLL is the name as written (at most 0x200 bytes), "" when it could
	// not be read.
	DLL   string
	Funcs []Func
}

// Func is one imported function: by name (Name, "" when unreadable) or
// by ordinal.
type Func struct {
	Name      string
	Ordinal   uint16
	ByOrdinal bool
}

// readImports walks the import descriptors as pefile does: for each
// descriptor, in order, the lookup table, or the address table when the
// lookup table is absent, until a zero entry. At most MaxImportDLLs
// descriptors and MaxImports functions in all.
func (f *File) readImports() {
	imp := f.Dir(DirImport)
	if imp.VirtualAddress == 0 {
		return
	}
	thunk := 4
	if f.PE32Plus {
		thunk = 8
	}
	total := 0
	for i := range MaxImportDLLs {
		d := f.at(imp.VirtualAddress+uint32(20*i), 20)
		if d == nil || allZero(d) {
			break
		}
		ilt := binary.LittleEndian.Uint32(d)
		nameRVA := binary.LittleEndian.Uint32(d[12:])
		iat := binary.LittleEndian.Uint32(d[16:])
		table := ilt
		if first := f.at(table, thunk); table == 0 || first == nil || allZero(first) {
			table = iat
		}
		im := Import{}
		if off, ok := f.Offset(nameRVA); ok {
			if s, ok := f.p.CString(off, maxName); ok {
				im.DLL = string(s)
			}
		}
		for k := 0; total < MaxImports; k++ {
			e := f.at(table+uint32(thunk*k), thunk)
			if e == nil {
				break
			}
			var v uint64
			var byOrdinal bool
			if f.PE32Plus {
				v = binary.LittleEndian.Uint64(e)
				byOrdinal = v&(1<<63) != 0
			} else {
				v = uint64(binary.LittleEndian.Uint32(e))
				byOrdinal = v&(1<<31) != 0
			}
			if v == 0 {
				break
			}
			total++
			if byOrdinal {
				im.Funcs = append(im.Funcs, Func{Ordinal: uint16(v), ByOrdinal: true})
				continue
			}
			fn := Func{}
			if off, ok := f.Offset(uint32(v&0x7fffffff) + 2); ok { // skip the hint
				if s, ok := f.p.CString(off, maxName); ok {
					fn.Name = string(s)
				}
			}
			im.Funcs = append(im.Funcs, fn)
		}
		f.Imports = append(f.Imports, im)
		if total >= MaxImports {
			f.ImportsCut = true // too many to be sure we saw them all
			break
		}
	}
}

// Imphash is the import hash as pefile (the reference) computes it: for
// each import descriptor with at least one import, in order, the DLL
// name lower-cased without a .dll/.ocx/.sys extension, a dot, the
// function name lower-cased ("ord<N>" for an ordinal import), joined by
// commas, MD5 in hex; "" when there are no imports.
//
// pefile names ordinal imports of oleaut32, ws2_32 and wsock32 from
// built-in tables we do not carry: for such a file the hash is "" rather
// than wrong, as it is when MaxImports cut the walk. Names outside
// pefile's character sets are skipped (functions) or become "*invalid*"
// (DLLs), as there.
func (f *File) Imphash() string {
	if f.ImportsCut {
		return ""
	}
	var sb strings.Builder
	for _, im := range f.Imports {
		dll := "*invalid*"
		if im.DLL != "" && validDLLName(im.DLL) {
			dll = strings.ToLower(im.DLL)
		}
		lib := dll
		if j := strings.LastIndexByte(lib, '.'); j >= 0 {
			switch lib[j+1:] {
			case "dll", "ocx", "sys":
				lib = lib[:j]
			}
		}
		for _, fn := range im.Funcs {
			var name string
			switch {
			case fn.ByOrdinal:
				switch dll {
				case "oleaut32.dll", "ws2_32.dll", "wsock32.dll":
					return ""
				}
				name = "ord" + strconv.Itoa(int(fn.Ordinal))
			case fn.Name == "" || !validFuncName(fn.Name):
				continue
			default:
				name = strings.ToLower(fn.Name)
			}
			if sb.Len() > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(lib)
			sb.WriteByte('.')
			sb.WriteString(name)
		}
	}
	if sb.Len() == 0 {
		return ""
	}
	sum := md5.Sum([]byte(sb.String()))
	return hex.EncodeToString(sum[:])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func validDLLName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || strings.IndexByte("!#$%&'()-@^_`{}~+,.;=[]\\/", c) >= 0) {
			return false
		}
	}
	return true
}

func validFuncName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || strings.IndexByte("._?@$()<>", c) >= 0) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
