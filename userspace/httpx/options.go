package httpx

import "time"

// Options tune a Parser; zero fields take the defaults.
type Options struct {
	// Uploads opens files for request bodies (POST/PUT uploads).
	Uploads bool
	// MaxHeaderBytes bounds one header block (request or response head,
	// chunked trailers, a multipart part's headers). Default 64 KiB.
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
	// Now, when set, stamps Meta.Time when a file is opened; otherwise the
	// caller sets it.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxDecoded     = 512 << 20
	DefaultMaxRatio       = 1000
	DefaultMaxPipelined   = 64
)

// Fixed limits.
const (
	ratioFloor     = 1 << 20 // MaxRatio applies past this much output
	maxLayers      = 3       // stacked codings decoded
	maxHeaderLines = 256     // field lines per header block
	maxChunkLine   = 4096    // chunk-size line with extensions
	maxMethod      = 32      // method token length
	maxDesyncs     = 16      // per connection, then the parser gives up
	decodeBuf      = 32 << 10
)

func (o Options) withDefaults() Options {
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
