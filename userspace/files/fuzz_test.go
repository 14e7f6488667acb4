package files

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/internal/testutil/carriers"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// FuzzFiles drives a shard with hostile packets: arbitrary sequence
// numbers, flags and payloads on the HTTP, SMTP and IMAP ports of two
// flows. Whatever comes, the shard must not panic, every event must be
// JSON with hashes only on whole files, and nothing may stay spooled.
func FuzzFiles(f *testing.F) {
	// Seeds: a small download and a small mail, cut into segments.
	http := testutil.TCPConn{
		ToServer: []byte("GET /a.exe HTTP/1.1\r\nHost: x\r\n\r\n"),
		ToClient: []byte("HTTP/1.1 200 OK\r\nContent-Length: 70\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*  "),
	}
	smtp := testutil.TCPConn{
		ToServer: []byte("EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: s\r\nContent-Type: application/octet-stream\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n.\r\nQUIT\r\n"),
		ToClient: []byte("220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"),
	}
	// A picture carrying a PE after its end (a polyglot, sink.go promote).
	pe := make([]byte, 512)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	poly := append(carriers.PNG(4, 4, 1), pe...)
	polyHTTP := testutil.TCPConn{
		ToServer: []byte("GET /a.png HTTP/1.1\r\nHost: x\r\n\r\n"),
		ToClient: append([]byte("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(poly))+"\r\n\r\n"), poly...),
	}
	for _, c := range []testutil.TCPConn{http, smtp, polyHTTP} {
		var seed []byte
		for _, s := range segments(c, 40) {
			seed = appendSeg(seed, s)
		}
		f.Add(seed)
	}
	f.Add(appendSeg(nil, seg{true, 1, 0, datapath.TCPAck, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), nil}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, buf, spool := newPipeline(t, nil, &recorder{})
		sh := p.NewShard(0)
		cl := netip.MustParseAddrPort("10.0.0.1:40000")
		ports := []uint16{80, 25, 143}
		t0 := time.Unix(1700000000, 0)
		for i := 0; len(data) >= 11; i++ {
			fromClient := data[0]&1 != 0
			port := ports[int(data[0]>>1)%len(ports)]
			flags := data[1]
			seq := binary.BigEndian.Uint32(data[2:])
			ack := binary.BigEndian.Uint32(data[6:])
			n := min(int(data[10]), len(data)-11)
			payload := data[11 : 11+n]
			data = data[11+n:]
			sv := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port)
			ev := datapath.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Class: datapath.ClassStream,
				Proto: datapath.ProtoTCP, TCPFlags: flags, Seq: seq, Ack: ack, Payload: payload, PayloadLen: n}
			if fromClient {
				ev.Flags, ev.Src, ev.Dst = datapath.FlagFromClient, cl, sv
			} else {
				ev.Src, ev.Dst = sv, cl
			}
			sh.Handle(&ev)
		}
		sh.Tick(t0.Add(time.Hour))
		sh.Close()
		for _, e := range parse(t, buf.Bytes()) {
			if e.File.Hash != nil && !e.Edgesensor.File.Complete {
				t.Fatalf("hash on an incomplete file: %+v", e)
			}
		}
		spoolEmpty(t, spool)
		if p.spoolUsed.Load() != 0 {
			t.Fatalf("spool accounting %d", p.spoolUsed.Load())
		}
	})
}

// appendSeg encodes a segment the way FuzzFiles reads it (port 80).
func appendSeg(b []byte, s seg) []byte {
	d := byte(0)
	if s.fromClient {
		d = 1
	}
	b = append(b, d, s.flags)
	b = binary.BigEndian.AppendUint32(b, s.seq)
	b = binary.BigEndian.AppendUint32(b, s.ack)
	n := min(len(s.payload), 255)
	b = append(b, byte(n))
	return append(b, s.payload[:n]...)
}
