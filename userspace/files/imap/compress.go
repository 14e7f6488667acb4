package imap

import (
	"bufio"
	"errors"
	"io"
	"sync/atomic"
	"unsafe"

	"github.com/klauspost/compress/flate"

	"github.com/edgesensor/edgesensor/userspace/files/internal/pullfeed"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// COMPRESS=DEFLATE (RFC 4978). Once the server's tagged OK to COMPRESS
// is seen, each direction is one raw deflate stream (the peers flush it
// with sync flushes, so every command and response can be decoded as it
// comes). The bytes after the OK line, and the client's bytes after its
// COMPRESS line, are inflated and parsed as IMAP as before.
//
// The flate decoder pulls its input from an io.Reader and cannot resume
// after running dry, so each direction's inflater runs as a coroutine
// (iter.Pull, through a pullfeed.Driver as httpx's decoders): when a
// Data call's bytes are used up it yields, and the next call resumes it.
// It only runs while the parser waits for it, so the parser's state is
// only touched from the caller's goroutine.

// Defaults of the COMPRESS bounds.
const (
	// DefaultMaxCompressed bounds the connections inflating at once, over
	// all parsers of the process (each holds two inflaters).
	DefaultMaxCompressed = 256
	// DefaultMaxInflateRatio bounds inflated/compressed bytes of a
	// direction, applied past inflateFloor of output.
	DefaultMaxInflateRatio = 200
	inflateFloor           = 1 << 20
)

// inflateOut is the inflater's output buffer, parsed as it fills.
const inflateOut = 8 << 10

// maxPending bounds the client bytes held after COMPRESS until the
// server answers: a client waits for the answer, so only a stream fed far
// ahead of the server's fills it.
const maxPending = 16 << 10

// What an inflater holds beside its buffers: the flate
// decompressor (its 32 KiB window, Huffman tables and links), and the
// goroutine iter.Pull runs it on (its stack starts small and grows with
// the decompressor's calls). Measured by TestCompressFootprint.
const (
	flateState     = 44 << 10
	coroutineStack = 8 << 10
)

// compressedConns counts the connections inflating now, over all
// parsers (they run on several goroutines).
var compressedConns atomic.Int64

// inflater is one direction's deflate stream.
type inflater struct {
	// drv runs flate: its input (the compressed bytes of this Data
	// call), its output buffer and how it ended.
	drv pullfeed.Driver
	// br is flate's reader over the input: the decoder reads a
	// *bufio.Reader without an interface call per byte (1.1-1.4x as
	// fast: go test -bench CompressFetch ./userspace/files/imap).
	br   *bufio.Reader
	next func() ([]byte, bool)
	stop func()
	// fed counts the compressed bytes given, produced the inflated ones
	// taken: MaxInflateRatio looks at them.
	fed, produced int64
}

// open is flate over br over the input, on the coroutine.
func (z *inflater) open(r io.Reader) (io.Reader, error) {
	z.br = bufio.NewReaderSize(r, 512)
	return flate.NewReader(z.br), nil
}

func (z *inflater) release() {
	if z.stop != nil {
		z.stop()
		z.stop = nil
	}
	z.drv.Free()
	z.br = nil
}

// unread is what was fed and flate has not read: left in the input, or
// in br.
func (z *inflater) unread() int {
	n := len(z.drv.In.In)
	if z.br != nil {
		n += z.br.Buffered()
	}
	return n
}

func (z *inflater) footprint() int {
	n := int(unsafe.Sizeof(*z)) + cap(z.drv.Out)
	if z.next != nil {
		n += flateState + coroutineStack
	}
	if z.br != nil {
		n += z.br.Size() + int(unsafe.Sizeof(*z.br))
	}
	return n
}

// startCompress follows the server's OK to COMPRESS: both directions
// inflate from here on.
func (p *Parser) startCompress() {
	p.st.Compress++
	if p.s.z != nil {
		p.st.Malformed++ // compression cannot be started twice
		p.refuseCompress()
		return
	}
	if compressedConns.Add(1) > int64(p.opt.MaxCompressed) {
		compressedConns.Add(-1)
		p.st.CompressLimit++
		p.c.pending = nil
		p.stop()
		return
	}
	p.compressing = true
	p.s.z, p.c.z = new(inflater), new(inflater)
	p.s.zStart = true
	p.c.zwait = false
	if p.c.zlost {
		// The client's compressed stream lost bytes before it started.
		p.compressGap()
		return
	}
	p.c.zready = true // its held bytes are inflated once the server's call ends
}

// refuseCompress follows a refusal of COMPRESS: the client's held bytes
// are plain.
func (p *Parser) refuseCompress() {
	if p.c.zwait {
		p.c.zwait, p.c.zlost = false, false
		p.c.zready = true
	}
}

// releasePending hands on the client bytes held while COMPRESS was
// answered.
func (p *Parser) releasePending() {
	c := &p.c
	if !c.zready || c.zwait {
		return
	}
	c.zready = false
	b := c.pending
	c.pending = nil
	if len(b) > 0 && !p.done {
		p.clientFeed(b)
	}
}

// holdPending keeps client bytes sent after COMPRESS until the server's
// answer is seen.
func (p *Parser) holdPending(b []byte) {
	c := &p.c
	if len(c.pending)+len(b) > maxPending {
		// The server's answer is far behind: whether these bytes are
		// compressed is not known.
		p.st.CompressLost++
		c.pending = nil
		p.stop()
		return
	}
	if c.pending == nil {
		c.pending = make([]byte, 0, min(maxPending, max(len(b), 512)))
	}
	c.pending = append(c.pending, b...)
}

// inflate feeds one direction's compressed bytes and parses what comes
// out.
func (p *Parser) inflate(fromClient bool, b []byte) {
	z := p.s.z
	if fromClient {
		z = p.c.z
	}
	z.drv.In.In = b
	z.fed += int64(len(b))
	if z.next == nil {
		z.next, z.stop = z.drv.Start(z.open, inflateOut)
	}
	for !p.done {
		out, ok := z.next()
		if !ok {
			// The stream ended (a final block: nothing can follow it in
			// RFC 4978) or is not deflate: the rest cannot be read.
			p.st.CompressError++
			cut := transfer.CutCorrupt
			if errors.Is(z.drv.Err, io.EOF) {
				cut = transfer.CutEnded
			}
			p.stopCut(cut)
			return
		}
		if out == nil {
			return // all of b is read
		}
		z.produced += int64(len(out))
		// The compressed bytes flate read so far: a bomb is seen within
		// the Data call that carries it.
		if z.produced > inflateFloor && z.produced/int64(p.opt.MaxInflateRatio) > z.fed-int64(z.unread()) {
			p.st.CompressBomb++
			p.stopCut(transfer.CutBomb)
			return
		}
		p.st.Inflated += uint64(len(out))
		if fromClient {
			p.clientPlain(out)
		} else {
			p.serverPlain(out)
		}
	}
}

// compressGap: a gap in a compressed direction leaves the rest of it
// undecodable (the window and the bit position are lost).
func (p *Parser) compressGap() {
	p.st.CompressGaps++
	p.stopCut(transfer.CutGap)
}

// releaseCompress ends the inflaters, if any.
func (p *Parser) releaseCompress() {
	for _, z := range []*inflater{p.c.z, p.s.z} {
		if z != nil {
			z.release()
		}
	}
	if p.compressing {
		p.compressing = false
		compressedConns.Add(-1)
	}
	p.c.pending = nil
}

// tagRing keeps the hashes of the latest tags.
type tagRing struct {
	h    [8]uint64
	next int
}

func (r *tagRing) add(h uint64) {
	r.h[r.next] = h
	r.next = (r.next + 1) % len(r.h)
}

func (r *tagRing) has(h uint64) bool {
	for _, x := range r.h {
		if x == h {
			return true
		}
	}
	return false
}

// tagHash is FNV-1a of a tag, never 0 (an empty slot).
func tagHash(tag []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range tag {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h | 1
}
