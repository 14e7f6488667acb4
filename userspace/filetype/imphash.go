package filetype

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// imphash computes the import hash as pefile (the reference) does: for
// each import descriptor with at least one import, in order, the DLL name
// lower-cased without a .dll/.ocx/.sys extension, a dot, the function
// name lower-cased ("ord<N>" for an ordinal import), joined by commas,
// MD5 in hex. Functions are read from the lookup table, or from the
// address table when the lookup table is absent.
//
// pefile names ordinal imports of oleaut32, ws2_32 and wsock32 from
// built-in tables we do not carry: for such a file the hash is left
// empty rather than wrong. Names outside pefile's character sets are
// skipped (functions) or become "*invalid*" (DLLs), as there.
func (pf *peFile) imphash() string {
	imp := pf.dirs[1]
	if imp.rva == 0 {
		return ""
	}
	thunk := 4
	if pf.plus {
		thunk = 8
	}
	var sb strings.Builder
	total := 0
	for i := range maxImportDLLs {
		d := pf.at(imp.rva+uint32(20*i), 20)
		if d == nil || allZero(d) {
			break
		}
		ilt := binary.LittleEndian.Uint32(d)
		nameRVA := binary.LittleEndian.Uint32(d[12:])
		iat := binary.LittleEndian.Uint32(d[16:])
		table := ilt
		if table == 0 || pf.at(table, thunk) == nil || allZero(pf.at(table, thunk)) {
			table = iat
		}
		dll := "*invalid*"
		if off, ok := pf.offset(nameRVA); ok {
			if s, ok := pf.p.cstring(off, 0x200); ok && validDLLName(s) && len(s) > 0 {
				dll = strings.ToLower(string(s))
			}
		}
		lib := dll
		if j := strings.LastIndexByte(lib, '.'); j >= 0 {
			switch lib[j+1:] {
			case "dll", "ocx", "sys":
				lib = lib[:j]
			}
		}
		var funcs []string
		for k := 0; total < maxImports; k++ {
			e := pf.at(table+uint32(thunk*k), thunk)
			if e == nil {
				break
			}
			var v uint64
			var byOrdinal bool
			if pf.plus {
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
				switch dll {
				case "oleaut32.dll", "ws2_32.dll", "wsock32.dll":
					return ""
				}
				funcs = append(funcs, "ord"+strconv.Itoa(int(v&0xffff)))
				continue
			}
			off, ok := pf.offset(uint32(v&0x7fffffff) + 2) // skip the hint
			if !ok {
				continue
			}
			s, ok := pf.p.cstring(off, 0x200)
			if !ok || len(s) == 0 || !validFuncName(s) {
				continue
			}
			funcs = append(funcs, strings.ToLower(string(s)))
		}
		if total >= maxImports {
			return "" // too many to be sure we saw them all
		}
		for _, f := range funcs {
			if sb.Len() > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(lib)
			sb.WriteByte('.')
			sb.WriteString(f)
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

func validDLLName(s []byte) bool {
	for _, c := range s {
		if !(isAlnum(c) || strings.IndexByte("!#$%&'()-@^_`{}~+,.;=[]\\/", c) >= 0) {
			return false
		}
	}
	return true
}

func validFuncName(s []byte) bool {
	for _, c := range s {
		if !(isAlnum(c) || strings.IndexByte("._?@$()<>", c) >= 0) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
