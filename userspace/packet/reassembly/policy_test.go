package reassembly

import (
	"testing"
)

// conflictSink is a sink that records Conflict calls.
type conflictSink struct {
	sink
	conflicts []int64
}

func (k *conflictSink) Conflict(n int64) { k.conflicts = append(k.conflicts, n) }

// The overlap policies, each case a sequence the hosts resolve
// differently. Offsets are from the ISN+1.
func TestPolicies(t *testing.T) {
	tests := []struct {
		name                string
		ops                 []op
		first, linux, lastP string
	}{
		{"in-order segment over held bytes",
			[]op{syn(""), seg(0, "ab"), seg(4, "XY"), seg(2, "cdef")},
			"abcdXY", "abcdef", "abcdef"},
		{"out-of-order, same start, longer later",
			[]op{syn(""), seg(0, "a"), seg(3, "XY"), seg(3, "def"), seg(1, "bc")},
			"abcXYf", "abcdef", "abcdef"},
		{"out-of-order, same start, shorter later",
			[]op{syn(""), seg(0, "a"), seg(3, "def"), seg(3, "XY"), seg(1, "bc")},
			"abcdef", "abcdef", "abcXYf"},
		{"out-of-order, same start, equal length later",
			[]op{syn(""), seg(0, "a"), seg(3, "def"), seg(3, "XYZ"), seg(1, "bc")},
			"abcdef", "abcdef", "abcXYZ"},
		{"out-of-order, the later starts earlier",
			[]op{syn(""), seg(0, "a"), seg(3, "def"), seg(2, "cXYZh"), seg(1, "b")},
			"abcdefh", "abcXYZh", "abcXYZh"},
		{"out-of-order, the later starts later",
			[]op{syn(""), seg(0, "a"), seg(2, "cde"), seg(3, "XYfg"), seg(1, "b")},
			"abcdefg", "abcdefg", "abcXYfg"},
		{"out-of-order inside a held segment",
			[]op{syn(""), seg(0, "a"), seg(2, "cdefg"), seg(3, "XY"), seg(1, "b")},
			"abcdefg", "abcdefg", "abcXYfg"},
		{"a later segment covering two held ones",
			[]op{syn(""), seg(0, "a"), seg(3, "de"), seg(6, "gh"), seg(2, "cDEfGHi"), seg(1, "b")},
			"abcdefghi", "abcDEfGHi", "abcDEfGHi"},
	}
	for _, tc := range tests {
		for _, p := range []struct {
			pol  Policy
			want string
		}{{PolicyFirst, tc.first}, {PolicyLinux, tc.linux}, {PolicyLast, tc.lastP}} {
			var s Stream
			var st Stats
			s.Init(&Config{Policy: p.pol}, &st, nil)
			k := &sink{t: t}
			run(&s, k, 1000, tc.ops)
			if got := k.String(); got != p.want {
				t.Errorf("%s, policy %d: got %q, want %q", tc.name, p.pol, got, p.want)
			}
			checkHeld(t, &s)
			if s.Buffered() != 0 {
				t.Errorf("%s, policy %d: %d bytes still held", tc.name, p.pol, s.Buffered())
			}
		}
	}
}

// Bytes already delivered came again with other content: the consumer
// is told; the same content again, or a copy the history no longer
// covers, is not a conflict.
func TestDeliveredConflicts(t *testing.T) {
	for _, pol := range []Policy{PolicyFirst, PolicyLinux, PolicyLast} {
		var s Stream
		var st Stats
		s.Init(&Config{Policy: pol}, &st, nil)
		k := &conflictSink{sink: sink{t: t}}
		s.Segment(99, true, false, nil, k)
		s.Segment(100, false, false, []byte("abcdef"), k)
		s.Segment(106, false, false, []byte("ghij"), k)
		s.Segment(100, false, false, []byte("abcdef"), k) // a plain retransmission
		if len(k.conflicts) != 0 {
			t.Fatalf("policy %d: identical retransmission reported as a conflict", pol)
		}
		s.Segment(100, false, false, []byte("abXdefghij"), k)
		if len(k.conflicts) != 1 || st.DeliveredConflicts != 1 {
			t.Fatalf("policy %d: conflicts %v, stats %d", pol, k.conflicts, st.DeliveredConflicts)
		}
		if got := k.String(); got != "abcdefghij" {
			t.Errorf("policy %d: delivered %q", pol, got)
		}
		// Part of a delivered segment only: cannot be compared.
		s.Segment(101, false, false, []byte("Bc"), k)
		if len(k.conflicts) != 1 || st.UnverifiedBytes != 2 {
			t.Errorf("policy %d: a partial copy: conflicts %v, unverified %d", pol, k.conflicts, st.UnverifiedBytes)
		}
	}
	// Beyond the history: the oldest deliveries are forgotten.
	var s Stream
	var st Stats
	s.Init(nil, &st, nil)
	k := &conflictSink{sink: sink{t: t}}
	s.Segment(0, true, false, nil, k)
	for i := 0; i < histN+5; i++ {
		s.Segment(uint32(1+i*4), false, false, []byte("abcd"), k)
	}
	s.Segment(1, false, false, []byte("XXXX"), k)
	if len(k.conflicts) != 0 || st.UnverifiedBytes != 4 {
		t.Errorf("forgotten delivery: conflicts %v, unverified %d", k.conflicts, st.UnverifiedBytes)
	}
	s.Segment(uint32(1+(histN+4)*4), false, false, []byte("abXd"), k)
	if len(k.conflicts) != 1 {
		t.Errorf("recent delivery: conflicts %v", k.conflicts)
	}
}

// An urgent byte is out of band: the stream goes on without it, also
// when the consumer skips across it.
func TestUrgent(t *testing.T) {
	var s Stream
	var st Stats
	s.Init(nil, &st, nil)
	k := &sink{t: t}
	s.Segment(999, true, false, nil, k)
	s.Urgent(1003)
	s.Segment(1000, false, false, []byte("abcXdef"), k)
	s.Urgent(1008) // the next segment's second byte
	s.Segment(1007, false, false, []byte("gYh"), k)
	if got := k.String(); got != "abcdefgh" || st.UrgentBytes != 2 {
		t.Fatalf("got %q, %d urgent bytes", got, st.UrgentBytes)
	}
	// Urgent bytes behind the delivery point change nothing.
	s.Urgent(1001)
	s.Segment(1010, false, false, []byte("ij"), k)
	if got := k.String(); got != "abcdefghij" {
		t.Fatalf("got %q", got)
	}
}
