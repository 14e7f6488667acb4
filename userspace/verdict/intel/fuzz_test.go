package intel

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLines feeds arbitrary bytes to the lines loader of every kind: bad
// input must only be counted, never panic.
func FuzzLines(f *testing.F) {
	for _, s := range []string{
		sha256A + " 7 # c\n", "# only\n\n", "10.0.0.0/8\n::ffff:1.2.3.0/120 3\n", "*.Evil.Example.\n",
		ja4A + "\n", "a b c\n", "\xef\xbb\xbfx 99\n", "1.2.3.4%eth0\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in.txt")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for k := SHA256; k <= JA4; k++ {
			s, _ := Load([]Source{{Path: p, Kind: k}})
			s.Domain(string(data))
			s.Hash(string(data), "", "")
			s.JA4(string(data))
		}
	})
}

// FuzzSTIX feeds arbitrary bundles and patterns to the STIX loader.
func FuzzSTIX(f *testing.F) {
	f.Add([]byte(bundle))
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[a:b = 'x\\'y'] OR [url:value = 'http://[::1]:80/']","confidence":101}]}`))
	f.Add([]byte(`{"objects":[{"type":"indicator","valid_until":"bad"}],"type":"bundle"}`))
	f.Add([]byte(`[file:hashes.MD5 = 'efefefefefefefefefefefefefefefef'] OR [ipv6-addr:value = '::/0']`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		Load([]Source{{Path: p}})
		// The bytes as a bare pattern, too, to reach the parser directly.
		if comps, err := parsePattern(string(data)); err == nil && len(comps) == 0 {
			t.Fatal("pattern accepted with no terms")
		}
	})
}
