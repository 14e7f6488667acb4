package httpx

// Stats are plain counters: a Parser updates its Stats without locking,
// so give each goroutine its own and aggregate with Add.
type Stats struct {
	Requests          uint64 // request heads parsed
	Responses         uint64 // final responses parsed
	Interim           uint64 // 1xx interim responses (100, 103...) passed over
	Continue          uint64 // requests with Expect: 100-continue
	Pipelined         uint64 // requests sent while earlier ones awaited responses
	PipelineOverflow  uint64 // requests beyond MaxPipelined: their responses pair with nothing
	Unpaired          uint64 // responses with no request to pair with
	Upgrades          uint64 // 101 Switching Protocols to a request that asked for an Upgrade: the parser is done
	Interim101        uint64 // 101s to requests that asked for no Upgrade, a status line after them: taken as interim
	Body101           uint64 // 101s to requests that asked for no Upgrade, other bytes after them: read as their body until close
	Tee101            uint64 // interim 101s whose bytes after them, to the close, also went to a file of their own (as curl saves them)
	Tunnels           uint64 // 2xx answers to CONNECT whose tunnel was followed
	TunnelsHTTP       uint64 // tunnels whose client sent an HTTP/1.x request: parsed as a connection of their own
	TunnelsOpaque     uint64 // tunnels whose client sent something else (TLS): the parser is done
	TunnelsUnfollowed uint64 // 2xx answers to CONNECT not followed: the client's bytes before the answer were over the bound or hit a gap, or tunnels nested too deep
	TunnelServerFirst uint64 // tunnels whose server spoke before the client's first request: its bytes were held for it
	TunnelHoldOver    uint64 // such server bytes over the bound: parsed at once, pairing with no request
	NotHTTP           uint64 // connections whose first bytes were not HTTP/1.x
	BodiesOpened      uint64 // files opened on the sink
	BodiesDeclined    uint64 // files the sink declined (Write returned false)
	SkippedBytes      uint64 // body bytes handed back to the caller as skip
	CloseIgnored      uint64 // unwanted bodies running to the close: the flow is then ignored
	RangesJoined      uint64 // 206 ranges joined to the file of the range before them
	Partial           uint64 // 206 responses not opened: a range is not the file
	RangePieces       uint64 // 206 ranges handed to the sink as pieces (Options.Pieces)
	RangeUnasked      uint64 // 206 responses to requests with no Range: the client saves the body, so it is a file of its own
	RangeMismatch     uint64 // 206 responses whose Content-Range starts elsewhere than the request's Range: a file of its own, never placed
	Decoded           uint64 // bodies with a coding to decode
	UnknownEncoding   uint64 // bodies delivered raw: unknown coding or too many layers
	Bombs             uint64 // decoded bodies cut by MaxDecoded or MaxRatio
	Corrupt           uint64 // bodies cut because their coding was malformed
	Gaps              uint64 // gaps reported by the caller
	GapBytes          uint64
	Desyncs           uint64 // directions that lost the framing
	Resyncs           uint64 // directions that found it again
	FalseStarts       uint64 // resync candidates that did not read as a message
	HeadsLost         uint64 // message heads a gap fell on
	LostFiles         uint64 // files opened for responses whose head was lost (Meta.HeadLost)
	HeadGuessed       uint64 // responses to a lost request taken as answering a HEAD (a status line where the body would start)
	Malformed         Malformed
}

// Malformed counts protocol violations by kind.
type Malformed struct {
	RequestLine      uint64
	StatusLine       uint64
	HeaderLine       uint64 // field line without a colon, or space before it
	HeaderTooLong    uint64 // header blocks or trailers over MaxHeaderBlock: the message is cut
	TooManyHeaders   uint64 // header blocks over MaxHeaderLines: the message is cut
	ContentLength    uint64 // not a number, or differing values
	TransferEncoding uint64 // chunked not last, or repeated
	TEAndCL          uint64 // both present (Transfer-Encoding wins)
	Chunk            uint64 // bad chunk-size line or missing CRLF
	Multipart        uint64 // form-data without its closing delimiter, bad part headers
	Truncated        uint64 // a direction ended inside a header block
}

// Add adds o's counters to s.
func (s *Stats) Add(o *Stats) {
	s.Requests += o.Requests
	s.Responses += o.Responses
	s.Interim += o.Interim
	s.Continue += o.Continue
	s.Pipelined += o.Pipelined
	s.PipelineOverflow += o.PipelineOverflow
	s.Unpaired += o.Unpaired
	s.Upgrades += o.Upgrades
	s.Interim101 += o.Interim101
	s.Body101 += o.Body101
	s.Tee101 += o.Tee101
	s.Tunnels += o.Tunnels
	s.TunnelsHTTP += o.TunnelsHTTP
	s.TunnelsOpaque += o.TunnelsOpaque
	s.TunnelsUnfollowed += o.TunnelsUnfollowed
	s.TunnelServerFirst += o.TunnelServerFirst
	s.TunnelHoldOver += o.TunnelHoldOver
	s.NotHTTP += o.NotHTTP
	s.BodiesOpened += o.BodiesOpened
	s.BodiesDeclined += o.BodiesDeclined
	s.SkippedBytes += o.SkippedBytes
	s.CloseIgnored += o.CloseIgnored
	s.RangesJoined += o.RangesJoined
	s.Partial += o.Partial
	s.RangePieces += o.RangePieces
	s.RangeUnasked += o.RangeUnasked
	s.RangeMismatch += o.RangeMismatch
	s.Decoded += o.Decoded
	s.UnknownEncoding += o.UnknownEncoding
	s.Bombs += o.Bombs
	s.Corrupt += o.Corrupt
	s.Gaps += o.Gaps
	s.GapBytes += o.GapBytes
	s.Desyncs += o.Desyncs
	s.Resyncs += o.Resyncs
	s.FalseStarts += o.FalseStarts
	s.HeadsLost += o.HeadsLost
	s.LostFiles += o.LostFiles
	s.HeadGuessed += o.HeadGuessed
	m, om := &s.Malformed, &o.Malformed
	m.RequestLine += om.RequestLine
	m.StatusLine += om.StatusLine
	m.HeaderLine += om.HeaderLine
	m.HeaderTooLong += om.HeaderTooLong
	m.TooManyHeaders += om.TooManyHeaders
	m.ContentLength += om.ContentLength
	m.TransferEncoding += om.TransferEncoding
	m.TEAndCL += om.TEAndCL
	m.Chunk += om.Chunk
	m.Multipart += om.Multipart
	m.Truncated += om.Truncated
}
