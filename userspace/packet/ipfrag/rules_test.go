package ipfrag

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"slices"
	"testing"
	"time"
)

func newR() *Reassembler { return New(Config{}) }

func sample4(n int) v4 {
	return v4{src: a4, dst: b4, id: 0x1234, proto: 17, payload: payloadBytes(n, 3)}
}

func sample6(n int) v6 {
	return v6{src: a6, dst: b6, id: 0xdeadbeef, nh: 17, part: payloadBytes(n, 5)}
}

func TestInOrderReverseAnd8ByteFragments(t *testing.T) {
	d4, d6 := sample4(1480*2+100), sample6(1232*2+64)
	type tc struct {
		name  string
		whole []byte
		pkts  [][]byte
	}
	var cases []tc
	cut := func(n, step int, mk func(off, end int, more bool) []byte) [][]byte {
		var ps [][]byte
		for off := 0; off < n; off += step {
			end := min(off+step, n)
			ps = append(ps, mk(off, end, end < n))
		}
		return ps
	}
	for _, step := range []int{1480, 8, 16, 24} {
		p4, p6 := cut(len(d4.payload), step, d4.frag), cut(len(d6.part), step, d6.frag)
		cases = append(cases,
			tc{"v4 in order", d4.whole(), p4}, tc{"v4 reverse", d4.whole(), reversed(p4)},
			tc{"v6 in order", d6.whole(), p6}, tc{"v6 reverse", d6.whole(), reversed(p6)})
	}
	for _, c := range cases {
		r := newR()
		out, n := feed(t, r, t0, c.pkts...)
		if n != 1 || !bytes.Equal(out, c.whole) {
			t.Fatalf("%s (%d fragments): %d completions, equal %v", c.name, len(c.pkts), n, bytes.Equal(out, c.whole))
		}
		if r.Pending() != 0 || r.Stats().Reassembled != 1 || r.Stats().Fragments != uint64(len(c.pkts)) {
			t.Fatalf("%s: pending %d, stats %+v", c.name, r.Pending(), *r.Stats())
		}
	}
}

func reversed(p [][]byte) [][]byte {
	q := slices.Clone(p)
	slices.Reverse(q)
	return q
}

// A fragment inside a run is ignored even when its bytes differ: the
// first copy stays.
func TestDuplicateInsideRunIgnored(t *testing.T) {
	d := sample4(64)
	r := newR()
	fake := d.fragBytes(8, bytes.Repeat([]byte{0xee}, 16), true)
	out, n := feed(t, r, t0, d.frag(0, 16, true), d.frag(16, 32, true), fake, d.frag(0, 16, true), d.frag(32, 64, false))
	if n != 1 || !bytes.Equal(out, d.whole()) {
		t.Fatalf("%d completions, equal %v", n, bytes.Equal(out, d.whole()))
	}
	if r.Stats().Duplicates != 2 || r.Stats().Overlaps != 0 {
		t.Fatalf("stats %+v", *r.Stats())
	}
}

// Runs are only extended at the tail: fragments received in reverse are
// runs of their own, and a copy across two of them is an overlap (the
// datagram is discarded) although every byte of it was received.
func TestCopyAcrossRunsIsOverlap(t *testing.T) {
	d := sample6(64)
	r := newR()
	_, n := feed(t, r, t0, d.frag(16, 32, true), d.frag(0, 16, true), d.frag(8, 24, true), d.frag(32, 64, false))
	if n != 0 || r.Stats().Overlaps != 1 {
		t.Fatalf("%d completions, stats %+v", n, *r.Stats())
	}
}

// A partial overlap discards the datagram; its later fragments start a
// new one, which cannot complete without the discarded ones, while a
// whole new set is reassembled (the host takes it too).
func TestOverlapDiscardsDatagram(t *testing.T) {
	for _, fam := range []int{4, 6} {
		var mk func(off, end int, more bool) []byte
		var whole []byte
		var bytesAt func(off int, b []byte, more bool) []byte
		if fam == 4 {
			d := sample4(48)
			mk, whole, bytesAt = d.frag, d.whole(), d.fragBytes
		} else {
			d := sample6(48)
			mk, whole, bytesAt = d.frag, d.whole(), d.fragBytes
		}
		r := newR()
		_, n := feed(t, r, t0, mk(0, 16, true), bytesAt(8, make([]byte, 16), true), mk(16, 32, true), mk(32, 48, false))
		if n != 0 || r.Stats().Overlaps != 1 || r.Pending() != 1 {
			t.Fatalf("v%d: %d completions, %d pending, stats %+v", fam, n, r.Pending(), *r.Stats())
		}
		out, n := feed(t, r, t0, mk(0, 16, true))
		if n != 1 || !bytes.Equal(out, whole) {
			t.Fatalf("v%d: the new set: %d completions", fam, n)
		}
	}
}

