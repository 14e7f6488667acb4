package mime

import (
	"bytes"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// addrList appends the addresses of an address-list field (From, To,
// Cc) to dst, up to transfer.MaxAddresses. net/mail reads it, on a bounded
// input; a list it refuses (broken quoting, a bare name, a list cut by
// the bound) is read leniently: every word around an '@'.
func addrList(dst []string, v []byte, st *Stats) []string {
	if len(dst) >= transfer.MaxAddresses || len(v) == 0 {
		return dst
	}
	v = clip(v)
	if list, err := mail.ParseAddressList(string(v)); err == nil {
		for _, a := range list {
			if len(dst) == transfer.MaxAddresses {
				break
			}
			dst = append(dst, bound(a.Address))
		}
		return dst
	}
	st.AddressFallback++
	return lenientAddrs(dst, v)
}

// lenientAddrs appends each run of address characters holding an '@'.
func lenientAddrs(dst []string, v []byte) []string {
	for len(v) > 0 && len(dst) < transfer.MaxAddresses {
		at := bytes.IndexByte(v, '@')
		if at < 0 {
			break
		}
		l, r := at, at+1
		for l > 0 && isAddrChar(v[l-1]) {
			l--
		}
		for r < len(v) && isAddrChar(v[r]) {
			r++
		}
		if l < at && r > at+1 {
			dst = append(dst, bound(string(v[l:r])))
		}
		v = v[r:]
	}
	return dst
}

func isAddrChar(c byte) bool {
	return c > ' ' && c != 0x7f && !strings.ContainsRune("<>,;:\"()[]\\@", rune(c))
}

// bound cuts s to transfer.MaxHeaderValue bytes, not inside a UTF-8
// sequence.
func bound(s string) string {
	if len(s) <= transfer.MaxHeaderValue {
		return s
	}
	i := transfer.MaxHeaderValue
	for k := 0; k < utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]); k++ {
		i--
	}
	return s[:i]
}

// baseName strips directories (both separators: senders are on any
// system) and the blanks around, and bounds the name.
func baseName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if s == "." || s == ".." {
		return ""
	}
	return bound(s)
}
