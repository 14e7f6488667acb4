package httpx

import (
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Files fetched in ranges. A client that downloads a file as a run of
// 206 responses on one connection, each range starting where the last
// ended (curl -C, download managers, update agents), gets one file: the
// first range (from byte 0) opens it with the size Content-Range gives,
// the next ones write on, and the last range closes it Whole, with its
// hashes. A range that does not follow on, another URL, a change of size
// or of validator (ETag, else Last-Modified), or a content coding ends
// nothing and joins nothing: it is counted (Stats.Partial) and skipped,
// as is a lone range. When the connection ends before the last range the
// file is cut (transfer.CutNotFinal), and a desync cuts it (CutGap): after
// one, responses may pair with the wrong requests.
//
// With Options.Pieces the parser joins nothing itself: every range with
// a usable Content-Range (a known total, a Content-Length that matches
// it or chunked or until-close framing, no coding) goes to the sink as a
// piece (Meta.Range), and the sink joins the pieces of one file whatever
// their order, overlaps or connections. A range it cannot place is still
// counted and skipped.

// askAny is request.ask for a Range field that names no one first byte.
const askAny = -1

// rangeOf is the Content-Range of the 206 body being read.
type rangeOf struct {
	first, last, total int64
	url, validator     string
}

// rangeChain is the file waiting for its next range.
type rangeChain struct {
	out       out
	url       string
	validator string
	next      int64
	total     int64
}

// rangeFor says whether a 206 body of the file at url belongs to a file
// fetched in ranges: a first range, or the one the open file waits for.
func (p *Parser) rangeFor(f *fields, url string, mode framing, length int64, cod *codings) *rangeOf {
	first, last, total, ok := parseContentRange(f.crange)
	if !ok || mode != fLength || length != last-first+1 || cod.n > 0 || cod.raw {
		return nil
	}
	r := &rangeOf{first: first, last: last, total: total, url: url, validator: f.validator()}
	c := &p.rng
	switch {
	case r.url == "":
		return nil
	case first == 0:
		return r
	case c.out.opened && !c.out.declined && first == c.next && total == c.total && r.url == c.url && r.validator == c.validator:
		return r
	}
	return nil
}

// rangePiece is where a 206 body of the file at url sits in its file,
// for the sink to join (Options.Pieces); nil when the body cannot be
// placed: no total, a Content-Length that is not the range's, a coding,
// no URL. A chunked or read-until-close range is placed too (clients
// take those): the sink keeps no byte past the range's end.
func rangePiece(f *fields, url string, mode framing, length int64, cod *codings) *transfer.Range {
	first, last, total, ok := parseContentRange(f.crange)
	if !ok || mode == fLength && length != last-first+1 || cod.n > 0 || cod.raw || url == "" {
		return nil
	}
	return &transfer.Range{First: first, Last: last, Total: total, Validator: f.validator()}
}

// validator names the version of the file a range is of: the ETag, else
// Last-Modified ("" for neither).
func (f *fields) validator() string {
	if f.etag != "" {
		return f.etag
	}
	return f.lastMod
}

// closeRange ends the file waiting for its next range, if any.
func (p *Parser) closeRange(cut transfer.Cut) {
	if p.rng.out.f != nil {
		p.rng.out.close(cut)
	}
	p.rng = rangeChain{}
}

// parseContentRange reads "bytes first-last/total" with a known total.
func parseContentRange(v string) (first, last, total int64, ok bool) {
	v = trimOWSString(v)
	if len(v) < 6 || !strings.EqualFold(v[:6], "bytes ") {
		return 0, 0, 0, false
	}
	v = trimOWSString(v[6:])
	dash, slash := strings.IndexByte(v, '-'), strings.IndexByte(v, '/')
	if dash < 0 || slash < dash {
		return 0, 0, 0, false
	}
	f, ok1 := parseDec([]byte(v[:dash]))
	l, ok2 := parseDec([]byte(v[dash+1 : slash]))
	t, ok3 := parseDec([]byte(v[slash+1:]))
	if !ok1 || !ok2 || !ok3 || f > l || l >= t {
		return 0, 0, 0, false
	}
	return f, l, t, true
}
