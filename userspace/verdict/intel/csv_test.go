package intel

import (
	"strings"
	"testing"
)

func TestCSVNamedColumnAndLevel(t *testing.T) {
	p := write(t, t.TempDir(), "feed.csv", "first_seen,Domain,threat_level\n"+
		"2024-01-01,Evil.Example.,8\n"+
		"# comment row\n"+
		"2024-01-02,\"bad.test\",\n"+
		"2024-01-03,not a domain,5\n"+
		"2024-01-04,ok.test,eleven\n"+
		"short\n")
	s, errs := Load([]Source{{Path: p, Kind: Domain, Column: "domain"}}) // format from .csv
	les := lineErrors(errs)
	if len(errs) != 3 || len(les) != 3 || les[0].Line != 5 || les[1].Line != 6 || les[2].Line != 7 {
		t.Fatalf("errors %v", errs)
	}
	if h, ok := s.Domain("www.evil.example"); !ok || h.Level != 8 || h.Value != "evil.example" {
		t.Fatalf("%+v %v", h, ok)
	}
	if h, ok := s.Domain("bad.test"); !ok || h.Level != 10 {
		t.Fatalf("empty level cell should default: %+v %v", h, ok)
	}
	if _, ok := s.Domain("ok.test"); ok {
		t.Fatal("row with bad level loaded")
	}
}

func TestCSVMissingColumnIsFileError(t *testing.T) {
	p := write(t, t.TempDir(), "f.txt", "a,b\n1,2\n")
	_, errs := Load([]Source{{Path: p, Kind: IP, Format: "csv", Column: "ip"}})
	if err := fatal(errs); err == nil || !strings.Contains(err.Error(), `no column "ip"`) {
		t.Fatalf("%v", errs)
	}
}

func TestCSVFirstColumnDefault(t *testing.T) {
	p := write(t, t.TempDir(), "ja3.csv", "ja3,level\n"+strings.ToUpper(ja3A)+",2\n")
	s := mustLoad(t, Source{Path: p, Kind: JA3})
	if h, ok := s.JA3(ja3A); !ok || h.Level != 2 || h.Kind != JA3 {
		t.Fatalf("%+v %v", h, ok)
	}
}
