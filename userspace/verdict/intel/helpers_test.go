package intel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// write puts content in a file named name under a fresh temp dir.
func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustLoad loads sources and fails on any error at all.
func mustLoad(t *testing.T, srcs ...Source) *Set {
	t.Helper()
	s, errs := Load(srcs)
	if len(errs) > 0 {
		t.Fatalf("Load: %v", errors.Join(errs...))
	}
	return s
}

func lineErrors(errs []error) []*LineError {
	var out []*LineError
	for _, err := range errs {
		var le *LineError
		if errors.As(err, &le) {
			out = append(out, le)
		}
	}
	return out
}

var (
	sha256A = strings.Repeat("ab", 32)
	sha256B = strings.Repeat("cd", 32)
	sha1A   = strings.Repeat("12", 20)
	md5A    = strings.Repeat("ef", 16)
	ja3A    = "e7d705a3286e19ea42f587b344ee6865"
	ja4A    = "t13d1516h2_8daaf6152771_02713d6af862"
)
