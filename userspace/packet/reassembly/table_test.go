package reassembly

import (
	"fmt"
	"testing"
)

// op is one step of a table test. Offsets are data offsets: the sequence
// number is isn+1+off (the SYN takes isn).
type op struct {
	kind     byte // 's' segment, 'y' SYN, 'a' ack, 'k' Skip, 'K' Skip without consumer, 'f' Flush
	off      int64
	fin      bool
	data     string
	n        int64
	seqDelta uint32 // added to the sequence number as is (huge jumps)
}

func seg(off int64, d string) op { return op{kind: 's', off: off, data: d} }
func fin(off int64, d string) op { return op{kind: 's', off: off, data: d, fin: true} }
func syn(d string) op            { return op{kind: 'y', off: -1, data: d} }
func ack(off int64) op           { return op{kind: 'a', off: off} }
func skip(n int64) op            { return op{kind: 'k', n: n} }
func skipLater(n int64) op       { return op{kind: 'K', n: n} }
func flush() op                  { return op{kind: 'f'} }
func far(off int64, d uint32) op { return op{kind: 's', off: off, data: "x", seqDelta: d} }
func run(s *Stream, k *sink, isn uint32, ops []op) {
	for _, o := range ops {
		seq := isn + 1 + uint32(o.off) + o.seqDelta
		switch o.kind {
		case 's':
			s.Segment(seq, false, o.fin, []byte(o.data), k)
		case 'y':
			s.Segment(isn, true, o.fin, []byte(o.data), k)
		case 'a':
			s.Acked(seq, k)
		case 'k', 'K':
			fmt.Fprintf(&k.out, "{%d}", o.n)
			k.pos += o.n
			if o.kind == 'k' {
				s.Skip(o.n, k)
			} else {
				s.Skip(o.n, nil)
			}
		case 'f':
			s.Flush(k)
		}
		if k.pos != s.Delivered() {
			k.t.Fatalf("after %+v: consumer at %d, stream at %d", o, k.pos, s.Delivered())
		}
	}
}

