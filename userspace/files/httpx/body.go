package httpx

import (
	"errors"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

type framing uint8

const (
	fNone    framing = iota // no body
	fLength                 // Content-Length
	fChunked                // chunked transfer coding
	fClose                  // until the connection closes (responses only)
)

var transferNames = [...]string{fLength: "content-length", fChunked: "chunked", fClose: "close"}

// body is the message body being read on one direction.
type body struct {
	mode     framing
	remain   int64 // fLength: body bytes left; fChunked: bytes left in the chunk
	declared int64 // Content-Length, -1 otherwise
	wire     int64 // fLength: bytes consumed, skipped or lost to gaps
	chunk    chunker
	// want is set while bytes go somewhere: a decoder, the multipart
	// splitter or a file. Once clear the body is only framed (and
	// skipped where its length is known).
	want bool
	dec  *decoder
	mp   *multipart
	out  out
	meta transfer.Meta // the file's Meta, for the lazy open
	// rng is set for a 206 body that is one range of a file fetched in
	// ranges: at its end the file waits for the next range (Parser.rng).
	rng *rangeOf
	// limitCut: the message's head went past its bounds, so the file
	// cannot be whole (its description may have been cut).
	limitCut bool
	// maybeHead: the response of a request whose head was lost; if its
	// body starts like a status line the request was a HEAD and there
	// is no body.
	maybeHead bool
}

// startBody sets up the body the head just parsed announced; the caller
// filled h.b.meta.
func (h *half) startBody(mode framing, length int64, cod *codings, want bool) {
	b := &h.b
	b.mode, b.remain, b.declared, b.wire, b.want = mode, length, length, 0, want
	b.chunk = chunker{}
	if mode != fLength {
		b.remain = 0
	}
	b.meta.Transfer = transferNames[mode]
	h.st = stBody
	if !want {
		return
	}
	switch {
	case cod.raw:
		// Not ours to decode: the sink gets the bytes and is told why
		// they do not look like a file.
		h.p.stats.UnknownEncoding++
		b.meta.ContentEncoding = cod.text
	case cod.n > 0:
		h.p.stats.Decoded++
		b.meta.ContentEncoding = cod.names()
		b.dec = newDecoder(h.p, cod)
	case mode == fLength:
		b.meta.Size = length
	}
}

// bodyData takes body bytes from p; it returns how many it used (the
// rest belongs to the next message).
func (h *half) bodyData(p []byte) int {
	b := &h.b
	if b.maybeHead {
		b.maybeHead = false
		if k := min(len(p), len(httpPrefix)); string(p[:k]) == string(httpPrefix[:k]) {
			h.p.stats.HeadGuessed++
			h.closeConsumer(transfer.Whole)
			h.resetBody()
			h.st = stHead
			return 0
		}
	}
	switch b.mode {
	case fLength:
		k := len(p)
		if int64(k) > b.remain {
			k = int(b.remain)
		}
		if b.want {
			h.deliver(p[:k])
		}
		b.remain -= int64(k)
		b.wire += int64(k)
		if b.remain == 0 {
			h.endBody(transfer.Whole, true)
		}
		return k
	case fChunked:
		return h.chunked(p)
	}
	if b.want {
		h.deliver(p)
	}
	return len(p)
}

// trySkip hands back the rest of an unwanted body whose length is known:
// the caller drops it unseen, so it counts as consumed.
func (h *half) trySkip() int64 {
	b := &h.b
	if h.st != stBody || b.want || b.maybeHead || h.teeing() {
		// (A 101's tee takes every byte: none is skipped.)
		return 0
	}
	var s int64
	switch {
	case b.mode == fLength:
		s, b.remain = b.remain, 0
		b.wire += s
		h.endBody(transfer.Whole, false)
	case b.mode == fChunked && b.chunk.st == csData:
		s, b.remain = b.remain, 0
		b.chunk.st = csDataCR
	case b.mode == fClose:
		// The body runs to the end of the connection and nothing can
		// follow it: the whole flow is of no more interest, and the
		// data plane can ignore it.
		h.p.stats.CloseIgnored++
		h.p.finish(transfer.CutEnded)
		return 0
	}
	h.p.stats.SkippedBytes += uint64(s)
	return s
}

// deliver hands wire body bytes (de-chunked) to the decoders or on.
func (h *half) deliver(p []byte) {
	if h.b.dec != nil {
		h.decode(p, false)
		return
	}
	h.emit(p)
}

// emit hands decoded bytes to the multipart splitter or the file.
func (h *half) emit(p []byte) {
	b := &h.b
	if b.mp != nil {
		if !b.mp.write(p) {
			b.want = false // past the closing delimiter
			h.releaseDecoder()
		}
		return
	}
	if !b.out.write(h.p, &b.meta, p) {
		b.want = false
		h.releaseDecoder()
	}
}

// decode feeds coded bytes (or their end) to the decoders and emits what
// comes out, cutting bombs.
func (h *half) decode(p []byte, eof bool) {
	b := &h.b
	d := b.dec
	opts := &h.p.opts
	d.push(p, eof)
	for b.want {
		c, st := d.step()
		switch st {
		case decNeed:
			return
		case decEnd:
			// The coded stream is complete; whatever follows on the wire
			// is not part of the file.
			h.closeConsumer(transfer.Whole)
			return
		case decErr:
			cut := transfer.CutCorrupt
			if eof && b.mode == fClose && errors.Is(d.drv.Err, io.ErrUnexpectedEOF) {
				cut = transfer.CutEnded // the connection ended mid-stream
			} else {
				h.p.stats.Corrupt++
			}
			h.closeConsumer(cut)
			return
		}
		bomb := false
		if room := opts.MaxDecoded - d.produced; int64(len(c)) > room {
			c, bomb = c[:room], true
		}
		d.produced += int64(len(c))
		if d.produced > ratioFloor && d.produced/int64(opts.MaxRatio) > d.fed {
			bomb = true
		}
		if len(c) > 0 {
			h.emit(c)
		}
		if bomb && b.want {
			h.p.stats.Bombs++
			h.closeConsumer(transfer.CutBomb)
		}
	}
}

// closeConsumer ends what the body feeds with cut; the framing goes on.
func (h *half) closeConsumer(cut transfer.Cut) {
	b := &h.b
	if cut == transfer.Whole && b.limitCut {
		cut = transfer.CutLimit
	}
	if b.mp != nil {
		b.mp.finish(cut)
		b.mp = nil
	}
	b.out.close(cut)
	h.releaseDecoder()
	b.want = false
}

func (h *half) releaseDecoder() {
	if h.b.dec != nil {
		h.b.dec.release()
		h.b.dec = nil
	}
}

// endBody ends the body on the wire. flush lets the decoders finish with
// the input they have (the body is complete).
func (h *half) endBody(cut transfer.Cut, flush bool) {
	b := &h.b
	if b.mode == fLength && cut == transfer.Whole && b.wire != b.declared {
		h.p.bug = "body ended off its Content-Length"
	}
	if flush && b.want && b.dec != nil {
		h.decode(nil, true)
	}
	if r := b.rng; r != nil && cut == transfer.Whole && b.want && r.last+1 < r.total {
		// One range of a file fetched in ranges: the file stays open
		// for the next one.
		h.p.closeRange(transfer.CutNotFinal)
		h.p.rng = rangeChain{out: b.out, url: r.url, validator: r.validator, next: r.last + 1, total: r.total}
		b.out = out{}
	}
	h.closeConsumer(cut)
	h.resetBody()
	h.st = stHead
}

// abortBody cuts the body without finishing it (desync, Close).
func (h *half) abortBody(cut transfer.Cut) {
	h.closeConsumer(cut)
	h.resetBody()
}

func (h *half) resetBody() {
	h.batch = nil // 16 KiB an idle connection need not keep
	b := &h.b
	b.mode, b.remain, b.declared, b.wire, b.want = fNone, 0, 0, 0, false
	b.meta = transfer.Meta{}
	b.rng = nil
	b.limitCut, b.maybeHead = false, false
}

// bodyGap handles n missing bytes inside the body.
func (h *half) bodyGap(n int64) {
	b := &h.b
	switch b.mode {
	case fLength:
		if n > b.remain {
			// The gap runs past the body into the next message: the
			// body's own part of it is known, and the rest took the
			// next message's head.
			rest := n - b.remain
			h.consumerGap(b.remain)
			b.wire += b.remain
			b.remain = 0
			h.endBody(transfer.CutGap, false)
			h.loseHead(rest)
			return
		}
		b.remain -= n
		b.wire += n
		h.consumerGap(n)
		if b.remain == 0 {
			h.endBody(transfer.Whole, false)
		}
	case fChunked:
		if b.chunk.st == csData && n <= b.remain {
			// Inside one chunk's data: the framing survives.
			b.remain -= n
			h.consumerGap(n)
			if b.remain == 0 {
				b.chunk.st = csDataCR
			}
			return
		}
		h.desync(transfer.CutGap)
	default:
		h.consumerGap(n)
	}
}

// consumerGap tells what the body feeds that n bytes are missing.
func (h *half) consumerGap(n int64) {
	b := &h.b
	switch {
	case !b.want:
	case b.dec != nil:
		// A decoder cannot go on without its input.
		b.out.wireGap(n)
		h.closeConsumer(transfer.CutGap)
	case b.mp != nil:
		b.mp.gap(n)
	default:
		b.out.gap(h.p, &b.meta, n)
	}
}
