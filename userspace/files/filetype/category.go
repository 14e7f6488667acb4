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
)

// String returns the config and event name: "executable", "document",
// "archive", or "" for None.
func (c Category) String() string {
	switch c {
	case Executable:
		return "executable"
	case Document:
		return "document"
	case Archive:
		return "archive"
	}
	return ""
}

// ParseCategory reads a category name from the config: "executable",
// "document" or "archive" (case and surrounding space ignored; the plural
// is accepted since lists in a config read naturally that way).
func ParseCategory(s string) (Category, error) {
	switch strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "s") {
	case "executable":
		return Executable, nil
	case "document":
		return Document, nil
	case "archive":
		return Archive, nil
	}
	return None, fmt.Errorf("filetype: unknown category %q (want executable, document or archive)", s)
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
