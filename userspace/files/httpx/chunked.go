package httpx

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type chunkState uint8

const (
	csSize        chunkState = iota // chunk-size hex digits
	csExt                           // chunk extensions (or BWS), up to LF
	csSizeLF                        // CR after the size seen
	csData                          // chunk data
	csDataCR                        // the CRLF after the data
	csDataLF                        //
	csTrailer                       // start of a trailer field line, or the final empty line
	csTrailerLine                   // inside a trailer field line
	csTrailerLF                     // CR of the final empty line seen
)

// chunker is the state of the chunked decoding (RFC 9112 §7.1). It runs
// byte by byte outside chunk data, so nothing is buffered.
type chunker struct {
	st      chunkState
	size    uint64
	digits  int
	line    int   // bytes of the current chunk-size line
	trailer int64 // bytes of the trailer section
	whole   int64 // size of the chunk whose data is being read
}

// Small chunks are gathered into a batch before they go on: a stream of
// one-byte chunks would otherwise cost a decoder switch and a sink call
// per byte, which a sender could use to burn the sensor's CPU.
const (
	smallChunk = 512
	batchSize  = 16 << 10
)

// chunkData passes on one run of chunk data: a small chunk is batched,
// a big one (even split by segments) goes on without a copy.
func (h *half) chunkData(d []byte) {
	if h.b.chunk.whole >= smallChunk {
		h.flushBatch()
		h.deliver(d)
		return
	}
	if len(h.batch)+len(d) > batchSize {
		h.flushBatch()
	}
	if h.batch == nil {
		h.batch = make([]byte, 0, batchSize)
	}
	h.batch = append(h.batch, d...)
}

// flushBatch passes on the gathered small chunks. It runs before the
// body ends or desyncs and at the end of every Data call, so no byte is
// held across calls.
func (h *half) flushBatch() {
	if len(h.batch) == 0 {
		return
	}
	d := h.batch
	h.batch = h.batch[:0]
	if h.b.want {
		h.deliver(d)
	}
}

// chunked takes chunked body bytes from p and returns how many it used;
// the body ends after the trailer section.
func (h *half) chunked(p []byte) int {
	n := h.chunks(p)
	h.flushBatch()
	return n
}

func (h *half) chunks(p []byte) int {
	b := &h.b
	c := &b.chunk
	i := 0
	for i < len(p) {
		switch c.st {
		case csData:
			k := len(p) - i
			if int64(k) > b.remain {
				k = int(b.remain)
			}
			if b.want {
				h.chunkData(p[i : i+k])
			}
			b.remain -= int64(k)
			i += k
			if b.remain == 0 {
				c.st = csDataCR
			}
			continue
		case csExt:
			// Extensions are not used: skip them, bounded.
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				c.line += len(p) - i
				i = len(p)
			} else {
				c.line += j
				i += j + 1
			}
			if c.line > maxChunkLine {
				return h.chunkBad()
			}
			if j >= 0 {
				h.chunkSize()
			}
			continue
		case csTrailer, csTrailerLine:
			if c.st == csTrailerLine || p[i] != '\r' && p[i] != '\n' {
				// Trailer fields are not used: skip them, bounded.
				j := bytes.IndexByte(p[i:], '\n')
				n := len(p) - i
				if j >= 0 {
					n = j + 1
				}
				// Not held: past MaxHeaderBlock they are only counted
				// (the body's bytes are all in by now).
				if c.trailer <= int64(h.p.opts.MaxHeaderBlock) && c.trailer+int64(n) > int64(h.p.opts.MaxHeaderBlock) {
					h.p.stats.Malformed.HeaderTooLong++
				}
				c.trailer += int64(n)
				i += n
				c.st = csTrailerLine
				if j >= 0 {
					c.st = csTrailer
				}
				continue
			}
		}
		ch := p[i]
		i++
		switch c.st {
		case csSize:
			if v := unhex(ch); v >= 0 {
				if c.size > 1<<56 {
					return h.chunkBad() // no chunk is that big
				}
				c.size = c.size<<4 | uint64(v)
				c.digits++
				if c.line++; c.line > maxChunkLine {
					return h.chunkBad()
				}
				continue
			}
			switch {
			case c.digits == 0:
				return h.chunkBad()
			case ch == '\r':
				c.st = csSizeLF
			case ch == '\n': // bare LF, tolerated
				h.chunkSize()
			case ch == ';' || isOWS(ch):
				c.st = csExt
			default:
				return h.chunkBad()
			}
		case csSizeLF:
			if ch != '\n' {
				return h.chunkBad()
			}
			h.chunkSize()
		case csDataCR:
			switch ch {
			case '\r':
				c.st = csDataLF
			case '\n':
				*c = chunker{}
			default:
				return h.chunkBad()
			}
		case csDataLF:
			if ch != '\n' {
				return h.chunkBad()
			}
			*c = chunker{}
		case csTrailer:
			if ch == '\r' {
				c.st = csTrailerLF
				continue
			}
			h.flushBatch()
			h.endBody(transfer.Whole, true) // '\n': the last line
			return i
		case csTrailerLF:
			if ch != '\n' {
				return h.chunkBad()
			}
			h.flushBatch()
			h.endBody(transfer.Whole, true)
			return i
		}
	}
	return i
}

// chunkSize acts on a complete chunk-size line.
func (h *half) chunkSize() {
	b := &h.b
	c := &b.chunk
	if c.size == 0 {
		c.st = csTrailer
		return
	}
	b.remain = int64(c.size)
	*c = chunker{st: csData, whole: int64(c.size)}
}

func (h *half) chunkBad() int {
	h.flushBatch() // what came before the error was good
	h.p.stats.Malformed.Chunk++
	h.desync(transfer.CutCorrupt)
	return 0
}