func TestLastFragmentConflicts(t *testing.T) {
	d := sample4(64)
	cases := []struct {
		name string
		pkts [][]byte
	}{
		{"two last fragments, other ends", [][]byte{d.frag(48, 64, false), d.frag(40, 56, false)}},
		{"fragment past the end", [][]byte{d.frag(32, 48, false), d.fragBytes(48, make([]byte, 8), true)}},
		{"last fragment before bytes seen", [][]byte{d.frag(32, 64, true), d.frag(16, 32, false)}},
		{"empty fragment", [][]byte{d.frag(0, 16, true), d.fragBytes(16, make([]byte, 7), true)}},
	}
	for _, c := range cases {
		r := newR()
		_, n := feed(t, r, t0, c.pkts...)
		if n != 0 || r.Stats().BadLength != 1 || r.Pending() != 0 {
			t.Errorf("%s: %d completions, %d pending, stats %+v", c.name, n, r.Pending(), *r.Stats())
		}
	}
}

// IPv4 non-last fragments are trimmed to a multiple of 8: the trimmed
// bytes come from the next fragment.
func TestIPv4TrimmedTo8(t *testing.T) {
	d := sample4(40)
	r := newR()
	odd := d.fragBytes(0, append(slices.Clone(d.payload[:8]), 0xde, 0xad, 0xbe, 0xef, 0x99), true)
	out, n := feed(t, r, t0, odd, d.frag(8, 40, false))
	if n != 1 || !bytes.Equal(out, d.whole()) || r.Stats().Overlaps != 0 {
		t.Fatalf("%d completions, equal %v, stats %+v", n, bytes.Equal(out, d.whole()), *r.Stats())
	}
}

// IPv6 non-last fragments not a multiple of 8 are dropped; the datagram
// goes on.
func TestIPv6UnalignedDropped(t *testing.T) {
	d := sample6(40)
	r := newR()
	out, n := feed(t, r, t0, d.frag(16, 40, false), d.frag(0, 13, true), d.frag(0, 16, true))
	if n != 1 || !bytes.Equal(out, d.whole()) || r.Stats().Unaligned != 1 {
		t.Fatalf("%d completions, stats %+v", n, *r.Stats())
	}
}

func TestTooBig(t *testing.T) {
	// IPv4: 20 + 65520 bytes: fragments accepted, the datagram discarded
	// when it completes, as Linux does.
	d := v4{src: a4, dst: b4, id: 9, proto: 17, payload: payloadBytes(65520, 1)}
	var pkts [][]byte
	for off := 0; off < len(d.payload); off += 1480 {
		end := min(off+1480, len(d.payload))
		pkts = append(pkts, d.frag(off, end, end < len(d.payload)))
	}
	r := newR()
	_, n := feed(t, r, t0, pkts...)
	if n != 0 || r.Stats().TooBig != 1 || r.Pending() != 0 {
		t.Fatalf("v4: %d completions, stats %+v", n, *r.Stats())
	}
	// One byte less fits.
	d.payload = d.payload[:65515]
	pkts[len(pkts)-1] = d.frag(len(pkts)*1480-1480, 65515, false)
	out, n := feed(t, r, t0, pkts...)
	if n != 1 || len(out) != 65535 || !bytes.Equal(out, d.whole()) {
		t.Fatalf("v4 65535: %d completions, %d bytes", n, len(out))
	}
	// IPv6: a fragment ending past 65535 is dropped, the datagram goes on.
	d6 := sample6(64)
	r = newR()
	out, n = feed(t, r, t0, d6.frag(0, 32, true), d6.fragBytes(65528, make([]byte, 16), false), d6.frag(32, 64, false))
	if n != 1 || !bytes.Equal(out, d6.whole()) || r.Stats().TooBig != 1 {
		t.Fatalf("v6: %d completions, stats %+v", n, *r.Stats())
	}
	// IPv6 with an unfragmentable part: payload length past 65535 on
	// completion discards the datagram.
	d6 = v6{src: a6, dst: b6, id: 1, nh: 17, part: payloadBytes(65528, 2), unfrag: [][]byte{ext(2)}, types: []uint8{0}}
	pkts = nil
	for off := 0; off < len(d6.part); off += 1232 {
		end := min(off+1232, len(d6.part))
		pkts = append(pkts, d6.frag(off, end, end < len(d6.part)))
	}
	r = newR()
	_, n = feed(t, r, t0, pkts...)
	if n != 0 || r.Stats().TooBig != 1 {
		t.Fatalf("v6 unfragmentable: %d completions, stats %+v", n, *r.Stats())
	}
}

