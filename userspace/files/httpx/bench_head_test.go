package httpx

import (
	"fmt"
	"strings"
	"testing"
)

// headExchange is one keep-alive exchange as a browser and a CDN send it:
// a request head of about 600 bytes, a response head of about 450 and
// a small body.
func headExchange(i int, cookie string) (req, resp string) {
	req = msg(fmt.Sprintf("GET /static/js/app.%d.js?v=1700000000 HTTP/1.1", i), "",
		"Host: www.example.test",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Accept: */*",
		"Accept-Language: en-GB,en;q=0.9",
		"Accept-Encoding: gzip, deflate, br",
		"Referer: https://www.example.test/index.html",
		"Sec-Fetch-Dest: script",
		"Sec-Fetch-Mode: no-cors",
		"Sec-Fetch-Site: same-origin",
		"Connection: keep-alive",
		"Cookie: "+cookie,
	)
	body := strings.Repeat("b", 100)
	resp = msg("HTTP/1.1 200 OK", body,
		"Date: Mon, 01 Jan 2024 00:00:00 GMT",
		"Content-Type: application/javascript; charset=utf-8",
		fmt.Sprintf("Content-Length: %d", len(body)),
		"Connection: keep-alive",
		"Cache-Control: public, max-age=31536000, immutable",
		`ETag: "5f3c2a1b-64"`,
		"Last-Modified: Sun, 31 Dec 2023 00:00:00 GMT",
		"Server: nginx",
		"Vary: Accept-Encoding",
		"X-Content-Type-Options: nosniff",
		"Strict-Transport-Security: max-age=63072000",
		"Accept-Ranges: bytes",
	)
	return req, resp
}

// benchHeads runs exchanges through one parser per iteration, each
// direction in pieces of piece bytes (0: one Data call per message).
func benchHeads(b *testing.B, exchanges int, cookie string, piece int) {
	var reqs, resps []string
	head := 0
	for i := range exchanges {
		q, r := headExchange(i, cookie)
		reqs, resps = append(reqs, q), append(resps, r)
		head += len(q) + len(r) - 100
	}
	// The conversions to []byte are outside the timing.
	bq, bs := make([][]byte, exchanges), make([][]byte, exchanges)
	for i := range exchanges {
		bq[i], bs[i] = []byte(reqs[i]), []byte(resps[i])
	}
	b.SetBytes(int64(head))
	b.ReportAllocs()
	for b.Loop() {
		p := New(nopSink{}, Options{}, nil)
		for i := range exchanges {
			feedBytes(p, true, bq[i], piece)
			feedBytes(p, false, bs[i], piece)
		}
		if p.stats.Responses != uint64(exchanges) || p.stats.Desyncs != 0 {
			b.Fatalf("responses %d desyncs %d", p.stats.Responses, p.stats.Desyncs)
		}
		p.Close()
	}
}

func feedBytes(p *Parser, client bool, s []byte, piece int) {
	if piece == 0 {
		p.Data(client, s)
		return
	}
	for len(s) > 0 {
		n := min(piece, len(s))
		p.Data(client, s[:n])
		s = s[n:]
	}
}

// BenchmarkHeaders measures header parsing: bytes/s are header bytes.
func BenchmarkHeaders(b *testing.B) {
	cookie := "sid=0123456789abcdef; theme=dark; consent=yes"
	big := strings.Repeat("k=0123456789abcdefghijklmnopqrstuvwxyz; ", 400) // 16 KiB
	b.Run("whole", func(b *testing.B) { benchHeads(b, 100, cookie, 0) })
	b.Run("segments", func(b *testing.B) { benchHeads(b, 100, cookie, benchMSS) })
	b.Run("pieces64", func(b *testing.B) { benchHeads(b, 100, cookie, 64) })
	b.Run("bigcookie", func(b *testing.B) { benchHeads(b, 10, big, benchMSS) })
}
