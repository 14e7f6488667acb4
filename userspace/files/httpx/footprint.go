package httpx

import (
	"reflect"
	"unsafe"

	"github.com/andybalholm/brotli"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Footprint implements transfer.Parser: the bytes the parser holds now.
// Per direction that is one line of a header block at most (lineKeep),
// the fields kept of the block (clipped strings), the batch of small
// chunks, the body's decoders and multipart splitter; beside them the
// queued requests and the file waiting for its next range. The figures
// of the decoders are those of the standard library's and brotli's
// state, measured (TestDecoderFootprint): their windows, tables and
// buffers, and the coroutine's stack.
func (p *Parser) Footprint() int {
	n := int(unsafe.Sizeof(*p))
	n += p.req.footprint() + p.resp.footprint()
	n += cap(p.fifo.q)*int(unsafe.Sizeof(request{})) + p.fifo.strs
	n += len(p.rng.url) + len(p.rng.validator) + len(p.tunnel)
	return n
}

func (h *half) footprint() int {
	n := cap(h.acc.buf) + cap(h.batch) + h.hd.strBytes() + cap(h.held) + len(h.pk.ctype) + len(h.pk.name)
	b := &h.b
	n += metaBytes(&b.meta)
	if h.tee != nil {
		n += int(unsafe.Sizeof(*h.tee)) + metaBytes(&h.tee.meta)
	}
	if b.dec != nil {
		n += b.dec.footprint()
	}
	if m := b.mp; m != nil {
		n += int(unsafe.Sizeof(*m)) + cap(m.delim) + cap(m.carry) + cap(m.hdr)
		n += metaBytes(&m.base) + metaBytes(&m.meta)
	}
	if r := b.rng; r != nil {
		n += int(unsafe.Sizeof(*r)) + len(r.url) + len(r.validator)
	}
	return n
}

func (hd *headState) strBytes() int {
	f := &hd.f
	return len(hd.method) + len(hd.target) + len(f.host) + len(f.ua) + len(f.ctype) + len(f.cdisp) +
		len(f.cenc) + len(f.te) + len(f.crange) + len(f.etag) + len(f.lastMod)
}

// metaBytes is what the strings a parser puts in a Meta hold.
func metaBytes(m *transfer.Meta) int {
	return len(m.Name) + len(m.ContentType) + len(m.Method) + len(m.URL) + len(m.Host) +
		len(m.UserAgent) + len(m.ContentEncoding) + len(m.Tunnel)
}

// What a decoder's layers hold once started, measured with the heap
// profile of live decoders (TestDecoderFootprint).
const (
	// flateState: klauspost/compress's flate decompressor, its 32 KiB window, its
	// Huffman tables and links, and the 512-byte bufio.Reader in front.
	flateState = 48 << 10
	// gzipState: gzip.Reader beside its flate decompressor.
	gzipState = 1 << 10
	// brotliState: brotli.Reader's 32 KiB input buffer and its tables,
	// beside the ring buffer (the window), which is read from the
	// reader as it grows.
	brotliState = 74 << 10
	// coroutineStack: the goroutine iter.Pull runs the decoders on (its
	// stack starts small and grows with the decoders' calls).
	coroutineStack = 8 << 10
)

func (d *decoder) footprint() int {
	n := int(unsafe.Sizeof(*d)) + cap(d.drv.Out)
	if d.next == nil {
		return n // not started: nothing allocated yet
	}
	n += coroutineStack
	for i := d.layers.n - 1; i >= d.layers.n-d.opened && i >= 0; i-- {
		switch d.layers.c[i] {
		case cGzip:
			n += flateState + gzipState
		case cDeflate:
			n += flateState
		case cBrotli:
			n += brotliState
		}
	}
	if d.br != nil {
		n += brotliRing(d.br)
	}
	return n
}

// brotliRing is the size of a brotli reader's ring buffer, which holds
// the window and grows with the output up to the stream's window size
// (up to 16 MiB). The reader does not export it: it is read by
// reflection (read only, while the decoder's coroutine is suspended).
func brotliRing(r *brotli.Reader) int {
	if brotliRingField == nil {
		return 0
	}
	return reflect.ValueOf(r).Elem().FieldByIndex(brotliRingField).Cap()
}

// brotliRingField is the index of brotli.Reader's ring buffer, nil when
// the package has none by that name (TestDecoderFootprint fails then).
var brotliRingField = func() []int {
	f, ok := reflect.TypeOf(brotli.Reader{}).FieldByName("ringbuffer")
	if !ok || f.Type.Kind() != reflect.Slice {
		return nil
	}
	return f.Index
}()
