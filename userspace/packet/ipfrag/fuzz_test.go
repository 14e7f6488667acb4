package ipfrag

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The reference model: Linux's rules written down plainly (a list of
// runs searched linearly, the fragments kept whole, the datagram built
// from them at the end), with no pool, no doom shortcut and no bounds.
// It takes fragments as the fuzz target describes them, not as bytes, so
// it shares no parsing with the package.

type mfrag struct {
	off, end int
	data     []byte
}

type mdgram struct {
	created        int64
	runs           [][2]int
	frags          []mfrag
	len, meat      int
	first, last    bool
	ecn            uint8
	hdr            []byte
	nhOff          int
	fragNH         byte
	maxSize, maxDF int
}

type model struct {
	m       map[key]*mdgram
	timeout int64
}

// mop is one fragment as the fuzz target builds it.
type mop struct {
	k      key
	v6     bool
	off    int
	data   []byte
	more   bool
	ecn    uint8 // 1 << codepoint
	df     bool
	hdr    []byte // the packet's header: IPv4 header, or IPv6 up to the fragment header
	nhOff  int
	fragNH byte
	pkt    []byte
}

func (m *model) expire(now int64) {
	for k, d := range m.m {
		if now-d.created >= m.timeout {
			delete(m.m, k)
		}
	}
}

func (m *model) add(now int64, o *mop) ([]byte, bool) {
	if o.off == 0 && !o.more {
		return nil, false // a whole packet, not a fragment
	}
	if o.v6 && o.off == 0 {
		need := 8
		if o.fragNH == 6 {
			need = 20
		}
		if len(o.data) < need {
			return nil, false // RFC 8200 4.5: first fragment without its headers
		}
	}
	d := m.m[o.k]
	if d != nil && now-d.created >= m.timeout {
		delete(m.m, o.k)
		d = nil
	}
	if d == nil {
		d = &mdgram{created: now}
		m.m[o.k] = d
	}
	kill := func() ([]byte, bool) { delete(m.m, o.k); return nil, false }
	end := o.off + len(o.data)
	if o.v6 && end > 65535 {
		return nil, false
	}
	if !o.more {
		if end < d.len || (d.last && end != d.len) {
			return kill()
		}
		d.last, d.len = true, end
	} else {
		if end%8 != 0 {
			if o.v6 {
				return nil, false
			}
			end -= end % 8
		}
		if end > d.len {
			if d.last {
				return kill()
			}
			d.len = end
		}
	}
	if end == o.off {
		return kill()
	}
	if len(d.runs) == 0 {
		d.runs = append(d.runs, [2]int{o.off, end})
	} else {
		li := 0
		for i, r := range d.runs {
			if r[1] > d.runs[li][1] {
				li = i
			}
		}
		if lastEnd := d.runs[li][1]; lastEnd < end {
			switch {
			case o.off < lastEnd:
				return kill()
			case o.off == lastEnd:
				d.runs[li][1] = end
			default:
				d.runs = append(d.runs, [2]int{o.off, end})
			}
		} else {
			for _, r := range d.runs {
				if r[0] < end && o.off < r[1] {
					if o.off >= r[0] && end <= r[1] {
						return nil, false // duplicate
					}
					return kill()
				}
			}
			d.runs = append(d.runs, [2]int{o.off, end})
		}
	}
	d.frags = append(d.frags, mfrag{o.off, end, o.data[:end-o.off]})
	d.meat += end - o.off
	d.ecn |= o.ecn
	if o.off == 0 {
		d.first, d.hdr, d.nhOff, d.fragNH = true, slices.Clone(o.hdr), o.nhOff, o.fragNH
	}
	if !o.v6 {
		size := end - o.off + len(o.hdr)
		d.maxSize = max(d.maxSize, size)
		if o.df {
			d.maxDF = max(d.maxDF, size)
		}
	}
	if !d.first || !d.last || d.meat != d.len {
		return nil, false
	}
	delete(m.m, o.k)
	if d.ecn&1 != 0 && d.ecn != 1 {
		return nil, false
	}
	h := len(d.hdr)
	if (!o.v6 && h+d.len > 65535) || (o.v6 && h-40+d.len > 65535) {
		return nil, false
	}
	out := make([]byte, h+d.len)
	copy(out, d.hdr)
	for _, f := range d.frags {
		copy(out[h+f.off:], f.data)
	}
	if !o.v6 {
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		out[6], out[7] = 0, 0
		if d.maxDF == d.maxSize {
			out[6] = 0x40
		}
		if d.ecn&8 != 0 {
			out[1] |= 3
		}
		setIPv4Checksum(out[:h])
	} else {
		out[d.nhOff] = d.fragNH
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
		if d.ecn&8 != 0 {
			out[1] |= 0x30
		}
	}
	return out, true
}

