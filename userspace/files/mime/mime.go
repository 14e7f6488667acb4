package mime

import (
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
)

// Options bound the work and memory spent on one message. Zero values
// take the defaults.
type Options struct {
	// MaxDepth bounds the nesting of multiparts and message/rfc822
	// parts (default 8). Containers deeper are skipped.
	MaxDepth int
	// MaxHeaderBytes bounds one header block (default 64 KiB); fields
	// past it are dropped.
	MaxHeaderBytes int
	// MaxParts bounds the parts of one message (default 1000); parts
	// past it are skipped.
	MaxParts int
	// MaxLine bounds a line start held while deciding whether it is a
	// delimiter (default 1000, at least maxBoundary+8): a candidate that
	// is still undecided then is taken for a delimiter only if it is one
	// by then.
	MaxLine int
}

// Defaults.
const (
	DefaultMaxDepth       = 8
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxParts       = 1000
	DefaultMaxLine        = 1000
)

// maxBoundary is the longest boundary accepted (RFC 2046 says 70; some
// generators go past it).
const maxBoundary = 256

// outSize is the decoded-bytes buffer, flushed to the file when full and
// at the end of every call.
const outSize = 16 << 10

// innerOutSize is the buffer of each level of encoded attached messages
// (their decoded bytes are decoded again into it).
const innerOutSize = 4 << 10

// Stats count what the extractor saw. Plain counters: the caller that
// owns the Extractor reads and aggregates them.
type Stats struct {
	Messages        uint64 // messages opened
	Parts           uint64 // entities below the top level (body parts, attached messages)
	Files           uint64 // files opened on the sink (leaf parts)
	Declined        uint64 // files the sink stopped wanting (File.Write false)
	Base64Malformed uint64 // base64 parts with characters outside the alphabet or lost bits
	QPMalformed     uint64 // quoted-printable parts with malformed escapes
	UUMalformed     uint64 // uuencoded parts with malformed lines
	DepthLimit      uint64 // containers past MaxDepth, skipped
	HeaderLimit     uint64 // header blocks cut at MaxHeaderBytes
	PartLimit       uint64 // messages with more than MaxParts parts
	MissingBoundary uint64 // multiparts that ended without their close delimiter
	BadBoundary     uint64 // multiparts without a usable boundary, taken as a leaf
	Gaps            uint64 // Message.Gap calls
	GapCuts         uint64 // files closed CutGap, entities lost to a gap
	HeadsLost       uint64 // entities whose header a gap fell on, reported as files with Meta.HeadLost
	AddressFallback uint64 // address lists net/mail refused, extracted leniently
	Encoded         uint64 // attached messages carried base64, quoted-printable or uuencoded, decoded and parsed
}

// Extractor opens messages and splits them into files on its sink.
type Extractor struct {
	sink  transfer.Sink
	opts  Options
	stats *Stats
	out   []byte   // decoded bytes not yet written to the current file; empty between calls
	bufs  [][]byte // the output buffers of encoded attached messages, by level-1
}

var _ transfer.MessageSink = (*Extractor)(nil)

// New returns an Extractor writing files to sink and counting into stats
// (a private Stats when nil).
func New(sink transfer.Sink, opts Options, stats *Stats) *Extractor {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.MaxParts <= 0 {
		opts.MaxParts = DefaultMaxParts
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.MaxLine < maxBoundary+8 {
		opts.MaxLine = maxBoundary + 8
	}
	if stats == nil {
		stats = new(Stats)
	}
	return &Extractor{sink: sink, opts: opts, stats: stats}
}

// OpenMessage starts a message. The envelope of m (Protocol, Upload,
// Time, MailFrom, RcptTo, Mailbox) is copied to every file's Meta.
func (x *Extractor) OpenMessage(m *transfer.Meta) transfer.Message {
	x.stats.Messages++
	msg := &message{x: x}
	msg.root = msg
	if m != nil {
		msg.env = transfer.Meta{
			Protocol: m.Protocol,
			Upload:   m.Upload,
			Time:     m.Time,
			MailFrom: bound(m.MailFrom),
			Mailbox:  bound(m.Mailbox),
		}
		if len(m.RcptTo) > 0 {
			n := min(len(m.RcptTo), transfer.MaxAddresses)
			msg.env.RcptTo = make([]string, n)
			for i := range n {
				msg.env.RcptTo[i] = bound(m.RcptTo[i])
			}
		}
	}
	msg.topBytes = msg.envBytes()
	msg.startEntity(0, "text/plain")
	return msg
}
