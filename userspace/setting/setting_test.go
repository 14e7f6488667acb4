package setting

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestByteSizeParse(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"0": 0, "512": 512, "4KiB": 4096, "4k": 4096, "1MB": 1000000, "3 GiB": 3 << 30, "7b": 7,
	} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5MiB", "99999999999999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if s := ByteSize(64 << 20).String(); s != "64MiB" {
		t.Errorf("String: %s", s)
	}
}

func TestProblemsNameTheKey(t *testing.T) {
	var p Problems
	if p.Err() != nil || p.Len() != 0 {
		t.Fatal("an empty list is no error")
	}
	p.Add("output.sinks[1].server_name", "set but network is %q", "udp")
	p.Fail("files.spool_dir", nil)
	p.Fail("files.spool_dir", errors.New("not a directory"))
	p.Keyed(errors.New("uplink.ca_file: no PEM certificate found"))
	p.Keyed(nil)
	want := `output.sinks[1].server_name: set but network is "udp"; files.spool_dir: not a directory; uplink.ca_file: no PEM certificate found`
	if err := p.Err(); err == nil || err.Error() != want || p.Len() != 3 {
		t.Errorf("got %v (%d), want %s", err, p.Len(), want)
	}
}

// The path checks answer as the sensor's own mkdir and open would.
func TestPathChecks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for no error
	}{
		{"existing directory", CanCreateDir(dir), ""},
		{"directories to make", CanCreateDir(filepath.Join(dir, "a", "b", "c")), ""},
		{"a file as the directory", CanCreateDir(file), "is not a directory"},
		{"a file above the directory", CanCreateDir(filepath.Join(file, "a", "b")), file + " is not a directory"},
		{"existing file", CanWriteFile(file, false), ""},
		{"new file", CanWriteFile(filepath.Join(dir, "new"), false), ""},
		{"new file in directories to make", CanWriteFile(filepath.Join(dir, "x", "y", "new"), true), ""},
		{"new file in a missing directory", CanWriteFile(filepath.Join(dir, "x", "new"), false), "does not exist"},
		{"a directory as the file", CanWriteFile(dir, true), "is a directory"},
		{"a file above the file", CanWriteFile(filepath.Join(file, "new"), true), file + " is not a directory"},
		{"readable", Readable(file), ""},
		{"unreadable", Readable(filepath.Join(dir, "none")), "no such file"},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: %v", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, tc.err, tc.want)
		}
	}
	// What the user may not write is refused (root may write anywhere).
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		if err := CanCreateDir(filepath.Join(ro, "sub")); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("a read-only directory: %v", err)
		}
	}
	// Nothing was made.
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("a check made a directory: %v", err)
	}
}