func TestTimeout(t *testing.T) {
	d := sample4(32)
	r := newR()
	r.Add(t0, 0, d.frag(0, 16, true))
	if _, ok := r.Add(t0.Add(30*time.Second), 0, d.frag(16, 32, false)); ok {
		t.Fatal("completed with a fragment 30 s after the first")
	}
	if r.Stats().Timeouts != 1 || r.Pending() != 1 {
		t.Fatalf("stats %+v pending %d", *r.Stats(), r.Pending())
	}
	r.Expire(t0.Add(59 * time.Second))
	if r.Pending() != 1 {
		t.Fatal("expired too soon")
	}
	r.Expire(t0.Add(60 * time.Second))
	if r.Pending() != 0 || r.Stats().Timeouts != 2 || r.Held() > r.pool.limit {
		t.Fatalf("after Expire: pending %d, held %d, stats %+v", r.Pending(), r.Held(), *r.Stats())
	}
	// Within the timeout it completes.
	r.Add(t0, 0, d.frag(0, 16, true))
	if _, ok := r.Add(t0.Add(29*time.Second), 0, d.frag(16, 32, false)); !ok {
		t.Fatal("not completed within the timeout")
	}
}

func TestKeySeparation(t *testing.T) {
	d := sample4(32)
	r := newR()
	r.Add(t0, 1, d.frag(0, 16, true))
	if _, ok := r.Add(t0, 2, d.frag(16, 32, false)); ok {
		t.Fatal("zones joined")
	}
	other := d
	other.proto = 6
	if _, ok := r.Add(t0, 1, other.frag(16, 32, false)); ok {
		t.Fatal("protocols joined")
	}
	if _, ok := r.Add(t0, 1, d.frag(16, 32, false)); !ok {
		t.Fatal("same key not joined")
	}
	// IPv6 keys do not hold the next header: Linux joins fragments whose
	// fragment headers name different ones, the first fragment's wins.
	d6 := sample6(32)
	o6 := d6
	o6.nh = 6
	r.Add(t0, 0, d6.frag(0, 16, true))
	out, ok := r.Add(t0, 0, o6.frag(16, 32, false))
	if !ok || !bytes.Equal(out, d6.whole()) {
		t.Fatal("IPv6 fragments with other next headers not joined as the host does")
	}
}

// Extension headers before the fragment header stay, the one before it
// names the fragmentable part; those after it are data.
func TestIPv6ExtensionHeaders(t *testing.T) {
	part := append(ext(2), payloadBytes(300, 9)...)
	part[0] = 17 // destination options, then UDP
	d := v6{src: a6, dst: b6, id: 77, unfrag: [][]byte{ext(1), make([]byte, 24)}, types: []uint8{0, 43}, nh: 60, part: part}
	d.unfrag[1][1] = 2 // routing header of 3 units
	r := newR()
	out, n := feed(t, r, t0, d.frag(128, len(part), false), d.frag(0, 64, true), d.frag(64, 128, true))
	if n != 1 || !bytes.Equal(out, d.whole()) {
		t.Fatalf("%d completions, equal %v", n, bytes.Equal(out, d.whole()))
	}
	if out[6] != 0 || out[40] != 43 || out[48] != 60 {
		t.Fatalf("next-header chain %d %d %d", out[6], out[40], out[48])
	}
}