// op decodes a 7-byte record into a fragment:
//
//	[0] bit 0 IPv6, 1 more, 2-3 ECN, 4 DF, 5 options or extension
//	    headers, 6 TCP (else UDP), 7 far (offset in 256s, length in 64s)
//	[1] bits 0-1 id, 2 zone, 3 Expire before it
//	[2] offset in 8s (or 256s)   [3] length (or in 64s)
//	[4] content seed   [5] seconds since the last record (low 4 bits)
//	[6] IPv4 protocol low bit / IPv6 traffic-class high bits
func decodeOp(rec []byte) *mop {
	fl := rec[0]
	o := &mop{v6: fl&1 != 0, more: fl&2 != 0, df: fl&0x10 != 0}
	ecn := (fl >> 2) & 3
	o.ecn = 1 << ecn
	o.off = int(rec[2]) * 8
	n := int(rec[3])
	if fl&0x80 != 0 {
		o.off, n = int(rec[2])*256, int(rec[3])*64
	}
	id := uint32(rec[1] & 3)
	zone := uint32(rec[1]>>2) & 1
	proto := uint8(17)
	if fl&0x40 != 0 {
		proto = 6
	}
	if !o.v6 {
		d := v4{src: a4, dst: b4, id: uint16(id), proto: proto ^ (rec[6] & 1 << 4), tos: rec[6]&0xfc | ecn}
		if fl&0x20 != 0 {
			d.opt = 8
		}
		n = min(n, 65535-20-d.opt)
		o.data = payloadBytes(n, rec[4])
		o.hdr = d.header(n, o.off, o.more, o.df)
		o.pkt = append(slices.Clone(o.hdr), o.data...)
		o.k = key{id: id, zone: zone, proto: d.proto, family: 4}
		copy(o.k.src[:], a4.AsSlice())
		copy(o.k.dst[:], b4.AsSlice())
		return o
	}
	d := v6{src: a6, dst: b6, id: id, nh: proto, tc: rec[6]&0xf0 | ecn}
	if fl&0x20 != 0 {
		d.unfrag, d.types = [][]byte{ext(2)}, []uint8{60}
	}
	n = min(n, 65535-8-8*len(d.unfrag)*2)
	o.data = payloadBytes(n, rec[4])
	o.pkt = d.fragBytes(o.off, o.data, o.more)
	o.hdr = o.pkt[:40+16*len(d.unfrag)]
	o.nhOff = 6
	if len(d.unfrag) > 0 {
		o.nhOff = 40
	}
	o.fragNH = proto
	o.k = key{id: id, zone: zone, family: 6}
	copy(o.k.src[:], a6.AsSlice())
	copy(o.k.dst[:], b6.AsSlice())
	return o
}

// consistent checks a returned datagram on its own: a whole IP packet
// whose length fields match its size.
func consistent(t *testing.T, out []byte) {
	t.Helper()
	switch {
	case len(out) >= 20 && out[0]>>4 == 4:
		ihl := int(out[0]&0xf) * 4
		if ihl < 20 || len(out) < ihl || int(binary.BigEndian.Uint16(out[2:])) != len(out) || !ipv4HeaderOK(out[:ihl]) ||
			binary.BigEndian.Uint16(out[6:])&0xbfff != 0 {
			t.Fatalf("inconsistent IPv4 datagram % x", out[:min(len(out), 24)])
		}
	case len(out) >= 40 && out[0]>>4 == 6:
		if int(binary.BigEndian.Uint16(out[4:])) != len(out)-40 {
			t.Fatalf("inconsistent IPv6 datagram % x", out[:40])
		}
	default:
		t.Fatalf("returned %d bytes that are not an IP packet", len(out))
	}
}

func fuzzOne(t *testing.T, in []byte) { fuzzCount(t, in) }

