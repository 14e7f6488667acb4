package pullfeed

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"
)

func flateOpen(r io.Reader) (io.Reader, error) { return flate.NewReader(r), nil }

// A Driver inflates a stream pushed a byte at a time, in Out-sized
// pieces, and ends with io.EOF after the final block; stopped mid-stream
// it ends with ErrStopped; an opener's error ends it before Out is made.
func TestDriver(t *testing.T) {
	want := bytes.Repeat([]byte("driven, a byte at a time. "), 500)
	var c bytes.Buffer
	w, _ := flate.NewWriter(&c, flate.BestSpeed)
	w.Write(want)
	w.Close()

	var d Driver
	next, stop := d.Start(flateOpen, 100)
	var got []byte
	ended := false
	for _, b := range c.Bytes() {
		d.In.In = []byte{b}
		for !ended {
			out, ok := next()
			if !ok {
				ended = true
				break
			}
			if out == nil {
				break
			}
			if len(out) > 100 {
				t.Fatalf("yielded %d bytes, Out is 100", len(out))
			}
			got = append(got, out...)
		}
	}
	if !ended || d.Err != io.EOF || !bytes.Equal(got, want) {
		t.Fatalf("ended %v with %v, inflated %d bytes, want %d", ended, d.Err, len(got), len(want))
	}
	stop()
	d.Free()
	if d.In.In != nil || d.Out != nil {
		t.Error("Free left the buffers")
	}

	var s Driver
	next, stop = s.Start(flateOpen, 100)
	s.In.In = c.Bytes()[:10]
	for out, ok := next(); out != nil; out, ok = next() {
		if !ok {
			t.Fatal("ended before its input")
		}
	}
	stop()
	if !errors.Is(s.Err, ErrStopped) {
		t.Errorf("stopped: %v", s.Err)
	}

	bad := errors.New("bad header")
	var o Driver
	next, stop = o.Start(func(io.Reader) (io.Reader, error) { return nil, bad }, 100)
	if out, ok := next(); ok || out != nil || o.Err != bad || o.Out != nil {
		t.Errorf("opener failed: %q %v %v, Out %d", out, ok, o.Err, cap(o.Out))
	}
	stop()
}
