package onenote

import (
	"bytes"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
)

func scan(b []byte, max int64) *File { return Scan(bytes.NewReader(b), int64(len(b)), max) }

func TestScanBuilt(t *testing.T) {
	hta := carriers.HTA()
	b := carriers.OneNote(hta)
	f := scan(b, 0)
	if len(f.Files) != 1 || f.Truncated {
		t.Fatalf("%+v", f)
	}
	e := f.Files[0]
	if e.Cut || !bytes.Equal(b[e.Offset:e.Offset+e.Size], hta) {
		t.Fatalf("%+v: %q", e, b[e.Offset:e.Offset+e.Size])
	}
}

// Two objects, the second across a window boundary; one cut short.
func TestScanWindowsAndCut(t *testing.T) {
	obj := func(content []byte, claim uint64) []byte {
		h := append([]byte{}, FileDataGUID...)
		h = append(h, byte(claim), byte(claim>>8), byte(claim>>16), byte(claim>>24), 0, 0, 0, 0)
		h = append(h, make([]byte, 12)...)
		return append(h, content...)
	}
	var b []byte
	b = append(b, obj([]byte("first"), 5)...)
	b = append(b, make([]byte, Window-len(b)-7)...) // the next GUID straddles the window
	b = append(b, obj([]byte("MZ second"), 1000)...)
	f := scan(b, 0)
	if len(f.Files) != 2 {
		t.Fatalf("%+v", f)
	}
	if e := f.Files[0]; string(b[e.Offset:e.Offset+e.Size]) != "first" || e.Cut {
		t.Errorf("first: %+v", e)
	}
	if e := f.Files[1]; string(b[e.Offset:e.Offset+e.Size]) != "MZ second" || !e.Cut || e.Claims != 1000 {
		t.Errorf("second: %+v", e)
	}
	// Scanning only the first window sees one, and says it stopped short.
	if f := scan(b, Window-100); len(f.Files) != 1 || !f.Truncated {
		t.Errorf("bounded: %+v", f)
	}
}

func TestScanMaxFiles(t *testing.T) {
	one := append(append([]byte{}, FileDataGUID...), make([]byte, header-16)...) // empty objects
	b := bytes.Repeat(one, MaxFiles+3)
	f := scan(b, 0)
	if len(f.Files) != MaxFiles || !f.Truncated {
		t.Fatalf("%d files, truncated %v", len(f.Files), f.Truncated)
	}
}

// FuzzScan: no panic, every object inside the scanned region, at most
// MaxFiles, objects in order and not overlapping.
func FuzzScan(f *testing.F) {
	f.Add(carriers.OneNote(carriers.HTA()), int64(0))
	f.Add(carriers.OneNote([]byte("MZ")), int64(1100))
	f.Add(append(append([]byte{}, FileDataGUID...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, max int64) {
		r := scan(b, max)
		if len(r.Files) > MaxFiles {
			t.Fatal(len(r.Files))
		}
		last := int64(0)
		for _, e := range r.Files {
			if e.Offset < last || e.Size < 0 || e.Offset+e.Size > int64(len(b)) || (max > 0 && e.Offset+e.Size > max) {
				t.Fatalf("%+v (len %d, max %d)", e, len(b), max)
			}
			if !bytes.Equal(b[e.Offset-header:e.Offset-header+16], FileDataGUID) {
				t.Fatalf("no GUID before %+v", e)
			}
			last = e.Offset + e.Size
		}
	})
}

// countingReader counts the bytes asked of it.
type countingReader struct {
	r    *bytes.Reader
	read int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.read += int64(len(p))
	return c.r.ReadAt(p, off)
}

// Many small objects before a long tail are found from the window that
// holds them, not with a window's read each (a read of 1 MiB per object
// made a file of a few MiB cost gigabytes of reads).
func TestScanReadsEachWindowOnce(t *testing.T) {
	obj := append(append([]byte{}, FileDataGUID...), 8, 0, 0, 0, 0, 0, 0, 0)
	obj = append(append(obj, make([]byte, 12)...), "MZ123456"...)
	b := append(bytes.Repeat(obj, MaxFiles-1), make([]byte, 4*Window)...)
	c := &countingReader{r: bytes.NewReader(b)}
	f := Scan(c, int64(len(b)), 0)
	if len(f.Files) != MaxFiles-1 || f.Truncated {
		t.Fatalf("%d files, truncated %v", len(f.Files), f.Truncated)
	}
	for _, e := range f.Files {
		if string(b[e.Offset:e.Offset+e.Size]) != "MZ123456" {
			t.Fatalf("%+v", e)
		}
	}
	if c.read > 2*int64(len(b)) {
		t.Errorf("read %d bytes of a %d-byte file", c.read, len(b))
	}
}
