package reassembly

import "time"

// Consumer receives one direction's bytes in order.
type Consumer interface {
	// Data hands the next bytes. p is valid only during the call. The
	// result is how many bytes right after p to drop unseen (0: none).
	Data(p []byte) (skip int64)
	// Gap says n > 0 bytes are missing at this point.
	Gap(n int64)
}

// Conflicter is an optional method of a Consumer: bytes it was already
// given came again with other content. The host may have kept either
// copy (a copy that reached the sensor need not have reached the host),
// so what the consumer made of those bytes cannot be trusted.
type Conflicter interface {
	Conflict(n int64)
}

// Policy says which copy of overlapping bytes the receiving host keeps,
// for bytes not yet delivered. Bytes already delivered are the host's for
// good under every policy.
type Policy uint8

// Overlap policies.
const (
	// PolicyFirst: bytes already held always win.
	PolicyFirst Policy = iota
	// PolicyLinux follows Linux's tcp_data_queue(): a segment that is in
	// order wins over bytes queued out of order; among out-of-order
	// segments the one that starts first wins, and of two with the same
	// start the longer (a shorter or equal later one is dropped).
	PolicyLinux
	// PolicyLast: a later copy of bytes not yet delivered wins.
	PolicyLast
)

// Defaults and bounds of Config.
const (
	DefaultMaxBuffered = 4 << 20
	DefaultMaxSegments = 1024
	// MaxWindow is the default and largest Config.Window: well below
	// 2 GiB, so that a sequence number is never ambiguous (ahead or
	// behind) modulo 2^32.
	MaxWindow = 1 << 30
)

// Config bounds one stream. Zero fields take their defaults; a Config may
// be shared by many streams (it is only read by Init).
type Config struct {
	// MaxBuffered is the out-of-order bytes held per stream (default 4
	// MiB: a late retransmission after a bandwidth-delay product of later
	// data still fills its hole). Over it, the oldest hole is declared a
	// gap and delivery goes on.
	MaxBuffered int
	// MaxSegments is the out-of-order segments held per stream (default
	// 1024); it bounds the bookkeeping and the memory lost to rounding
	// when segments are tiny. A segment filling several holes counts once
	// per hole, one longer than 64 KiB once per 64 KiB.
	MaxSegments int
	// Window is how far ahead of the delivery point a segment may start
	// (default and at most MaxWindow); further segments are ignored.
	Window int64
	// Policy resolves overlaps (default PolicyFirst).
	Policy Policy
	// AckGrace is how long (by Seg.Time) a Conn waits before taking an
	// acknowledged hole for a loss; 0 declares it at the ACK. The
	// segments filling it may arrive after the ACK through a slower path
	// (fragments reassembled in userspace), and the cost of waiting is
	// only the out-of-order bytes held meanwhile.
	AckGrace time.Duration
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
	// start) or already held. Dropped, unless the policy lets a later
	// copy of held bytes win.
	DupBytes uint64
	// OverlapBytes are the DupBytes that were already held out of order;
	// ConflictBytes those of them that differed (the policy chose).
	OverlapBytes  uint64
	ConflictBytes uint64
	// ReplacedBytes are held bytes a later copy replaced (PolicyLinux,
	// PolicyLast).
	ReplacedBytes uint64
	// DeliveredConflicts counts retransmissions of delivered bytes with
	// other content (Conflicter); UnverifiedBytes are retransmitted
	// delivered bytes the stream no longer remembered well enough to
	// compare.
	DeliveredConflicts uint64
	UnverifiedBytes    uint64
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
	// FINReplaced counts out-of-order FINs a covering segment made the
	// receiver drop (PolicyLinux): the stream goes on past them.
	FINReplaced uint64
	// UrgentBytes are urgent (out-of-band) bytes taken out of the stream,
	// as the receiver does by default.
	UrgentBytes uint64
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
	s.ReplacedBytes += o.ReplacedBytes
	s.DeliveredConflicts += o.DeliveredConflicts
	s.UnverifiedBytes += o.UnverifiedBytes
	s.LateBytes += o.LateBytes
	s.OutOfOrder += o.OutOfOrder
	s.OldSegments += o.OldSegments
	s.FINReplaced += o.FINReplaced
	s.Skipped += o.Skipped
	s.SkippedSegments += o.SkippedSegments
	s.BeyondWindow += o.BeyondWindow
	s.AfterFIN += o.AfterFIN
	s.UrgentBytes += o.UrgentBytes
}

// Budget bounds the memory the streams of one worker hold: out-of-order
// bytes as the buffers that hold them take it (size class plus per-piece
// bookkeeping, so a flood of 1-byte pieces is paid for at its real cost)
// and the history each stream keeps of what it delivered. It is not safe
// for concurrent use: one worker owns it. When a stream would exceed it,
// that stream declares its oldest hole a gap and delivers instead of
// holding more (Stats.BudgetGaps). Others (the protocol parsers) may draw
// on the same budget with Take and Give.
type Budget struct {
	Max  int64 // bytes; 0 means no limit
	used int64
	peak int64
}

// Peak is the most held at once so far (sampled when memory is added).
func (b *Budget) Peak() int64 { return b.peak }

// Used is the memory held now by the streams (and others) sharing b.
func (b *Budget) Used() int64 { return b.used }

// Take records n bytes held by something else than a stream; it may go
// past Max (the caller checks Over and sheds).
func (b *Budget) Take(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// Give returns what Take took.
func (b *Budget) Give(n int64) { b.used -= n }

// Over reports whether the budget is exceeded.
func (b *Budget) Over() bool { return b.Max > 0 && b.used > b.Max }

func (b *Budget) allows(n int64) bool { return b.Max <= 0 || b.used+n <= b.Max }
