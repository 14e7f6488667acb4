package httpx

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// msg builds an HTTP message: a start line, header lines, a body.
func msg(start string, body string, headers ...string) string {
	var b strings.Builder
	b.WriteString(start + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

func get(target string, headers ...string) string {
	return msg("GET "+target+" HTTP/1.1", "", append([]string{"Host: h.test", "User-Agent: ua/1"}, headers...)...)
}

// ok200 is a 200 response with a Content-Length body.
func ok200(body string, headers ...string) string {
	return msg("HTTP/1.1 200 OK", body, append(headers, fmt.Sprintf("Content-Length: %d", len(body)))...)
}

// chunk frames body in chunks of size n.
func chunk(body string, n int) string {
	var b strings.Builder
	for len(body) > 0 {
		k := min(n, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// conn runs a parser over a client and a server stream, the client's
// first, each in pieces of n bytes (0: whole), then ends both and closes.
func conn(t *testing.T, opts Options, sink *recSink, client, server string, n int) (*Parser, *driver) {
	t.Helper()
	p := New(sink, opts, nil)
	d := &driver{p: p, streams: [2][]byte{[]byte(client), []byte(server)}}
	for _, c := range []bool{true, false} {
		for d.rest(c) > 0 && !p.Done() {
			if n == 0 {
				d.feed(c, d.rest(c))
			} else {
				d.feed(c, n)
			}
		}
	}
	p.End(true)
	p.End(false)
	p.Close()
	if err := sink.check(); err != nil {
		t.Fatal(err)
	}
	if p.bug != "" {
		t.Fatal(p.bug)
	}
	return p, d
}

// body is a recognisable test body of n bytes.
func testBody(n int, seed byte) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i/251)
	}
	return string(b)
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func zl(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func rawDeflate(s string) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, 6)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func br(s string) string {
	var b bytes.Buffer
	w := brotli.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// file returns the one recorded file named name.
func file(t *testing.T, s *recSink, name string) *recFile {
	t.Helper()
	var got *recFile
	for _, f := range s.files {
		if f.meta.Name == name {
			if got != nil {
				t.Fatalf("two files named %q", name)
			}
			got = f
		}
	}
	if got == nil {
		var names []string
		for _, f := range s.files {
			names = append(names, f.meta.Name)
		}
		t.Fatalf("no file %q; have %q", name, names)
	}
	return got
}

// whole checks a file arrived whole with the content want.
func whole(t *testing.T, s *recSink, name, want string) *recFile {
	t.Helper()
	f := file(t, s, name)
	if f.cut != transfer.Whole || string(f.data) != want {
		t.Errorf("%s: cut %q, %d bytes (want %d), equal %v", name, f.cut, len(f.data), len(want), string(f.data) == want)
	}
	return f
}
