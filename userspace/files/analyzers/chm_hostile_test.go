package analyzers

import (
	"bytes"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
)

// A file named like the help system's tables ("/$...", "/#...") but
// with an extension is the sender's: it is examined, the tables are not.
func TestCHMDollarNames(t *testing.T) {
	b := carriers.CHMWith(map[string][]byte{"/$setup.exe": minimalPE(), "/#SYSTEM": minimalPE()})
	ty := filetype.Detect(b[:min(len(b), filetype.DeepHeadSize)], "help.chm", "", int64(len(b)))
	rs := Analyze(bytes.NewReader(b), int64(len(b)), ty, "help.chm", Limits{})
	n := 0
	for _, r := range rs {
		if r.Rule == "archive.executable_inside" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d executables: %+v", n, rs)
	}
}
