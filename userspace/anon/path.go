package anon

import "strings"

// UserPlaceholder replaces a user-name path segment.
const UserPlaceholder = "<user>"

// profileRoots are directories whose children are named after users,
// lowercased: Windows and macOS profiles, Unix homes (any "home" segment, so
// /export/home and /var/home count too), and pre-Vista Windows profiles.
var profileRoots = []string{"users", "home", "documents and settings"}

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
// backups of a profile tree), and shared profiles such as Public are kept.
// Everything else is byte-identical: /root stays, bare names are unchanged.
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
	prevRoot := false // the previous segment was a profile root
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
		prevRoot = isOneOf(seg, profileRoots)
		start = i + 1
	}
	if b.Len() == 0 {
		return name
	}
	return b.String()
}

func isOneOf(s string, list []string) bool {
	for _, l := range list {
		if strings.EqualFold(s, l) {
			return true
		}
	}
	return false
}
