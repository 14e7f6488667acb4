package reassembly

// Consumer receives one direction's bytes in order.
type Consumer interface {
	// Data hands the next bytes. p is valid only during the call. The
	// result is how many bytes right after p to drop unseen (0: none).
	Data(p []byte) (skip int64)
	// Gap says n > 0 bytes are missing at this point.
	Gap(n int64)
}

// Defaults and bounds of Config.
const (
	DefaultMaxBuffered = 1 << 20
	DefaultMaxSegments = 1024
	// MaxWindow is the default and largest Config.Window: well below
	// 2 GiB, so that a sequence number is never ambiguous (ahead or
	// behind) modulo 2^32.
	MaxWindow = 1 << 30
)

// Config bounds one stream. Zero fields take their defaults; a Config may
// be shared by many streams (it is only read by Init).
type Config struct {
	// MaxBuffered is the out-of-order bytes held per stream (default 1
	// MiB). Over it, the oldest hole is declared a gap and delivery goes
	// on.
	MaxBuffered int
	// MaxSegments is the out-of-order segments held per stream (default
	// 1024); it bounds the bookkeeping and the memory lost to rounding
	// when segments are tiny. A segment filling several holes counts once
	// per hole, one longer than 64 KiB once per 64 KiB.
	MaxSegments int
	// Window is how far ahead of the delivery point a segment may start
	// (default and at most MaxWindow); further segments are ignored.
	Window int64
}

// Stats counts what streams did. Fields are plain counters: a Stats is
// owned by one worker (or one stream); aggregate with Add.
type Stats struct {
	Segments  uint64 // segments with payload handed to Segment
	Delivered uint64 // bytes handed to Consumer.Data

	Gaps     uint64 // Consumer.Gap calls (all causes)
	GapBytes uint64 // bytes declared missing
	AckGaps  uint64 // gaps declared because the peer acknowledged bytes never seen
	// LimitGaps and BudgetGaps are holes declared gaps early because
	// holding a segment would have exceeded MaxBuffered/MaxSegments or
	// the Budget.
	LimitGaps  uint64
	BudgetGaps uint64

	// DupBytes are bytes received again: behind the delivery point
	// (retransmissions of delivered data, data from before the stream
	// start) or already held. Dropped.
	DupBytes uint64
	// OverlapBytes are the DupBytes that were already held out of order;
	// they are compared with the held copy, which is kept.
	OverlapBytes uint64
	// ConflictBytes are the OverlapBytes that differed from the held copy
	// (same offset, different content).
	ConflictBytes uint64
	// LateBytes arrived inside the range last declared a gap (the gap was
	// declared too early, e.g. on an ACK seen before its data). Dropped.
	LateBytes uint64

	OutOfOrder  uint64 // segments held out of order (at least one new byte)
	OldSegments uint64 // segments with no byte at or after the delivery point (not counting skipped ones), or after Flush
	// Skipped is the bytes passed over by skips (Consumer.Data results
	// and Skip), seen or not.
	Skipped uint64
	// SkippedSegments arrived entirely inside the range last skipped.
	SkippedSegments uint64
	BeyondWindow    uint64 // segments ignored: more than Window ahead
	AfterFIN        uint64 // bytes past the FIN's sequence number, dropped
}

// Add adds o's counters to s.
func (s *Stats) Add(o *Stats) {
	s.Segments += o.Segments
	s.Delivered += o.Delivered
	s.Gaps += o.Gaps
	s.GapBytes += o.GapBytes
	s.AckGaps += o.AckGaps
	s.LimitGaps += o.LimitGaps
	s.BudgetGaps += o.BudgetGaps
	s.DupBytes += o.DupBytes
	s.OverlapBytes += o.OverlapBytes
	s.ConflictBytes += o.ConflictBytes
	s.LateBytes += o.LateBytes
	s.OutOfOrder += o.OutOfOrder
	s.OldSegments += o.OldSegments
	s.Skipped += o.Skipped
	s.SkippedSegments += o.SkippedSegments
	s.BeyondWindow += o.BeyondWindow
	s.AfterFIN += o.AfterFIN
}

// Budget bounds the out-of-order bytes held by all the streams of one
// worker. It is not safe for concurrent use: one worker owns it. When a
// stream would exceed it, that stream declares its oldest hole a gap and
// delivers instead of holding more (Stats.BudgetGaps). It counts bytes
// held; the buffers holding them take at most twice that, plus 64 bytes
// a segment.
type Budget struct {
	Max  int64 // bytes; 0 means no limit
	used int64
}

// Used is the bytes held now by the streams sharing b.
func (b *Budget) Used() int64 { return b.used }

func (b *Budget) allows(n int64) bool { return b.Max <= 0 || b.used+n <= b.Max }
