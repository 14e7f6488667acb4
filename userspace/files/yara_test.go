package files

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/verdict/yara"
)

// An analyst's YARA rule that matches a reconstructed file is a reason
// named after the rule (built with -tags yara; without, rules are
// refused, never ignored).
func TestYARARuleIsAReason(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "analyst.yar")
	if err := os.WriteFile(rules, []byte("rule is_pe { condition: uint16(0) == 0x5A4D }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	compiled, err := yara.Compile([]string{rules})
	if !yara.Available() {
		if !errors.Is(err, yara.ErrNotBuilt) {
			t.Fatalf("without yara: %v", err)
		}
		t.Skip("built without the yara tag: `go test -tags yara` covers the match")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer compiled.Close()
	p, buf, _ := newPipeline(t, nil, nil)
	p.cfg.YARA = compiled
	sh := p.NewShard(0)
	c := testutil.TCPConns(t, corpus+"http_exe.pcap")[0]
	feed(sh, c, segments(c, 1448), time.Unix(1700000000, 0))
	sh.Close()
	out := buf.String()
	if !strings.Contains(out, `"rule":"yara.is_pe","text":"YARA rule analyst:is_pe matched","weight":8`) {
		t.Errorf("no YARA reason in %s", out)
	}
}
