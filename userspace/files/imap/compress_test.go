package imap

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// deflater is one direction's deflate stream, flushed (sync flush) after
// each command or response as Thunderbird and dovecot do.
type deflater struct {
	buf bytes.Buffer
	w   *flate.Writer
}

func newDeflater(t testing.TB) *deflater {
	d := new(deflater)
	var err error
	if d.w, err = flate.NewWriter(&d.buf, flate.DefaultCompression); err != nil {
		t.Fatal(err)
	}
	return d
}

// chunk compresses s up to a sync flush and returns its bytes.
func (d *deflater) chunk(s string) []byte {
	d.w.Write([]byte(s))
	d.w.Flush()
	out := bytes.Clone(d.buf.Bytes())
	d.buf.Reset()
	return out
}

// compressSession logs in, turns COMPRESS on, and goes on compressed
// with the commands and responses given (in turn: client, server...).
func compressSession(t testing.TB, turns ...string) []ev {
	evs := script(selectINBOX[:3], []ev{cl("a2 COMPRESS DEFLATE\r\n"), sv("a2 OK DEFLATE active\r\n")})
	c, s := newDeflater(t), newDeflater(t)
	for i, turn := range turns {
		if i%2 == 0 {
			evs = append(evs, ev{Client: true, Data: c.chunk(turn)})
		} else {
			evs = append(evs, ev{Data: s.chunk(turn)})
		}
	}
	return evs
}

// A PE fetched after COMPRESS, and one uploaded with APPEND: both come
// out with their own hashes, however the compressed bytes are cut; the
// server's OK and its first compressed bytes may come in one call.
func TestCompressFetch(t *testing.T) {
	pe, up := fakePE(40000), fakePE(9000)
	msg, sent := peMessage("tool.exe", pe), peMessage("up.exe", up)
	evs := compressSession(t,
		"a3 SELECT INBOX\r\n", "* 1 EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\na3 OK [READ-WRITE] done\r\n",
		"a4 UID FETCH 7 (UID RFC822.SIZE BODY.PEEK[])\r\n", "* 1 FETCH (UID 7 RFC822.SIZE "+strconv.Itoa(len(msg))+" BODY[] "+litOf(msg)+")\r\na4 OK done\r\n",
		"a5 APPEND Sent (\\Seen) {"+strconv.Itoa(len(sent))+"+}\r\n"+sent+"\r\n", "a5 OK appended\r\n",
		"a6 LOGOUT\r\n", "* BYE\r\na6 OK\r\n")
	for name, v := range variants(evs) {
		files, _, st, _ := runFiles(t, Options{}, v)
		f, u := files.named("tool.exe"), files.named("up.exe")
		if f == nil || sha256.Sum256(f.data) != sha256.Sum256(pe) || f.cut != transfer.Whole || f.meta.Mailbox != "INBOX" {
			t.Fatalf("%s: files %s", name, files.names())
		}
		if u == nil || !bytes.Equal(u.data, up) || u.cut != transfer.Whole || !u.meta.Upload {
			t.Fatalf("%s: files %s", name, files.names())
		}
		if st.Compress != 1 || st.Inflated < uint64(len(msg)+len(sent)) || st.CompressError+st.CompressGaps+st.Desync != 0 {
			t.Errorf("%s: stats %+v", name, *st)
		}
	}
}

// Refused, COMPRESS changes nothing: the client's next bytes are plain.
func TestCompressRefused(t *testing.T) {
	evs := script(selectINBOX[:3], []ev{cl("a2 COMPRESS DEFLATE\r\n"), sv("a2 NO not now\r\n")}, selectINBOX[3:],
		[]ev{cl("a3 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] " + litOf(msg1) + ")\r\na3 OK\r\n")})
	each(t, Options{}, evs, func(t *testing.T, sink *recSink, st *Stats) {
		want(t, sink, []string{msg1}, whole, "INBOX")
	})
	// The client sent its next command before the answer came (fed
	// first): it is held, then read plain.
	sink, p, _ := run(t, Options{}, script(selectINBOX[:3], []ev{cl("a2 COMPRESS DEFLATE\r\na3 SELECT INBOX\r\n"),
		sv("a2 NO not now\r\na3 OK\r\n")}))
	if p.mailbox != "INBOX" || len(sink.Msgs) != 0 {
		t.Errorf("mailbox %q", p.mailbox)
	}
}

// A gap in a compressed direction: the rest cannot be inflated, so the
// parser stops and what is open is cut.
func TestCompressGap(t *testing.T) {
	// Big enough that the first half inflates past flate's window (it
	// hands out its output when the window is full or a block ends).
	msg := peMessage("tool.exe", fakePE(300000))
	for _, client := range []bool{false, true} {
		evs := compressSession(t, "a3 FETCH 1 (BODY.PEEK[])\r\n", "* 1 FETCH (BODY[] "+litOf(msg)+")\r\na3 OK\r\n")
		last := evs[len(evs)-1].Data
		at := len(last) / 2
		evs = append(evs[:len(evs)-1], sv(string(last[:at])), ev{Client: client, Gap: 10}, sv(string(last[at+10:])))
		files, p, st, _ := runFiles(t, Options{}, evs)
		f := files.named("tool.exe")
		if f == nil || f.cut != transfer.CutGap || len(f.data) == 0 || !p.Done() || st.CompressGaps != 1 {
			t.Errorf("client %v: files %s stats %+v", client, files.names(), *st)
		}
	}
}

