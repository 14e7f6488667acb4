package httpx

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// fields holds the header fields the parser uses; strings are clipped to
// transfer.MaxHeaderValue.
type fields struct {
	host, ua, ctype, cdisp, cenc, te, crange string
	// validator: ETag, else Last-Modified; the ranges of one file carry
	// the same (RFC 9110 §13.1.5).
	etag, lastMod                  string
	cl                             int64
	hasCL, badCL, hasTE, expect100 bool
	// upgrade: the request asked for another protocol (an Upgrade field
	// with a value: WebSocket, h2c); only then is a 101 a switch.
	upgrade bool
	// ask: what a request's Range field asked for (request.ask).
	ask int64
	// teBad: a Transfer-Encoding value that could not be read whole
	// (longer than a value is kept); cencRaw: the same of
	// Content-Encoding, whose body then goes out undecoded.
	teBad, cencRaw bool
}

// fieldKind says what an obs-fold line continues.
type fieldKind uint8

const (
	fkNone fieldKind = iota
	fkHost
	fkUA
	fkCType
	fkCDisp
	fkCL // a continuation makes Content-Length malformed
	fkTE
	fkCE
	fkRange // a continuation makes a Range field unreadable
)

// set records one field. cut says bytes of its value were not kept; over
// that the block is past its bounds, where only framing fields count. It
// returns what an obs-fold line would continue.
func (f *fields) set(name, v []byte, cut, over bool) fieldKind {
	switch {
	case foldEq(name, "content-length"):
		f.addCL(v, cut)
		return fkCL
	case foldEq(name, "transfer-encoding"):
		f.hasTE = true
		f.addTE(v, cut)
		return fkTE
	case over:
		return fkNone
	case foldEq(name, "host"):
		if f.host == "" {
			f.host = clip(v)
			return fkHost
		}
	case foldEq(name, "user-agent"):
		f.ua = clip(v)
		return fkUA
	case foldEq(name, "content-type"):
		f.ctype = clip(v)
		return fkCType
	case foldEq(name, "content-disposition"):
		f.cdisp = clip(v)
		return fkCDisp
	case foldEq(name, "content-encoding"):
		f.addCE(v, cut)
		return fkCE
	case foldEq(name, "content-range"):
		f.crange = clip(v)
	case foldEq(name, "etag"):
		f.etag = clip(v)
	case foldEq(name, "last-modified"):
		f.lastMod = clip(v)
	case foldEq(name, "expect"):
		f.expect100 = f.expect100 || foldContains(v, "100-continue")
	case foldEq(name, "upgrade"):
		f.upgrade = f.upgrade || len(v) > 0 || cut
	case foldEq(name, "range"):
		f.ask = askOf(v, cut, f.ask)
		return fkRange
	}
	return fkNone
}

// askOf reads a request's Range field (RFC 9110 §14.2): first+1 for one
// "bytes=first-[last]", askAny for anything else (a suffix, several
// ranges, another unit, a value not kept whole, a second field).
func askOf(v []byte, cut bool, prev int64) int64 {
	const unit = "bytes="
	v = trimOWS(v)
	if prev != 0 || cut || len(v) <= len(unit) || !foldEq(v[:len(unit)], unit) {
		return askAny
	}
	v = v[len(unit):]
	i := bytes.IndexByte(v, '-')
	if i <= 0 || bytes.IndexByte(v, ',') >= 0 {
		return askAny
	}
	first, ok := parseDec(trimOWS(v[:i]))
	if !ok {
		return askAny
	}
	if rest := trimOWS(v[i+1:]); len(rest) > 0 {
		if last, ok := parseDec(rest); !ok || last < first {
			return askAny
		}
	}
	return first + 1
}

// fold continues the last field with an obs-fold line, cont (cut: bytes
// of it were not kept).
func (hd *headState) fold(cont []byte, cut bool) {
	f := &hd.f
	var s *string
	switch hd.lastKind {
	case fkHost:
		s = &f.host
	case fkUA:
		s = &f.ua
	case fkCType:
		s = &f.ctype
	case fkCDisp:
		s = &f.cdisp
	case fkCL:
		if len(cont) > 0 || cut {
			f.badCL = true // "1\r\n 23" is "1 23" (RFC 9112 §5.2): not a number
		}
	case fkTE:
		f.addTE(cont, cut)
	case fkRange:
		if len(cont) > 0 || cut {
			f.ask = askAny
		}
	case fkCE:
		if !hd.over {
			f.addCE(cont, cut)
		}
	}
	if s != nil && !hd.over {
		*s = clipJoin(*s, " ", cont)
	}
}

// addCL takes a Content-Length value: a number, or a list of the same
// number (RFC 9110 §8.6); anything else, values that differ, or a value
// too long to be kept, is bad.
func (f *fields) addCL(v []byte, cut bool) {
	if cut || len(v) > valueKeep {
		f.badCL = true
		return
	}
	for {
		var e []byte
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			e = v
		} else {
			e = v[:i]
		}
		n, ok := parseDec(trimOWS(e))
		switch {
		case !ok:
			f.badCL = true
		case f.hasCL && n != f.cl:
			f.badCL = true
		default:
			f.cl, f.hasCL = n, true
		}
		if i < 0 {
			return
		}
		v = v[i+1:]
	}
}

// addTE joins a Transfer-Encoding value; one that cannot be kept whole
// makes the framing unknown.
func (f *fields) addTE(v []byte, cut bool) {
	if cut || len(v) > valueKeep || len(f.te)+2+len(v) > transfer.MaxHeaderValue {
		f.teBad = true
		return
	}
	f.te = clipJoin(f.te, ", ", v)
}

// addCE joins a Content-Encoding value (repeated fields form one list,
// RFC 9110 §5.3); one that cannot be kept whole leaves the body raw.
func (f *fields) addCE(v []byte, cut bool) {
	if cut || len(v) > valueKeep || len(f.cenc)+2+len(v) > transfer.MaxHeaderValue {
		f.cencRaw = true
	}
	f.cenc = clipJoin(f.cenc, ", ", v)
}

// parseDec parses a non-negative decimal of at most 18 digits, so it
// cannot overflow an int64.
func parseDec(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
