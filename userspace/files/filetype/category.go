package filetype

import (
	"fmt"
	"strings"
)

// Category is what the file pipeline selects on; the config gives each
// category a maximum size.
type Category uint8

// The categories. None is a file that is not a candidate.
const (
	None Category = iota
	Executable
	Document
	Archive
	Script    // PowerShell, VBScript/JScript, HTA, batch, shebang scripts, Python
	DiskImage // ISO 9660, UDF, VHD, VHDX, DMG
	Shortcut  // Windows LNK, internet shortcuts (.url)
	Package   // MSI, deb, rpm, APPX/MSIX
	Java      // class files, JAR
	numCategories
)

var categoryNames = [numCategories]string{
	Executable: "executable", Document: "document", Archive: "archive", Script: "script",
	DiskImage: "disk_image", Shortcut: "shortcut", Package: "package", Java: "java",
}

// Categories lists every category but None, in order.
func Categories() []Category {
	out := make([]Category, 0, numCategories-1)
	for c := Executable; c < numCategories; c++ {
		out = append(out, c)
	}
	return out
}

// CategoryNames are the names of Categories, for messages.
func CategoryNames() string {
	var b strings.Builder
	for i, c := range Categories() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.String())
	}
	return b.String()
}

// String returns the config and event name ("executable", "disk_image",
// ...), or "" for None.
func (c Category) String() string {
	if c < numCategories {
		return categoryNames[c]
	}
	return ""
}

// ParseCategory reads a category name from the config (case and
// surrounding space ignored; the plural is accepted since lists in a
// config read naturally that way).
func ParseCategory(s string) (Category, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for _, c := range Categories() {
		if n == c.String() || n == c.String()+"s" {
			return c, nil
		}
	}
	return None, fmt.Errorf("filetype: unknown category %q (want %s)", s, CategoryNames())
}

// MarshalText writes the category's name, so a Category can sit in a
// config struct or an event directly.
func (c Category) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText is ParseCategory for config decoders (TOML, JSON).
func (c *Category) UnmarshalText(b []byte) error {
	v, err := ParseCategory(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