// A bomb: a literal of zeros inflating far past MaxInflateRatio.
func TestCompressBomb(t *testing.T) {
	const n = 16 << 20
	s := newDeflater(t)
	evs := script(selectINBOX[:3], []ev{cl("a2 COMPRESS DEFLATE\r\n"), sv("a2 OK\r\n"),
		{Data: s.chunk("* 1 FETCH (BODY[] {" + strconv.Itoa(n) + "}\r\nSubject: z\r\n\r\n")}})
	zeros := make([]byte, 1<<20)
	for range n >> 20 {
		s.w.Write(zeros)
	}
	evs = append(evs, ev{Data: s.chunk("")})
	sink, p, st := run(t, Options{}, evs)
	if len(sink.Msgs) != 1 || sink.Msgs[0].Cut != transfer.CutBomb || !p.Done() || st.CompressBomb != 1 {
		t.Fatalf("stats %+v", *st)
	}
	if got := len(sink.Msgs[0].Data); got > 2<<20 {
		t.Errorf("%d bytes inflated", got)
	}
	t.Logf("%d compressed bytes, %d inflated before the stop", len(evs[len(evs)-1].Data), st.Inflated)
}

// Bytes that are not deflate after the OK: counted, the parser stops.
func TestCompressCorrupt(t *testing.T) {
	_, p, st := run(t, Options{}, script(selectINBOX[:3], []ev{cl("a2 COMPRESS DEFLATE\r\n"), sv("a2 OK\r\n\xff\xff\xff\xff* 1 FETCH")}))
	if !p.Done() || st.CompressError != 1 {
		t.Errorf("stats %+v", *st)
	}
}

// The client's bytes after COMPRESS are held until the answer, within
// maxPending: past it the parser gives up rather than guess.
func TestCompressPendingBound(t *testing.T) {
	_, p, st := run(t, Options{}, script(selectINBOX[:3], []ev{cl("a2 COMPRESS DEFLATE\r\n"), cl(strings.Repeat("x", maxPending+1))}))
	if !p.Done() || st.CompressLost != 1 || len(p.c.pending) != 0 {
		t.Errorf("stats %+v", *st)
	}
}

// MaxCompressed bounds the connections inflating at once; a slot comes
// back when its parser closes.
func TestCompressedConnsBound(t *testing.T) {
	if n := compressedConns.Load(); n != 0 {
		t.Fatalf("%d compressed connections left open by other tests", n)
	}
	start := func() (*Parser, *Stats) {
		st := new(Stats)
		p := New(newSink(t), Options{MaxCompressed: 2}, st)
		feed(p, compressSession(t, "a3 NOOP\r\n", "a3 OK\r\n"))
		return p, st
	}
	p1, _ := start()
	p2, _ := start()
	p3, st3 := start()
	if p1.Done() || p2.Done() || !p3.Done() || st3.CompressLimit != 1 || compressedConns.Load() != 2 {
		t.Fatalf("done %v %v %v, stats %+v, %d slots", p1.Done(), p2.Done(), p3.Done(), *st3, compressedConns.Load())
	}
	p1.Close()
	p4, _ := start()
	if p4.Done() {
		t.Error("slot not given back")
	}
	p2.Close()
	p3.Close()
	p4.Close()
	if n := compressedConns.Load(); n != 0 {
		t.Errorf("%d slots held after Close", n)
	}
}

// Footprint counts the inflaters: what it reports of live compressed
// parsers is compared with the heap they hold.
func TestCompressFootprint(t *testing.T) {
	const n = 100
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = 'a' + byte(r.IntN(26))
	}
	// A long line and a long literal fill the windows both ways.
	evs := compressSession(t, "a3 NOOP "+string(noise[:40000])+"\r\n", "* 1 FETCH (X "+litOf(string(noise))+")\r\n")
	ps := make([]*Parser, n)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for i := range ps {
		ps[i] = New(newSink(t), Options{MaxCompressed: n}, nil)
		feed(ps[i], evs)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	heap := int(ms1.HeapAlloc-ms0.HeapAlloc) + int(ms1.StackInuse-ms0.StackInuse)
	fp := 0
	for _, p := range ps {
		fp += p.Footprint()
	}
	t.Logf("per compressed connection: Footprint %d, heap and stacks %d (stacks %d)", fp/n, heap/n, int(ms1.StackInuse-ms0.StackInuse)/n)
	if fp < heap*8/10 || fp > 2*heap {
		t.Errorf("Footprint %d, the heap held %d", fp/n, heap/n)
	}
	for _, p := range ps {
		p.Close()
	}
}
