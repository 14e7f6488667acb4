// Package pullfeed runs a decompressor as a coroutine over pushed bytes.
//
// The flate decoders (and gzip, zlib, brotli) pull their input from an
// io.Reader and cannot resume after running dry, while the protocol
// parsers are pushed bytes a Data call at a time. So a parser runs the
// decompressor under iter.Pull and gives it an Input: reads take what the
// current call pushed, and when that is used up the coroutine yields nil
// to the parser, which returns and resumes it on the next call. A Driver
// runs the decoder chain and its read loop on that coroutine.
package pullfeed

import (
	"errors"
	"io"
)

// ErrStopped is what reads return once the coroutine is being stopped
// (its yield said false): the decompressor unwinds with it.
var ErrStopped = errors.New("pullfeed: decoder stopped")

// Input is an io.Reader and io.ByteReader (so flate reads it without a
// bufio layer of its own) over pushed bytes.
type Input struct {
	In    []byte            // pushed bytes not yet read
	EOF   bool              // nothing follows In: reads past it return io.EOF
	Yield func([]byte) bool // the coroutine's yield, called with nil for more
}

func (f *Input) fill() error {
	for len(f.In) == 0 {
		if f.EOF {
			return io.EOF
		}
		if !f.Yield(nil) {
			return ErrStopped
		}
	}
	return nil
}

func (f *Input) Read(b []byte) (int, error) {
	if err := f.fill(); err != nil {
		return 0, err
	}
	n := copy(b, f.In)
	f.In = f.In[n:]
	return n, nil
}

// ReadByte is io.ByteReader.
func (f *Input) ReadByte() (byte, error) {
	if err := f.fill(); err != nil {
		return 0, err
	}
	c := f.In[0]
	f.In = f.In[1:]
	return c, nil
}