func TestIPv4ResultHeader(t *testing.T) {
	d := v4{src: a4, dst: b4, id: 5, proto: 6, opt: 8, tos: 0x02, payload: payloadBytes(100, 1)}
	// DF on the largest fragment: the result has DF.
	h0 := d.header(64, 0, true, true)
	f0 := append(h0, d.payload[:64]...)
	out, n := feed(t, newR(), t0, f0, d.frag(64, 100, false))
	if n != 1 || !ipv4HeaderOK(out[:28]) || binary.BigEndian.Uint16(out[6:]) != 0x4000 || int(binary.BigEndian.Uint16(out[2:])) != len(out) || len(out) != 128 {
		t.Fatalf("DF result: %d completions, header % x", n, out[:28])
	}
	// The rest is the datagram's, options included.
	w := d.whole()
	if !bytes.Equal(out[:6], w[:6]) || !bytes.Equal(out[8:10], w[8:10]) || !bytes.Equal(out[12:], w[12:]) {
		t.Fatalf("result\n% x\nwant\n% x", out[:28], w[:28])
	}
	// DF on a smaller fragment only: no DF.
	f1 := append(d.header(36, 64, false, true), d.payload[64:]...)
	out, n = feed(t, newR(), t0, d.frag(0, 64, true), f1)
	if n != 1 || binary.BigEndian.Uint16(out[6:]) != 0 || !ipv4HeaderOK(out[:28]) {
		t.Fatalf("DF on the small fragment: %d completions, flags %#x", n, binary.BigEndian.Uint16(out[6:]))
	}
}

func TestECN(t *testing.T) {
	d := sample4(32)
	ect0, notECT, ce := d, d, d
	ect0.tos, notECT.tos, ce.tos = 2, 0, 3
	r := newR()
	_, n := feed(t, r, t0, ect0.frag(0, 16, true), notECT.frag(16, 32, false))
	if n != 0 || r.Stats().ECN != 1 {
		t.Fatalf("Not-ECT with ECT(0): %d completions, stats %+v", n, *r.Stats())
	}
	out, n := feed(t, r, t0, ect0.frag(0, 16, true), ce.frag(16, 32, false))
	if n != 1 || out[1]&3 != 3 || !ipv4HeaderOK(out[:20]) {
		t.Fatalf("ECT(0) with CE: %d completions, tos %#x", n, out[1])
	}
	d6 := sample6(32)
	e6, c6 := d6, d6
	e6.tc, c6.tc = 1, 3
	out, n = feed(t, r, t0, e6.frag(0, 16, true), c6.frag(16, 32, false))
	if n != 1 || (out[1]>>4)&3 != 3 {
		t.Fatalf("IPv6 ECT(1) with CE: %d completions, traffic class %#x", n, out[0]<<4|out[1]>>4)
	}
}

func TestTinyAndOffset1(t *testing.T) {
	seg := tcpSegment(8, payloadBytes(40, 1)) // 32-byte TCP header
	d := v4{src: a4, dst: b4, id: 7, proto: 6, payload: seg}
	r := newR()
	// RFC 1858: the first fragment holds 24 bytes of a 32-byte header; a
	// fragment at offset 8 follows. Counted; reassembled as the host does.
	out, n := feed(t, r, t0, d.frag(0, 24, true), d.frag(24, len(seg), false))
	if n != 1 || !bytes.Equal(out, d.whole()) || r.Stats().Tiny != 1 {
		t.Fatalf("v4 tiny: %d completions, stats %+v", n, *r.Stats())
	}
	feed(t, r, t0, d.frag(8, 16, true))
	if r.Stats().Offset1 != 1 {
		t.Fatalf("offset 8: stats %+v", *r.Stats())
	}
	// IPv6: a first fragment without the whole TCP header is dropped.
	d6 := v6{src: a6, dst: b6, id: 3, nh: 6, part: seg}
	r = newR()
	_, n = feed(t, r, t0, d6.frag(16, len(seg), false), d6.frag(0, 16, true))
	if n != 0 || r.Stats().Tiny != 1 {
		t.Fatalf("v6 tiny: %d completions, stats %+v", n, *r.Stats())
	}
	// The datagram goes on: a first fragment with the whole header
	// completes it.
	r = newR()
	out, n = feed(t, r, t0, d6.frag(24, len(seg), false), d6.frag(0, 16, true), d6.frag(0, 24, true))
	if n != 1 || !bytes.Equal(out, d6.whole()) || r.Stats().Tiny != 2 { // 24 bytes: enough for Linux, not for the 32-byte header
		t.Fatalf("v6 whole first fragment: %d completions, stats %+v", n, *r.Stats())
	}
}

