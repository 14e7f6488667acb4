package httpx

import "time"

// Options tune a Parser; zero fields take the defaults.
type Options struct {
	// Uploads opens files for request bodies (POST/PUT uploads).
	Uploads bool
	// MaxHeaderBlock bounds a request or response header block (start
	// line, field lines and line ends) and chunked trailers. A block is
	// read line by line and never held whole, so the bound is not about
	// memory: past it the message is cut (its file, if any, closes
	// transfer.CutLimit) and only its framing fields (Content-Length,
	// Transfer-Encoding) are still read, so the connection goes on at
	// the next message. Default 1 MiB: real clients (curl, Chrome, Go)
	// accept blocks of 256 KiB.
	MaxHeaderBlock int
	// MaxHeaderLines bounds the field lines of a header block, with the
	// effect of MaxHeaderBlock. Default 0: no bound but MaxHeaderBlock
	// (real clients accept 300 lines).
	MaxHeaderLines int
	// MaxHeaderBytes bounds a header block the parser holds whole: a
	// multipart/form-data part's headers (two or three short fields in
	// practice). Default 64 KiB.
	MaxHeaderBytes int
	// MaxDecoded bounds the decoded size of one Content-Encoding coded
	// body; identity bodies are not bounded here (the sink has its own
	// limits). Default 512 MiB.
	MaxDecoded int64
	// MaxRatio bounds decoded/encoded bytes of one body, applied once the
	// output passes 1 MiB so small, very compressible files pass.
	// Default 1000.
	MaxRatio int
	// MaxPipelined bounds the requests awaiting responses. Default 64.
	MaxPipelined int
	// Pieces hands every range of a file (a 206 body with a usable
	// Content-Range, identity-coded) to the sink as a piece
	// (Meta.Range), to be joined across connections and orders there,
	// instead of joining only the ranges that follow on one connection.
	Pieces bool
	// Now, when set, stamps Meta.Time when a file is opened; otherwise the
	// caller sets it.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxHeaderBlock = 1 << 20
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxDecoded     = 512 << 20
	DefaultMaxRatio       = 1000
	DefaultMaxPipelined   = 64
)

// Fixed limits.
const (
	ratioFloor     = 1 << 20 // MaxRatio applies past this much output
	maxLayers      = 3       // stacked codings decoded
	maxHeaderLines = 256     // field lines of a multipart part's headers
	maxChunkLine   = 4096    // chunk-size line with extensions
	maxMethod      = 32      // method token length
	maxDesyncs     = 16      // per connection, then the parser gives up
	decodeBuf      = 32 << 10
)

func (o Options) withDefaults() Options {
	if o.MaxHeaderBlock <= 0 {
		o.MaxHeaderBlock = DefaultMaxHeaderBlock
	}
	if o.MaxHeaderLines < 0 {
		o.MaxHeaderLines = 0
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxDecoded <= 0 {
		o.MaxDecoded = DefaultMaxDecoded
	}
	if o.MaxRatio <= 0 {
		o.MaxRatio = DefaultMaxRatio
	}
	if o.MaxPipelined <= 0 {
		o.MaxPipelined = DefaultMaxPipelined
	}
	return o
}
