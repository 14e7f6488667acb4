package files

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/files/httpx"
)

// holdRec is a Holds that remembers what the pipeline told it.
type holdRec struct {
	mu     sync.Mutex
	held   []heldAt
	judged []FileVerdict
	unheld []FileVerdict
}

type heldAt struct {
	end uint32 // the packet's sequence number plus its length
	d   HoldDecision
}

func (r *holdRec) Held(ev *datapath.Event, d HoldDecision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = append(r.held, heldAt{ev.Seq + uint32(len(ev.Payload)), d})
}

func (r *holdRec) Judged(_ datapath.Flow, v FileVerdict) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.judged = append(r.judged, v)
}

func (r *holdRec) Unheld(_ datapath.Flow, v FileVerdict, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unheld = append(r.unheld, v)
}

func exeBody(n int) []byte {
	b := bytes.Repeat([]byte{0x90, 0x41, 0x17, 0xc3}, n/4+1)[:n]
	copy(b, "MZ")
	b[60] = 0x40
	return b
}

func response(ctype string, body []byte, chunked bool) string {
	if !chunked {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ctype, len(body), body)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", ctype)
	for off := 0; off < len(body); off += 1000 {
		end := min(off+1000, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", end-off, body[off:end])
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// The pipeline's answers for held packets: how far the server's bytes
// are judged, and which packet completes a download (its verdict then
// comes through Judged). Every server packet is marked held, as the data
// plane marks those reaching its gate.
func TestHoldDecisions(t *testing.T) {
	exe := exeBody(5000)
	html := []byte(strings.Repeat("<p>not a file</p>\n", 2000))
	base := uint32(isnS + 1)
	for _, c := range []struct {
		name string
		resp []string
	}{
		{"content-length download", []string{response("application/octet-stream", exe, false)}},
		{"chunked download", []string{response("application/octet-stream", exe, true)}},
		{"content-length page", []string{response("text/html", html, false)}},
		{"chunked page", []string{response("text/html", html, true)}},
		{"page then download on one connection", []string{response("text/html", html, false), response("application/octet-stream", exe, false)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var req strings.Builder
			for range c.resp {
				req.WriteString("GET /x.exe HTTP/1.1\r\nHost: a\r\n\r\n")
			}
			conn := testutil.TCPConn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
				ToServer: []byte(req.String()), ToClient: []byte(strings.Join(c.resp, ""))}
			p, _, _ := newPipeline(t, nil, nil)
			rec := &holdRec{}
			p.SetHolds(rec)
			sh := p.NewShard(0)
			segs := segments(conn, 1448)
			feedHeld(sh, conn, segs, time.Unix(1700000000, 0))
			sh.Close()
			p.Close()
			// Where each response's body starts and ends.
			type span struct {
				start, end uint32
				file       bool
				chunked    bool
			}
			var spans []span
			off := uint32(0)
			for _, r := range c.resp {
				hdr := uint32(strings.Index(r, "\r\n\r\n") + 4)
				spans = append(spans, span{base + off + hdr, base + off + uint32(len(r)), strings.Contains(r, "octet-stream"), strings.Contains(r, "chunked")})
				off += uint32(len(r))
			}
			completed := 0
			for _, h := range rec.held {
				var cur *span
				for i := range spans {
					if int32(h.end-spans[i].start) > 0 && int32(h.end-spans[i].end) <= 0 {
						cur = &spans[i]
					}
				}
				d := h.d
				switch {
				case d.Files > 0:
					completed += d.Files
					if cur == nil || h.end != cur.end || !cur.file {
						t.Errorf("packet ending at %d completed %d files: not a download's last packet", h.end, d.Files)
					}
				case cur == nil:
					// Between bodies (a FIN, a head): the next byte.
					if d.Open || d.Gate != h.end && int32(d.Gate-h.end) < 0 {
						t.Errorf("packet ending at %d outside a body: %+v", h.end, d)
					}
				case cur.file && !cur.chunked:
					if d.Open || d.Gate != cur.end-1 {
						t.Errorf("download body, packet ending at %d: %+v, want gate %d (its last byte)", h.end, d, cur.end-1)
					}
				case cur.file:
					if d.Open || d.Gate != h.end {
						t.Errorf("chunked download, packet ending at %d: %+v, want the next byte", h.end, d)
					}
				case !cur.chunked:
					// Its last byte while it may still be a file (not yet
					// typed), its end once it is known not to be.
					if d.Open || d.Gate != cur.end && d.Gate != cur.end-1 {
						t.Errorf("page body, packet ending at %d: %+v, want gate %d (its end)", h.end, d, cur.end)
					}
				default:
					// A chunked page: the next byte until its head is
					// typed, then open.
					if !d.Open && d.Gate != h.end {
						t.Errorf("chunked page, packet ending at %d: %+v", h.end, d)
					}
				}
			}
			files := 0
			for _, s := range spans {
				if s.file {
					files++
				}
			}
			if completed != files || len(rec.judged) != files {
				t.Errorf("%d downloads, %d completions, %d verdicts", files, completed, len(rec.judged))
			}
			for _, v := range rec.judged {
				if !v.Complete || v.SHA256 == "" || v.Type != "executable" {
					t.Errorf("verdict %+v", v)
				}
			}
			if len(rec.unheld) != 0 {
				t.Errorf("unheld verdicts %+v", rec.unheld)
			}
		})
	}
}

// A connection that upgrades (WebSocket): once the 101 is read nothing on
// it can be judged, and the holder is told to hold nothing more of it.
func TestHoldDecisionsUpgrade(t *testing.T) {
	conn := testutil.TCPConn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: []byte("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
		ToClient: []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + strings.Repeat("\x81\x05hello", 500))}
	p, _, _ := newPipeline(t, nil, nil)
	rec := &holdRec{}
	p.SetHolds(rec)
	sh := p.NewShard(0)
	feedHeld(sh, conn, segments(conn, 1448), time.Unix(1700000000, 0))
	sh.Close()
	p.Close()
	if len(rec.held) < 2 {
		t.Fatalf("%d held packets", len(rec.held))
	}
	for i, h := range rec.held {
		if !h.d.Off {
			t.Errorf("packet %d ending at %d after the upgrade: %+v, want off", i, h.end, h.d)
		}
	}
}

// feedHeld is feed with every server packet that carries data marked
// held (every client packet: feedHeldDir).
func feedHeld(sh datapath.Shard, c testutil.TCPConn, segs []seg, t0 time.Time) {
	feedHeldDir(sh, c, segs, t0, false)
}

func feedHeldDir(sh datapath.Shard, c testutil.TCPConn, segs []seg, t0 time.Time, client bool) {
	feedMarked(sh, c, segs, t0, func(s seg) bool { return len(s.payload) > 0 && s.fromClient == client })
}

// mailWithAttachment is a message with a text part and x.exe attached.
func mailWithAttachment() string {
	exe := exeBody(20000)
	var b64 strings.Builder
	enc := base64.StdEncoding.EncodeToString(exe)
	for len(enc) > 76 {
		b64.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b64.WriteString(enc + "\r\n")
	return "From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--BB\r\nContent-Type: application/octet-stream; name=\"x.exe\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"x.exe\"\r\n\r\n" + b64.String() + "--BB--\r\n"
}

// heldMail runs a mail conversation (client and server lines in turn)
// with every packet of the direction the files travel (the client's:
// fromClient) marked held, and checks that each is gated at its next
// byte (a message ends at a line, not a length) and that the packet
// completing the attachment awaits its verdict.
func heldMail(t *testing.T, port uint16, fromClient bool, turns [][2]string) {
	t.Helper()
	conn := testutil.TCPConn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port)}
	p, _, _ := newPipeline(t, nil, nil)
	rec := &holdRec{}
	p.SetHolds(rec)
	sh := p.NewShard(0)
	segs := []seg{
		{true, isnC, 0, datapath.TCPSyn, nil, nil},
		{false, isnS, isnC + 1, datapath.TCPSyn | datapath.TCPAck, nil, nil},
	}
	cseq, sseq := uint32(isnC+1), uint32(isnS+1)
	say := func(client bool, b string) {
		for len(b) > 0 {
			n := min(len(b), 1448)
			if client {
				segs = append(segs, seg{true, cseq, sseq, datapath.TCPAck | datapath.TCPPsh, []byte(b[:n]), nil})
				cseq += uint32(n)
			} else {
				segs = append(segs, seg{false, sseq, cseq, datapath.TCPAck | datapath.TCPPsh, []byte(b[:n]), nil})
				sseq += uint32(n)
			}
			b = b[n:]
		}
	}
	for _, x := range turns {
		say(true, x[0])
		say(false, x[1])
	}
	feedHeldDir(sh, conn, segs, time.Unix(1700000000, 0), fromClient)
	sh.Close()
	p.Close()
	completed := 0
	for _, h := range rec.held {
		d := h.d
		if d.FromClient != fromClient || d.Open || d.Gate != h.end {
			t.Errorf("mail packet ending at %d: %+v, want the next byte gated", h.end, d)
		}
		completed += d.Files
	}
	if len(rec.held) == 0 || completed != 1 || len(rec.judged) != 1 {
		t.Fatalf("%d held packets, %d completions, %d verdicts", len(rec.held), completed, len(rec.judged))
	}
	if v := rec.judged[0]; !v.Complete || v.Type != "executable" || v.Name != "x.exe" || v.Sent != fromClient {
		t.Errorf("verdict %+v", v)
	}
}

