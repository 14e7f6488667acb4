package mime

import (
	"bytes"
	stdmime "mime"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// fuzzOpts are small limits, so the fuzzer reaches them.
var fuzzOpts = Options{MaxDepth: 4, MaxParts: 20, MaxHeaderBytes: 512, MaxLine: 300}

// fuzzRun pushes msg through an Extractor in pieces given by split, with
// a gap of 7 bytes at gapAt (none when out of range), checking the
// bounds on the message's state after every call.
func fuzzRun(t *testing.T, msg []byte, split func(int) int, gapAt int) (*testSink, *Stats) {
	s := &testSink{t: t}
	var st Stats
	x := New(s, fuzzOpts, &st)
	m := x.OpenMessage(&transfer.Meta{}).(*message)
	check := func() {
		if len(m.levels) > x.opts.MaxDepth || len(m.hdr) > x.opts.MaxHeaderBytes || m.lbn > len(m.lb) ||
			len(x.out) != 0 || m.qp.nws > qpMaxWS || m.b64.n > 3 || len(x.bufs) > x.opts.MaxDepth {
			t.Fatalf("state out of bounds: levels %d hdr %d lb %d out %d", len(m.levels), len(m.hdr), m.lbn, len(x.out))
		}
	}
	for off := 0; off < len(msg); {
		n := min(max(split(len(msg)-off), 1), len(msg)-off)
		if off < gapAt && gapAt < off+n {
			n = gapAt - off
		}
		m.Write(msg[off : off+n])
		check()
		off += n
		if off == gapAt {
			m.Gap(7)
			check()
		}
	}
	m.Close(transfer.Whole)
	check()
	s.checkClosed()
	if len(s.files) > fuzzOpts.MaxParts+1 || st.Parts > uint64(len(msg)) {
		t.Fatalf("%d files, %d parts", len(s.files), st.Parts)
	}
	for _, b := range x.bufs {
		if len(b) != 0 || cap(b) != innerOutSize {
			t.Fatalf("inner buffer %d/%d", len(b), cap(b))
		}
	}
	return s, &st
}

// FuzzMessage: no panic, every file closed once, state bounded, and the
// files do not depend on how the message is cut into writes.
func FuzzMessage(f *testing.F) {
	nested, _ := nestedMsg()
	gapped, _, _ := gapMsg()
	junk := []byte(strings.Repeat("Received: from a by b\r\n\tfolded\r\n", 20) + "X: " + strings.Repeat("x", 300) + "\r\nSubject: s\r\nSubject: t\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\nContent-Type: text/plain\r\n\r\n--b\r\nX-A: 1\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--b--\r\n")
	f.Add(junk, uint64(3), uint16(1))
	for _, m := range [][]byte{nested, qpMsg, lookalikeMsg, attachedMsg, nest(6), gapped, junk,
		missingCloseMsg("QUJDR\r\n"), wrapEncoded(innerMsg("a.exe", fakePE(300)), "base64"),
		wrapEncoded(innerMsg("a.exe", fakePE(200)), "quoted-printable"), encodedNest(5, []byte("MZ")), []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b--")} {
		f.Add(m, uint64(1), uint16(0))
		f.Add(m, uint64(7), uint16(len(m)/2))
	}
	f.Fuzz(func(t *testing.T, msg []byte, seed uint64, gap uint16) {
		gapAt := int(gap)
		if gapAt == 0 {
			gapAt = -1
		}
		ref, _ := fuzzRun(t, msg, whole, gapAt)
		got, _ := fuzzRun(t, msg, random(seed, 16), gapAt)
		if a, b := ref.dump(), got.dump(); a != b {
			t.Fatalf("depends on the split:\n%s\nvs\n%s", a, b)
		}
	})
}

// FuzzHeader: header parsing never panics and keeps its bounds; encoded
// words and RFC 2231 values written by other encoders decode back.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		"Content-Disposition: attachment; filename*0*=UTF-8''%E2%82%AC; filename*1=\".pdf\"",
		"Content-Type: multipart/mixed; boundary=\"=_x\"; name=\"=?UTF-8?Q?a=C3=A9?=\"",
		"Subject: =?ISO-8859-1?Q?caf=E9?= =?x?B?AA?=",
		"Content-Type: text/plain; name*=''%",
	} {
		f.Add(s, "résumé final.pdf")
	}
	f.Add("X: =?utf-8?b?", "../a\\b/c.exe")
	f.Fuzz(func(t *testing.T, hdr, name string) {
		h := parsePartHeader([]byte(hdr), "text/plain")
		if strings.ContainsAny(h.name, `/\`) || len(h.name) > transfer.MaxHeaderValue || len(h.mtype) > 255 {
			t.Fatalf("name %q type %q", h.name, h.mtype)
		}
		if d := decodeWords([]byte(hdr)); !strings.Contains(hdr, "=?") && d != hdr {
			t.Fatalf("no encoded word, changed: %q", d)
		}
		var st Stats
		if a := addrList(nil, []byte(hdr), &st); len(a) > transfer.MaxAddresses {
			t.Fatalf("%d addresses", len(a))
		}

		if len(name) > 500 {
			return
		}
		// RFC 2047 round trip, through the standard library's encoders.
		if utf8.ValidString(name) {
			for _, e := range []stdmime.WordEncoder{stdmime.BEncoding, stdmime.QEncoding} {
				enc := e.Encode("UTF-8", name)
				if enc == name {
					continue // nothing to encode: it stays as it is
				}
				if got := decodeWords([]byte(enc)); got != name {
					t.Fatalf("%q -> %q -> %q", name, enc, got)
				}
			}
		}
		// RFC 2231, extended and continued (cut anywhere).
		want := baseName(name)
		pct := strings.ReplaceAll(url.PathEscape(name), ";", "%3B")
		pct = strings.ReplaceAll(pct, "'", "%27")
		pct = strings.ReplaceAll(pct, "=", "%3D")
		k := len(pct) / 2
		for k > 0 && (pct[k-1] == '%' || k >= 2 && pct[k-2] == '%') {
			k-- // not inside an escape
		}
		for _, v := range []string{
			"Content-Disposition: attachment; filename=\"wrong\"; filename*=UTF-8''" + pct,
			"Content-Disposition: attachment; filename*0*=UTF-8''" + pct[:k] + ";\n filename*1*=" + pct[k:],
		} {
			if got := parsePartHeader([]byte(v), "text/plain").name; got != want {
				t.Fatalf("%q: %q, want %q", v, got, want)
			}
		}
	})
}

// FuzzBase64Stream: decoding in pieces equals one-shot decoding of the
// cleaned input by the standard library.
func FuzzBase64Stream(f *testing.F) {
	f.Add([]byte("QUJD\r\nREVG"), uint64(1))
	f.Add([]byte("QQ==QUJD !*\nR"), uint64(2))
	f.Add([]byte("Q=UJD===="), uint64(3))
	f.Fuzz(func(t *testing.T, src []byte, seed uint64) {
		got, _ := b64Pieces(src, random(seed, 16))
		if want := b64Reference(src); !bytes.Equal(got, want) {
			t.Fatalf("%q: %x, want %x", src, got, want)
		}
	})
}

// FuzzQPStream: decoding in pieces equals decoding whole lines.
func FuzzQPStream(f *testing.F) {
	f.Add("caf=E9 =\r\nx  \r\n=4", uint64(1))
	f.Add("= \t\r\n=G=\r\n", uint64(2))
	f.Fuzz(func(t *testing.T, src string, seed uint64) {
		a, da := qpPieces(src, whole)
		b, db := qpPieces(src, random(seed, 8))
		if a != b || da.bad != db.bad {
			t.Fatalf("%q: %q vs %q", src, a, b)
		}
	})
}
