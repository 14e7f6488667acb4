// Package cloudapi holds the wire types shared by the uplink client
// (userspace/export/uplink) and the reference cloud (cmd/edgecloud). The API is
// described in cmd/edgecloud/openapi.yaml; keep both in step.
package cloudapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
)

// API paths.
const (
	PathEvents   = "/v1/events"
	PathLookup   = "/v1/lookup"
	PathSamples  = "/v1/samples/" // followed by the lowercase hex SHA-256
	PathVerdicts = "/v1/verdicts"
	PathFeed     = "/v1/feed" // ?have=VERSION&wait=DURATION
	PathStats    = "/v1/stats"
	PathHealth   = "/healthz"
)

// HeaderIdempotencyKey carries the batch id of a POST /v1/events.
const HeaderIdempotencyKey = "Idempotency-Key"

// Verdict names.
const (
	VerdictMalicious = "malicious"
	VerdictClean     = "clean"
	VerdictUnknown   = "unknown"
)

// MaliciousScore is the lowest score reported as malicious.
const MaliciousScore = 5

// VerdictFor names a score of a known sample.
func VerdictFor(score int) string {
	if score >= MaliciousScore {
		return VerdictMalicious
	}
	return VerdictClean
}

// EventBatch is the body of POST /v1/events.
type EventBatch struct {
	SensorID string        `json:"sensor_id"`
	KeyID    string        `json:"key_id"`
	BatchID  string        `json:"batch_id"`
	Records  []EventRecord `json:"records"`
}

// EventRecord is one anonymised record; Record is passed through verbatim.
type EventRecord struct {
	ID       string          `json:"id"`
	Category string          `json:"category"`
	Dataset  string          `json:"dataset"`
	SHA256   string          `json:"sha256,omitempty"`
	Record   json.RawMessage `json:"record"`
}

// EventsResponse answers POST /v1/events. Accepted+Duplicates equals the
// number of records sent.
type EventsResponse struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// LookupRequest is the body of POST /v1/lookup.
type LookupRequest struct {
	SHA256 []string `json:"sha256"`
}

// LookupResult is the cloud's knowledge of one hash.
type LookupResult struct {
	SHA256  string `json:"sha256"`
	Known   bool   `json:"known"`
	Verdict string `json:"verdict"`
	Score   int    `json:"score"`
}

// LookupResponse answers POST /v1/lookup, one result per requested hash.
type LookupResponse struct {
	Results []LookupResult `json:"results"`
}

// SampleResponse answers PUT /v1/samples/{sha256}.
type SampleResponse struct {
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Stored  bool   `json:"stored"` // false: the sample was already known
	Verdict string `json:"verdict"`
	Score   int    `json:"score"`
}

// Verdict is a scored sample, delivered in order of Seq.
type Verdict struct {
	Seq     uint64 `json:"seq"`
	SHA256  string `json:"sha256"`
	Score   int    `json:"score"`
	Verdict string `json:"verdict"`
}

// VerdictsResponse answers GET /v1/verdicts?after=N. Next is the cursor for
// the following poll.
type VerdictsResponse struct {
	Verdicts []Verdict `json:"verdicts"`
	Next     uint64    `json:"next"`
}

// GET PathFeed answers 200 with the signed messages (feed envelopes: a
// snapshot, or the deltas after the version the sensor has) that bring
// the sensor to the cloud's version, as frames: the message's length in
// decimal, a newline, the message. An empty body: the sensor is current.
const (
	FeedContentType   = "application/vnd.edgesensor.feed"
	HeaderFeedVersion = "X-Feed-Version"
)

// WriteFeedFrames writes messages as GET PathFeed's frames.
func WriteFeedFrames(w io.Writer, msgs [][]byte) error {
	for _, m := range msgs {
		if _, err := fmt.Fprintf(w, "%d\n", len(m)); err != nil {
			return err
		}
		if _, err := w.Write(m); err != nil {
			return err
		}
	}
	return nil
}

// ReadFeedFrames reads GET PathFeed's frames and hands each message to
// fn; a frame longer than feed.MaxMessage, or cut short, is an error.
func ReadFeedFrames(r io.Reader, fn func(msg []byte) error) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("feed frame: %w", err)
		}
		n, err := strconv.ParseUint(string(line[:len(line)-1]), 10, 64)
		if err != nil || n > feed.MaxMessage {
			return fmt.Errorf("feed frame: bad length %q", line[:min(len(line)-1, 20)])
		}
		// Read as it comes, not allocated up front: a length alone does
		// not make the sensor hold 256 MiB.
		msg, err := io.ReadAll(io.LimitReader(br, int64(n)))
		if err == nil && uint64(len(msg)) != n {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return fmt.Errorf("feed frame of %d bytes: %w", n, err)
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

// ErrorResponse is the body of every 4xx/5xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Stats answers GET /v1/stats.
type Stats struct {
	ConnectionsAccepted uint64 `json:"connections_accepted"` // TCP accepts, before TLS
	Connections         uint64 `json:"connections"`          // TLS handshakes with a verified client
	HandshakeErrors     uint64 `json:"handshake_errors"`
	Requests            uint64 `json:"requests"`
	Batches             uint64 `json:"batches"`
	ReplayedBatches     uint64 `json:"replayed_batches"` // Idempotency-Key seen before
	Records             uint64 `json:"records"`          // newly accepted
	Duplicates          uint64 `json:"duplicates"`
	Lookups             uint64 `json:"lookups"`
	Samples             uint64 `json:"samples"` // newly stored
	Verdicts            uint64 `json:"verdicts"`
	BadRequests         uint64 `json:"bad_requests"`
	TooLarge            uint64 `json:"too_large"`
}
