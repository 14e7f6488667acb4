package anon

import "strings"

// profileRoots are directories whose children are named after users,
// lowercased: Windows and macOS profiles, Unix homes (any "home" segment, so
// /export/home and /var/home count too), pre-Vista Windows profiles and
// roaming-profile shares.
var profileRoots = []string{"users", "home", "documents and settings", "profiles", "profiles$"}

// sharedProfiles are children of a profile root that name no person and are
// worth keeping: C:\Users\Public is a classic malware drop directory.
var sharedProfiles = []string{
	"public", "default", "default user", "all users", "shared", "defaultapppool",
	UserPlaceholder,
}

// StripUserPath replaces the user-name segment after a profile root with
// "<user>": C:\Users\alice\x.exe becomes C:\Users\<user>\x.exe and
// /home/alice/x becomes /home/<user>/x. Both separators are recognised in
// any path, roots match case-insensitively anywhere in the path (UNC shares,
// backups of a profile tree), repeated separators count as one
// (C:\\Users\\alice, as escaped strings write it), and shared profiles
// such as Public are kept. Everything else is byte-identical: /root stays,
// bare names are unchanged.
//
// It errs towards privacy: a file directly inside a directory called
// "home" or "users" (/srv/app/users/list.txt) loses its name too, since a
// profile directory itself (/home/alice) looks the same.
func StripUserPath(name string) string {
	if !strings.ContainsAny(name, `/\`) {
		return name
	}
	var b strings.Builder
	start := 0        // start of the current segment
	prevRoot := false // the previous non-empty segment was a profile root
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' && name[i] != '\\' {
			continue
		}
		seg := name[start:i]
		switch {
		case prevRoot && seg != "" && !isOneOf(seg, sharedProfiles):
			if b.Len() == 0 {
				b.Grow(len(name))
				b.WriteString(name[:start])
			}
			b.WriteString(UserPlaceholder)
		case b.Len() > 0:
			b.WriteString(seg)
		}
		if i < len(name) && b.Len() > 0 {
			b.WriteByte(name[i])
		}
		if seg != "" {
			prevRoot = isOneOf(seg, profileRoots)
		}
		start = i + 1
	}
	if b.Len() == 0 {
		return name
	}
	return b.String()
}

// FileName is what of a file name may leave: the name without any
// directory (after percent-decoding, so "C:%5CUsers%5Calice%5Cx.exe" is
// "x.exe"), with e-mail addresses and the client's address replaced by
// placeholders. "" when nothing is left.
func FileName(name string, e *Event) string {
	s := Unescape(name)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if out, changed := scrubDecoded(s, e, true); changed {
		s = out
	}
	if s == "." || s == ".." {
		return ""
	}
	return s
}

func isOneOf(s string, list []string) bool {
	for _, l := range list {
		if strings.EqualFold(s, l) {
			return true
		}
	}
	return false
}