// fuzzCount is the fuzz body; it returns the datagrams completed.
func fuzzCount(t *testing.T, in []byte) (done int) {
	if len(in) == 0 {
		return 0
	}
	mode, in := in[0]%3, in[1:]
	in = in[:min(len(in), 7*200)] // enough records; more only slow the fuzzer
	now := t0
	switch mode {
	case 0, 1: // structured fragments: against the model, or under tight bounds
		cfg := Config{MaxBytes: 1 << 30, MaxDatagrams: 64} // 16 keys: never reached
		if mode == 1 {
			cfg = Config{MaxBytes: 16<<10 + int64(len(in))*64, MaxDatagrams: 3}
		}
		r := New(cfg)
		m := &model{m: map[key]*mdgram{}, timeout: int64(DefaultTimeout)}
		for ; len(in) >= 7; in = in[7:] {
			o := decodeOp(in[:7])
			now = now.Add(time.Duration(in[5]&0x0f) * time.Second)
			if in[1]&8 != 0 {
				r.Expire(now)
				m.expire(now.UnixNano())
			}
			got, ok := r.Add(now, o.k.zone, o.pkt)
			checkBounds(t, r)
			if ok {
				consistent(t, got)
				done++
			}
			if mode == 1 {
				continue
			}
			want, wok := m.add(now.UnixNano(), o)
			if ok != wok || !bytes.Equal(got, want) {
				t.Fatalf("reassembler %v %d bytes, model %v %d bytes", ok, len(got), wok, len(want))
			}
			if r.Pending() != len(m.m) {
				t.Fatalf("reassembler holds %d datagrams, model %d", r.Pending(), len(m.m))
			}
		}
	case 2: // raw packets: [length][bytes], anything at all
		r := New(Config{MaxBytes: 64 << 10, MaxDatagrams: 8})
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			pkt := in[1 : 1+n]
			in = in[1+n:]
			now = now.Add(time.Second)
			if out, ok := r.Add(now, 0, pkt); ok {
				consistent(t, out)
				done++
			}
			checkBounds(t, r)
		}
	}
	return done
}

// fuzzSeeds: fragment sets of the rule tests as records.
func fuzzSeeds() [][]byte {
	rec := func(fl, k, off, n, seed, dt, x byte) []byte { return []byte{fl, k, off, n, seed, dt, x} }
	join := func(mode byte, rs ...[]byte) []byte {
		b := []byte{mode}
		for _, r := range rs {
			b = append(b, r...)
		}
		return b
	}
	seeds := [][]byte{
		// in order, reverse, duplicate, overlap, v6 with extension headers
		join(0, rec(2, 0, 0, 16, 1, 0, 0), rec(2, 0, 2, 16, 1, 0, 0), rec(0, 0, 4, 9, 1, 0, 0)),
		join(0, rec(0, 1, 4, 9, 1, 0, 0), rec(2, 1, 2, 16, 1, 0, 0), rec(2, 1, 0, 16, 1, 0, 0)),
		join(0, rec(3, 0, 0, 16, 1, 0, 0), rec(3, 0, 2, 16, 1, 0, 0), rec(3, 0, 1, 16, 9, 0, 0), rec(1, 0, 4, 8, 1, 0, 0)),
		join(0, rec(2, 0, 0, 16, 1, 0, 0), rec(2, 0, 1, 16, 9, 0, 0), rec(2, 0, 2, 16, 1, 0, 0), rec(0, 0, 4, 8, 1, 0, 0)),
		join(0, rec(0x23, 2, 0, 64, 3, 0, 0), rec(0x21, 2, 8, 5, 3, 0, 0)),
		// ECN mixes, DF, timeouts, far offsets (too big)
		join(0, rec(0x0a, 0, 0, 16, 1, 0, 0), rec(0x00, 0, 2, 16, 1, 0, 0), rec(0x0e, 0, 0, 16, 1, 0, 0), rec(0x0c, 0, 2, 8, 1, 0, 0)),
		join(0, rec(0x12, 0, 0, 64, 1, 0, 0), rec(0x00, 0, 8, 8, 1, 0, 0), rec(2, 1, 0, 16, 1, 15, 0), rec(0, 1, 2, 8, 1, 15, 0), rec(0, 1, 2, 8, 1, 15, 0x08)),
		join(0, rec(0x82, 0, 0, 255, 1, 0, 0), rec(0x80, 0, 255, 4, 1, 0, 0), rec(0x83, 0, 0, 255, 1, 0, 0), rec(0x81, 0, 255, 4, 1, 0, 0)),
		join(0, rec(0x43, 3, 0, 2, 1, 0, 0), rec(0x43, 3, 0, 3, 1, 0, 0), rec(0x41, 3, 3, 8, 1, 0, 0)),
		join(1, rec(2, 0, 0, 16, 1, 0, 0), rec(2, 1, 0, 16, 1, 0, 0), rec(2, 2, 0, 16, 1, 0, 0), rec(2, 3, 0, 16, 1, 0, 0), rec(0, 0, 2, 8, 1, 0, 0)),
	}
	// A raw seed: two valid IPv4 fragments.
	d := sample4(24)
	f1, f2 := d.frag(0, 16, true), d.frag(16, 24, false)
	raw := append([]byte{2, byte(len(f1))}, f1...)
	raw = append(append(raw, byte(len(f2))), f2...)
	return append(seeds, raw)
}

