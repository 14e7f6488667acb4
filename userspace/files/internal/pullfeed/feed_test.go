package pullfeed

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"iter"
	"testing"
)

// A deflate stream pushed a byte at a time inflates whole; with EOF set
// and the bytes used up, reads end with io.EOF; a stopped coroutine's
// reads end with ErrStopped.
func TestInput(t *testing.T) {
	want := bytes.Repeat([]byte("pushed, then pulled. "), 500)
	var c bytes.Buffer
	w, _ := flate.NewWriter(&c, flate.BestSpeed)
	w.Write(want)
	w.Flush() // a sync flush, no final block: the reader waits for more

	var in Input
	var readErr error
	next, stop := iter.Pull(func(yield func([]byte) bool) {
		in.Yield = yield
		r := flate.NewReader(&in)
		buf := make([]byte, 100)
		for {
			n, err := r.Read(buf)
			if n > 0 && !yield(append([]byte(nil), buf[:n]...)) {
				return
			}
			if err != nil {
				readErr = err
				return
			}
		}
	})
	var got []byte
	for _, b := range c.Bytes() {
		in.In = []byte{b}
		for {
			out, ok := next()
			if !ok {
				t.Fatalf("coroutine ended: %v", readErr)
			}
			if out == nil {
				break
			}
			got = append(got, out...)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("inflated %d bytes, want %d", len(got), len(want))
	}
	stop()
	if !errors.Is(readErr, ErrStopped) {
		t.Errorf("stopped: %v", readErr)
	}

	e := Input{In: []byte("ab"), EOF: true, Yield: func([]byte) bool { t.Fatal("yield at EOF"); return false }}
	if b, err := io.ReadAll(&e); string(b) != "ab" || err != nil {
		t.Errorf("EOF: %q %v", b, err)
	}
	if _, err := e.ReadByte(); err != io.EOF {
		t.Errorf("ReadByte at EOF: %v", err)
	}
}
