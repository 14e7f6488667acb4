package analyzers

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

func TestCHMReasons(t *testing.T) {
	scripted := carriers.CHMWith(map[string][]byte{"/index.html": []byte(
		`<html><script language="VBScript">CreateObject("WScript.Shell").Run "calc"</script></html>`)})
	// A CHM listing an executable in the compressed section: the entry's
	// section number (after its name) is set to 1.
	compressed := carriers.CHMWith(map[string][]byte{"/tools/setup.exe": []byte("MZ")})
	i := bytes.Index(compressed, []byte("/tools/setup.exe\x00"))
	compressed[i+len("/tools/setup.exe")] = 1
	cases := []struct {
		name string
		body []byte
		want []string
		not  []string
		text string // in the chm.shortcut_command reason
	}{
		{"help.chm", carriers.CHMShortcut(), []string{"chm.downloaded", "chm.shortcut_command"}, []string{"chm.script_runs"}, `",notepad.exe,edgesensor-test.txt"`},
		{"help.chm", scripted, []string{"chm.script_runs"}, []string{"chm.shortcut_command"}, ""},
		{"help.chm", carriers.CHMWith(map[string][]byte{"/setup.exe": minimalPE(), "/a.htm": []byte("<p>hi")}),
			[]string{"archive.executable_inside"}, []string{"chm.shortcut_command", "chm.script_runs"}, ""},
		{"help.chm", compressed, []string{"chm.executable_name"}, []string{"archive.executable_inside"}, ""},
		{"help.chm", carriers.CHM(), []string{"chm.downloaded"}, []string{"chm.executable_name", "archive.limit_reached"}, ""},
	}
	for _, c := range cases {
		ty := filetype.Detect(c.body, c.name, "", int64(len(c.body)))
		rs := Analyze(bytes.NewReader(c.body), int64(len(c.body)), ty, c.name, Limits{})
		have := map[string]string{}
		for _, r := range rs {
			have[r.Rule] = r.Text
		}
		for _, w := range c.want {
			if _, ok := have[w]; !ok {
				t.Errorf("%s: no %s in %+v", ty.Kind, w, rs)
			}
		}
		for _, w := range c.not {
			if _, ok := have[w]; ok {
				t.Errorf("%s: %s in %+v", ty.Kind, w, rs)
			}
		}
		if c.text != "" && !strings.Contains(have["chm.shortcut_command"], c.text) {
			t.Errorf("shortcut text %q", have["chm.shortcut_command"])
		}
	}
	// What was not read is said.
	rs := Analyze(bytes.NewReader(compressed), int64(len(compressed)), filetype.Detect(compressed, "h.chm", "", 0), "h.chm", Limits{})
	for _, r := range rs {
		if r.Rule == "chm.downloaded" && !strings.Contains(r.Text, "1 file(s) LZX-compressed, not read") {
			t.Errorf("unread content not said: %q", r.Text)
		}
	}
}