func TestTable(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		isn    uint32
		skipAt func(off int64, p []byte) int64
		ops    []op
		want   string
		check  func(t *testing.T, s *Stream, st *Stats)
	}{
		// A FIN queued out of order goes with its segment when Linux drops
		// that segment (tcp_data_queue_ofo): replaced by one with the same
		// start and a later end_seq (a FIN counts in it), or covered by one
		// that starts before it and reaches its end_seq.
		{name: "linux: out-of-order FIN replaced by a longer segment", cfg: Config{Policy: PolicyLinux},
			ops:  []op{syn(""), fin(4, "XX"), seg(4, "4567"), seg(0, "0123"), seg(8, "89"), flush()},
			want: "0123456789",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "FIN replaced", st.FINReplaced, 1)
				eq(t, "finished", s.Finished(), false)
				eq(t, "after FIN", st.AfterFIN, 0)
			}},
		{name: "linux: one byte past the FIN is not longer (end_seq equal): dropped", cfg: Config{Policy: PolicyLinux},
			ops:  []op{syn(""), fin(4, "45"), seg(4, "XYZ"), seg(0, "0123"), flush()},
			want: "012345",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "FIN replaced", st.FINReplaced, 0)
				eq(t, "finished", s.Finished(), true)
				eq(t, "after FIN", st.AfterFIN, 1)
			}},
		{name: "linux: same start, same data and a FIN: the queued one stays", cfg: Config{Policy: PolicyLinux},
			ops:  []op{syn(""), fin(4, "45"), fin(4, "XY"), seg(0, "0123"), flush()},
			want: "012345",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "FIN replaced", st.FINReplaced, 0)
				eq(t, "finished", s.Finished(), true)
			}},
		{name: "linux: an earlier segment reaching the FIN's end_seq erases it", cfg: Config{Policy: PolicyLinux},
			ops:  []op{syn(""), fin(4, "XX"), seg(2, "23456"), seg(0, "01"), flush()},
			want: "0123456",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "FIN replaced", st.FINReplaced, 1)
				eq(t, "finished", s.Finished(), false)
			}},
		{name: "linux: an earlier segment short of the FIN's end_seq leaves it", cfg: Config{Policy: PolicyLinux},
			ops:  []op{syn(""), fin(4, "XX"), seg(2, "2345"), seg(0, "01"), flush()},
			want: "012345",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "FIN replaced", st.FINReplaced, 0)
				eq(t, "finished", s.Finished(), true)
			}},
		{name: "first: an out-of-order FIN stays", cfg: Config{Policy: PolicyFirst},
			ops:  []op{syn(""), fin(4, "45"), seg(4, "XYZW"), seg(0, "0123"), flush()},
			want: "012345",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "FIN replaced", st.FINReplaced, 0)
				eq(t, "finished", s.Finished(), true)
			}},
		{name: "in order", ops: []op{syn(""), seg(0, "hello "), seg(6, "world"), fin(11, ""), flush()},
			want: "hello world",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "finished", s.Finished(), true)
				eq(t, "out of order", st.OutOfOrder, 0)
				eq(t, "delivered", st.Delivered, 11)
			}},
		{name: "reorder", ops: []op{syn(""), seg(0, "abc"), seg(6, "ghi"), seg(3, "def")},
			want: "abcdefghi",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "out of order", st.OutOfOrder, 1)
				eq(t, "buffered", s.Buffered(), 0)
			}},
		{name: "reverse order", ops: []op{syn(""), seg(6, "ghi"), seg(3, "def"), seg(0, "abc")},
			want:  "abcdefghi",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "out of order", st.OutOfOrder, 2) }},
		{name: "retransmissions of delivered data", ops: []op{syn(""), seg(0, "abc"), seg(0, "abc"), seg(3, "def"), seg(0, "XYZdef"), seg(1, "bcdefg")},
			want: "abcdefg",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "dup", st.DupBytes, 3+6+5)
				eq(t, "old segments", st.OldSegments, 2)
				eq(t, "conflicts (delivered bytes are not kept)", st.ConflictBytes, 0)
			}},
		{name: "duplicate out-of-order segment", ops: []op{syn(""), seg(0, "abc"), seg(6, "ghi"), seg(6, "ghi"), seg(3, "def")},
			want: "abcdefghi",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "overlap", st.OverlapBytes, 3)
				eq(t, "dup", st.DupBytes, 3)
				eq(t, "conflict", st.ConflictBytes, 0)
				eq(t, "out of order", st.OutOfOrder, 1)
			}},
		{name: "conflicting copy of held bytes: first wins", ops: []op{syn(""), seg(0, "abc"), seg(6, "ghi"), seg(6, "gXY"), seg(3, "def")},
			want: "abcdefghi",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "overlap", st.OverlapBytes, 3)
				eq(t, "conflict", st.ConflictBytes, 2)
			}},
		{name: "partial overlap in order: held wins", ops: []op{syn(""), seg(0, "01"), seg(4, "45678"), seg(2, "23XY")},
			want: "012345678",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "overlap", st.OverlapBytes, 2)
				eq(t, "conflict", st.ConflictBytes, 2)
			}},
		{name: "segment covering held bytes on both sides", ops: []op{syn(""), seg(0, "0"), seg(3, "34"), seg(1, "12ZZ56")},
			want:  "0123456",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "conflict", st.ConflictBytes, 2) }},
		{name: "out-of-order overlaps: only new bytes held", ops: []op{syn(""), seg(4, "45"), seg(8, "8"), seg(2, "2345678"), seg(0, "01")},
			want: "012345678",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "overlap", st.OverlapBytes, 3)
				eq(t, "delivered", st.Delivered, 9)
			}},
		{name: "SYN with data (Fast Open)", ops: []op{syn("GET "), seg(4, "/ HTTP/1.1")},
			want: "GET / HTTP/1.1"},
		{name: "SYN retransmission", ops: []op{syn(""), syn(""), seg(0, "abc"), syn(""), seg(3, "def")},
			want:  "abcdef",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "gaps", st.Gaps, 0) }},
		{name: "FIN then data beyond it", ops: []op{syn(""), seg(0, "abc"), fin(3, "de"), seg(5, "zz")},
			want: "abcde",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "finished", s.Finished(), true)
				eq(t, "after fin", st.AfterFIN, 2)
			}},
		{name: "FIN before its data", ops: []op{syn(""), fin(3, "de"), seg(0, "abc")},
			want:  "abcde",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "finished", s.Finished(), true) }},
		{name: "not finished before FIN data", ops: []op{syn(""), fin(3, "de")},
			want:  "",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "finished", s.Finished(), false) }},
		{name: "FIN before held data is ignored", ops: []op{syn(""), seg(0, "a"), seg(5, "f"), fin(2, "")},
			want:  "a",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "fin", s.fin, false) }},
		{name: "FIN behind delivered data is ignored", ops: []op{syn(""), seg(0, "abcdef"), fin(3, "")},
			want:  "abcdef",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "finished", s.Finished(), false) }},
		{name: "missing segment: gap at flush", ops: []op{syn(""), seg(0, "abc"), seg(6, "ghi"), fin(9, ""), flush()},
			want: "abc[3]ghi",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "gap bytes", st.GapBytes, 3)
				eq(t, "finished", s.Finished(), true)
			}},
		{name: "missing tail before FIN: gap at flush", ops: []op{syn(""), seg(0, "abc"), fin(9, ""), flush()},
			want: "abc[6]"},
		{name: "no FIN: no gap for the unknown tail", ops: []op{syn(""), seg(0, "abc"), flush()},
			want: "abc"},
		{name: "ack reveals a loss", ops: []op{syn(""), seg(0, "abc"), seg(6, "ghi"), seg(12, "mno"), ack(9)},
			want: "abc[3]ghi",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "ack gaps", st.AckGaps, 1)
				eq(t, "buffered", s.Buffered(), 3)
			}},
		{name: "ack beyond held data", ops: []op{syn(""), seg(0, "abc"), seg(6, "ghi"), seg(12, "mno"), ack(20)},
			want:  "abc[3]ghi[3]mno[5]",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "ack gaps", st.AckGaps, 3) }},
		{name: "ack then the late data", ops: []op{syn(""), seg(0, "abc"), ack(6), seg(3, "def"), seg(6, "g")},
			want: "abc[3]g",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "late", st.LateBytes, 3)
				eq(t, "dup", st.DupBytes, 0)
			}},
		{name: "ack of the FIN is not a gap", ops: []op{syn(""), seg(0, "abc"), fin(3, ""), ack(4)},
			want:  "abc",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "gaps", st.Gaps, 0) }},
		{name: "ack of the FIN before the FIN", ops: []op{syn(""), seg(0, "abc"), ack(4), fin(3, "")},
			want:  "abc[1]",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "finished", s.Finished(), true) }},
		{name: "old ack does nothing", ops: []op{syn(""), seg(0, "abc"), seg(6, "g"), ack(2), ack(-5)},
			want: "abc"},
		{name: "buffer limit forces the oldest hole", cfg: Config{MaxBuffered: 6},
			ops:  []op{syn(""), seg(0, "ab"), seg(4, "ef"), seg(8, "ij"), seg(12, "mn"), seg(16, "qr")},
			want: "ab[2]ef",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "limit gaps", st.LimitGaps, 1)
				eq(t, "buffered", s.Buffered(), 6)
			}},
		{name: "segment limit", cfg: Config{MaxSegments: 2},
			ops:   []op{syn(""), seg(0, "a"), seg(2, "c"), seg(4, "e"), seg(6, "g"), flush()},
			want:  "a[1]c[1]e[1]g",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "limit gaps", st.LimitGaps, 1) }},
		{name: "segment larger than the buffer limit", cfg: Config{MaxBuffered: 4},
			ops:   []op{syn(""), seg(0, "a"), seg(3, "defgh")},
			want:  "a[2]defgh",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "buffered", s.Buffered(), 0) }},
		{name: "consumer skip frees held bytes and cuts a straddling one",
			skipAt: func(off int64, p []byte) int64 {
				if off == 0 {
					return 4
				}
				return 0
			},
			ops:  []op{syn(""), seg(4, "e"), seg(5, "fghij"), seg(0, "abc")},
			want: "abc{4}hij",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "skipped", st.Skipped, 4)
				eq(t, "buffered", s.Buffered(), 0)
				eq(t, "delivered", st.Delivered, 6)
			}},
		{name: "consumer skip past unseen data",
			skipAt: func(off int64, p []byte) int64 {
				if off == 0 {
					return 100
				}
				return 0
			},
			ops:  []op{syn(""), seg(0, "abc"), seg(3, "defg"), seg(50, "xx"), seg(100, "xyzw"), seg(104, "v")},
			want: "abc{100}wv",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "skipped segments", st.SkippedSegments, 2)
				eq(t, "gaps", st.Gaps, 0)
				eq(t, "dup", st.DupBytes, 0)
			}},
		{name: "consumer skip in the middle of a direct segment",
			skipAt: func(off int64, p []byte) int64 {
				if off == 0 {
					return 2
				}
				return 0
			},
			ops:   []op{syn(""), seg(4, "ef"), seg(0, "abcdefgh")},
			want:  "abcd{2}gh",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "buffered", s.Buffered(), 0) }},
		{name: "Skip frees and delivers", ops: []op{syn(""), seg(0, "abc"), seg(5, "fgh"), seg(10, "k"), skip(3)},
			want: "abc{3}gh",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "buffered", s.Buffered(), 1)
				eq(t, "delivered point", s.Delivered(), 8)
			}},
		{name: "Skip without consumer delivers at the next call", ops: []op{syn(""), seg(0, "abc"), seg(5, "fgh"), skipLater(3), seg(8, "ij")},
			want: "abc{3}ghij"},
		{name: "Skip before the first segment", ops: []op{skipLater(2), seg(0, "abcd")},
			want: "{2}cd"},
		{name: "mid-stream pickup", isn: 5000, ops: []op{seg(0, "abc"), seg(-10, "0123456789"), seg(3, "def")},
			want: "abcdef",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "old", st.OldSegments, 1)
				eq(t, "started", s.Started(), true)
				eq(t, "next seq", s.NextSeq(), uint32(5000+1+6))
			}},
		{name: "mid-stream pickup, bare ACK first", ops: []op{seg(5, ""), seg(0, "abc")},
			want: "abc"},
		{name: "beyond the window", cfg: Config{Window: 100},
			ops:   []op{syn(""), seg(0, "a"), seg(102, "b"), seg(100, "c"), flush()},
			want:  "a[99]c",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "beyond window", st.BeyondWindow, 1) }},
		{name: "half the sequence space away", ops: []op{syn(""), seg(0, "a"), far(1, 1<<31), far(1, 1<<31-1), far(1, 1<<30+1)},
			want: "a",
			check: func(t *testing.T, s *Stream, st *Stats) {
				eq(t, "beyond window", st.BeyondWindow, 2)
				eq(t, "old", st.OldSegments, 1)
			}},
		{name: "segments after flush", ops: []op{syn(""), seg(0, "a"), flush(), seg(1, "b"), ack(5)},
			want:  "a",
			check: func(t *testing.T, s *Stream, st *Stats) { eq(t, "old", st.OldSegments, 1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Stream
			var st Stats
			s.Init(&tc.cfg, &st, nil)
			k := &sink{t: t, skipAt: tc.skipAt}
			run(&s, k, tc.isn, tc.ops)
			if got := k.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, &s, &st)
			}
			checkHeld(t, &s)
		})
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// checkHeld checks the held pieces: sorted, disjoint, after the delivery
// point, summing to Buffered, within the limits.
func checkHeld(t testing.TB, s *Stream) {
	t.Helper()
	var n int64
	prev := s.next
	for i := s.head; i < len(s.pieces); i++ {
		pc := &s.pieces[i]
		if pc.off <= s.next || pc.off < prev || pc.len() <= 0 {
			t.Fatalf("piece %d at %d+%d: delivery point %d, previous end %d", i, pc.off, pc.len(), s.next, prev)
		}
		prev = pc.end()
		n += pc.len()
	}
	if n != int64(s.held) {
		t.Fatalf("pieces hold %d, Buffered %d", n, s.held)
	}
	// Replacing held bytes may split two pieces past the segment limit.
	slack := 0
	if s.policy != PolicyFirst {
		slack = 2
	}
	if s.held > s.maxBuf || s.live() > s.maxSegs+slack {
		t.Fatalf("held %d bytes in %d pieces: limits %d, %d", s.held, s.live(), s.maxBuf, s.maxSegs)
	}
}