// FuzzReassemble feeds fragment sequences decoded from the input: mode 0
// against the reference model (same datagrams, same number in
// progress), mode 1 under tight bounds, mode 2 as raw bytes. Always: no
// panic, bounds and bookkeeping consistent, any datagram returned a
// consistent IP packet.
func FuzzReassemble(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(fuzzOne)
}

// TestFuzzRandom runs the fuzz body over random inputs, so that plain go
// test goes beyond the seeds: whole fragment sets of a few datagrams,
// shuffled and interleaved, with copies and random records among them.
func TestFuzzRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	done := 0
	for _, s := range fuzzSeeds() {
		done += fuzzCount(t, s)
	}
	for i := range 2000 {
		var recs [][]byte
		for range 1 + r.IntN(3) {
			fam, k := byte(r.IntN(2)), byte(r.IntN(8))
			ecn := byte(r.IntN(4)) << 2
			if r.IntN(4) != 0 {
				ecn = 0
			}
			tcp := byte(r.IntN(2)) << 6
			total := 9 + r.IntN(1500)
			if r.IntN(2) == 0 {
				total = 16 + 8*r.IntN(180)
			}
			var plan [][]byte
			for off := 0; off < total; {
				n := 8 * (1 + r.IntN(31))
				end := min(off+n, total)
				more := byte(0)
				if end < total {
					more = 2
				}
				plan = append(plan, []byte{fam | more | ecn | tcp, k, byte(off / 8), byte(end - off), byte(r.IntN(2)), 0, 0})
				off = end
			}
			r.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
			for range r.IntN(3) {
				c := slices.Clone(plan[r.IntN(len(plan))])
				c[4] = byte(r.Uint32()) // another content
				plan = slices.Insert(plan, r.IntN(len(plan)+1), c)
			}
			if r.IntN(4) == 0 { // a fragment near the end: past it, or another last one
				c := []byte{fam | byte(r.IntN(2))<<1 | ecn | tcp, k, byte((total+7)/8 - 1 + r.IntN(3)), byte(1 + r.IntN(16)), 0, 0, 0}
				plan = slices.Insert(plan, r.IntN(len(plan)+1), c)
			}
			// Interleave with what is there.
			for _, p := range plan {
				at := len(recs)
				if r.IntN(3) == 0 {
					at = r.IntN(len(recs) + 1)
				}
				recs = slices.Insert(recs, at, p)
			}
		}
		for range r.IntN(4) {
			rec := []byte{byte(r.Uint32()), byte(r.IntN(16)), byte(r.IntN(200)), byte(r.Uint32()), byte(r.Uint32()), byte(r.IntN(16)), byte(r.Uint32())}
			recs = slices.Insert(recs, r.IntN(len(recs)+1), rec)
		}
		in := []byte{byte(i % 3)}
		for _, rec := range recs {
			in = append(in, rec...)
		}
		if i%3 == 2 { // raw mode: the same packets as bytes
			in = in[:1]
			for _, rec := range recs {
				p := decodeOp(rec).pkt
				if len(p) > 255 {
					p = p[:255]
				}
				in = append(append(in, byte(len(p))), p...)
			}
		}
		done += fuzzCount(t, in)
	}
	t.Logf("%d datagrams reassembled", done)
	if done < 700 {
		t.Errorf("only %d datagrams reassembled: the inputs miss the point", done)
	}
}
