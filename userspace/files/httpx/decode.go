package httpx

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"

	"github.com/andybalholm/brotli"

	"github.com/edgesensor/edgesensor/userspace/files/internal/pullfeed"
)

type decState uint8

const (
	decNeed decState = iota // all input consumed: feed more
	decOut                  // a chunk of output
	decEnd                  // the coded stream ended cleanly
	decErr                  // malformed, or truncated at the end of input
)

// decoder undoes a body's codings. The standard library's decoders pull
// their input and cannot resume after running dry, so they run as a
// coroutine (iter.Pull, through a pullfeed.Driver): when the input of a
// Data call is used up the coroutine yields, and the next call resumes it
// where it stood. The coroutine only runs while the caller waits in step,
// so the file is written from the caller's goroutine and no input slice
// is kept.
type decoder struct {
	p      *Parser
	layers codings
	drv    pullfeed.Driver // the input not yet read by the decoders, their output
	next   func() ([]byte, bool)
	stop   func()
	// fed counts the coded bytes given, produced the decoded bytes
	// taken: MaxDecoded and MaxRatio look at them.
	fed, produced int64
	// opened counts the layers started; br is the brotli layer, if one
	// started (Footprint reads its window).
	opened int
	br     *brotli.Reader
}

func newDecoder(p *Parser, cs *codings) *decoder { return &decoder{p: p, layers: *cs} }

// push gives the decoder its next input, or the end of it.
func (d *decoder) push(p []byte, eof bool) {
	d.drv.In.In, d.drv.In.EOF = p, eof
	d.fed += int64(len(p))
}

// step runs the decoders until they yield output or need input.
func (d *decoder) step() ([]byte, decState) {
	if d.next == nil {
		d.next, d.stop = d.drv.Start(d.open, decodeBuf)
		d.p.coroutines++
	}
	c, ok := d.next()
	switch {
	case !ok && errors.Is(d.drv.Err, io.EOF):
		return nil, decEnd
	case !ok:
		return nil, decErr
	case c == nil:
		return nil, decNeed
	}
	return c, decOut
}

// release ends the coroutine, if it runs, and frees the buffers.
func (d *decoder) release() {
	if d.stop != nil {
		d.stop()
		d.stop = nil
		d.p.coroutines--
	}
	d.drv.Free()
	d.br = nil
}

// open stacks the decoders over the input, on the coroutine.
func (d *decoder) open(r io.Reader) (io.Reader, error) {
	for i := d.layers.n - 1; i >= 0; i-- {
		var err error
		d.opened++
		if r, err = d.openLayer(d.layers.c[i], r); err != nil {
			return nil, fmt.Errorf("open %v: %w", d.layers.c[i], err)
		}
	}
	return r, nil
}

// openLayer starts one decoder over r. It may read r (headers), which
// suspends the coroutine until the input arrives.
func (d *decoder) openLayer(c coding, r io.Reader) (io.Reader, error) {
	switch c {
	case cGzip:
		return newGzipReader(r)
	case cDeflate:
		// "deflate" is zlib (RFC 9110 §8.4.1.2) but raw deflate is seen
		// too: a zlib header is 2 bytes whose big-endian value is a
		// multiple of 31 with method 8 and a window of at most 32 KiB.
		br := bufio.NewReaderSize(r, 512)
		hdr, err := br.Peek(2)
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF // one byte is not an empty stream
		}
		if err != nil {
			return nil, err
		}
		if hdr[0]&0x0f == 8 && hdr[0]>>4 <= 7 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			return zlib.NewReader(br)
		}
		return flate.NewReader(br), nil
	case cBrotli:
		d.br = brotli.NewReader(r)
		return d.br, nil
	}
	return nil, fmt.Errorf("coding %d", c)
}

// gzipReader reads gzip members one after the other, like gzip's
// multistream mode, but ends quietly when what follows a member is not
// another member: trailing junk after a complete file is seen in the wild
// and must not cut the file.
type gzipReader struct {
	br   *bufio.Reader
	z    *gzip.Reader
	done bool
}

func newGzipReader(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 512)
	z, err := gzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	z.Multistream(false)
	return &gzipReader{br: br, z: z}, nil
}

func (g *gzipReader) Read(b []byte) (int, error) {
	for !g.done {
		n, err := g.z.Read(b)
		if err != io.EOF {
			return n, err
		}
		if hdr, err := g.br.Peek(2); err != nil || hdr[0] != 0x1f || hdr[1] != 0x8b {
			g.done = true
		} else if err := g.z.Reset(g.br); err != nil {
			return n, err
		} else {
			g.z.Multistream(false)
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, io.EOF
}