// Mail sent over SMTP: the sender's packets are held.
func TestHoldDecisionsSMTP(t *testing.T) {
	heldMail(t, 25, true, [][2]string{{"", "220 s ESMTP\r\n"}, {"EHLO c\r\n", "250 s\r\n"}, {"MAIL FROM:<a@example.com>\r\n", "250 ok\r\n"},
		{"RCPT TO:<b@example.com>\r\n", "250 ok\r\n"}, {"DATA\r\n", "354 go\r\n"}, {mailWithAttachment() + ".\r\n", "250 queued\r\n"}, {"QUIT\r\n", "221 bye\r\n"}})
}

// Mail fetched over IMAP: the server's packets are held.
func TestHoldDecisionsIMAP(t *testing.T) {
	msg := mailWithAttachment()
	heldMail(t, 143, false, [][2]string{{"", "* OK IMAP ready\r\n"}, {"a1 LOGIN u p\r\n", "a1 OK\r\n"}, {"a2 SELECT INBOX\r\n", "* 1 EXISTS\r\na2 OK\r\n"},
		{"a3 FETCH 1 BODY[]\r\n", fmt.Sprintf("* 1 FETCH (BODY[] {%d}\r\n%s)\r\na3 OK\r\n", len(msg), msg)}, {"a4 LOGOUT\r\n", "* BYE\r\na4 OK\r\n"}})
}

// Bytes inside the last range skipped are judged to its end; a range
// long passed (even 2 GiB on, where sequence numbers seem to wrap)
// moves no gate.
func TestJudgedToSkipRange(t *testing.T) {
	for _, c := range []struct {
		name string
		next uint32
		want uint32
	}{
		{"before the range", 900, 900},
		{"inside it", 2000, 5000},
		{"at its end", 5000, 5000},
		{"past it", 6000, 6000},
		{"2 GiB past it", 5000 + 1<<31 + 10, 5000 + 1<<31 + 10},
	} {
		f := &flow{app: datapath.AppHTTP, parser: httpx.New(nil, httpx.Options{}, nil)}
		f.dirs[1] = dir{f: f, skipFrom: 1000, skipEnd: 5000}
		f.conn.S[1].Start(c.next)
		if gate, open := f.judgedTo(false); gate != c.want || open {
			t.Errorf("%s: gate %d open %v, want %d", c.name, gate, open, c.want)
		}
	}
}
