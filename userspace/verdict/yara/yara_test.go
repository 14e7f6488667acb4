package yara

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testRules = `
rule edgesensor_marker : test lab {
  meta:
    threat_level = 9
  strings:
    $m = "edgesensor-yara-marker"
  condition:
    $m
}
rule never_matches {
  strings:
    $n = "this string is not in any test file"
  condition:
    $n
}
`

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Both builds are tested: without the tag, Compile must say the binary
// has no YARA; with it, rules compile, match, and report meta and tags.
func TestRules(t *testing.T) {
	rules := write(t, "lab.yar", testRules)
	r, err := Compile([]string{rules})
	if !Available() {
		if !errors.Is(err, ErrNotBuilt) || r != nil {
			t.Fatalf("without yara: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hit := write(t, "hit.bin", "xxxx edgesensor-yara-marker yyyy")
	ms, err := r.ScanFile(hit, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Rule != "edgesensor_marker" || ms[0].Namespace != "lab" || ms[0].Level != 9 ||
		strings.Join(ms[0].Tags, ",") != "test,lab" {
		t.Fatalf("matches %+v", ms)
	}
	miss := write(t, "miss.bin", "nothing here")
	if ms, err := r.ScanFile(miss, 5*time.Second); err != nil || len(ms) != 0 {
		t.Fatalf("clean file: %+v %v", ms, err)
	}
	// A broken rule names the file and the line.
	bad := write(t, "bad.yar", "rule ok { condition: true }\nrule broken {\n  condition: $undefined\n}\n")
	if _, err := Compile([]string{bad}); err == nil || !strings.Contains(err.Error(), "bad.yar") || !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), "$undefined") {
		t.Fatalf("broken rule: %v", err)
	}
}