func TestMalformed(t *testing.T) {
	d := sample4(32)
	d6 := sample6(32)
	good := d.frag(0, 16, true)
	badSum := slices.Clone(good)
	badSum[8]++
	cut := good[:30]
	whole := d.whole()
	atomic := d6.fragBytes(0, d6.part, false)
	jumbo := d6.frag(0, 16, true)
	jumbo[4], jumbo[5] = 0, 0
	noFrag := d6.whole()
	for i, p := range [][]byte{nil, {0x45}, badSum, cut, whole, atomic, jumbo, noFrag, {0x70, 1, 2}} {
		r := newR()
		if _, ok := r.Add(t0, 0, p); ok || r.Stats().Malformed != 1 || r.Pending() != 0 {
			t.Errorf("case %d: stats %+v", i, *r.Stats())
		}
	}
	// Bytes past the total length (link padding) are ignored.
	r := newR()
	padded := append(slices.Clone(d.frag(16, 32, false)), 0, 0, 0, 0)
	out, n := feed(t, r, t0, good, padded)
	if n != 1 || !bytes.Equal(out, d.whole()) {
		t.Fatal("padded fragment")
	}
}

func TestMaxDatagramsEvictsOldest(t *testing.T) {
	r := New(Config{MaxDatagrams: 3})
	for i := range 4 {
		d := sample4(32)
		d.id = uint16(i)
		r.Add(t0.Add(time.Duration(i)*time.Second), 0, d.frag(0, 16, true))
	}
	if r.Pending() != 3 || r.Stats().Evicted != 1 {
		t.Fatalf("pending %d, stats %+v", r.Pending(), *r.Stats())
	}
	// Id 0 was the oldest: its last fragment starts a new datagram (and
	// evicts id 1); id 2 is still there and completes.
	d := sample4(32)
	d.id = 0
	if _, ok := r.Add(t0, 0, d.frag(16, 32, false)); ok || r.Stats().Evicted != 2 {
		t.Fatalf("the oldest datagram was not evicted: stats %+v", *r.Stats())
	}
	d.id = 2
	if _, ok := r.Add(t0, 0, d.frag(16, 32, false)); !ok {
		t.Fatal("a younger datagram was evicted")
	}
}

// A flood of 8-byte fragments of many datagrams keeps every byte on the
// books: Held stays within MaxBytes and the heap grows by no more.
func TestFloodStaysOnTheBooks(t *testing.T) {
	const limit = 4 << 20
	r := New(Config{MaxBytes: limit, MaxDatagrams: 100000})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := sample4(8)
	base := d.header(8, 0, true, false)
	pkt := append(base, make([]byte, 8)...)
	for i := range 400000 {
		// datagram i/4000, fragment at offset 8*(i%4000)*2 (gaps: no runs merge)
		binary.BigEndian.PutUint16(pkt[4:], uint16(i/4000))
		binary.BigEndian.PutUint16(pkt[6:], 0x2000|uint16((i%4000)*2))
		setIPv4Checksum(pkt[:20])
		r.Add(t0, uint32(i/4000)>>16, pkt)
		if i%10000 == 0 {
			checkBounds(t, r)
		}
	}
	checkBounds(t, r)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("held %d, heap grew %d, evicted %d, pending %d", r.Held(), grown, r.Stats().Evicted, r.Pending())
	if r.Held() < limit/2 {
		t.Errorf("held %d: the flood should fill the budget", r.Held())
	}
	// The table's index (sized for MaxDatagrams) and the output buffer are
	// outside MaxBytes; allow them and the collector's slack.
	if grown > limit+limit/2+(8<<20) {
		t.Errorf("heap grew %d for a %d budget", grown, limit)
	}
}
