package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgesensor/edgesensor/userspace/cloudapi"
)

const (
	backoffBase = 500 * time.Millisecond
	backoffCap  = 30 * time.Second
)

// Run delivers spooled records until ctx is done or Close is called. It
// returns nil then; delivery errors are retried, counted and shown in
// Stats().LastError, never returned.
func (c *Client) Run(ctx context.Context) error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errors.New("uplink: Run after Close")
	}
	c.running.Add(1)
	c.mu.RUnlock()
	defer c.running.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(c.stopCtx, cancel)

	if c.o.OnVerdict != nil {
		pollDone := make(chan struct{})
		defer func() { <-pollDone }()
		go func() {
			defer close(pollDone)
			c.pollVerdicts(ctx)
		}()
	}

	attempt := 0
	for ctx.Err() == nil {
		batch, wait, err := c.nextBatch()
		if err != nil {
			c.setError(err)
			c.o.Log.Error().Err(err).Msg("uplink: reading spool")
			wait = backoffCap
		}
		if batch == nil {
			c.sleepOrWake(ctx, wait)
			continue
		}
		err = c.deliver(ctx, batch)
		switch {
		case err == nil:
			attempt = 0
		case ctx.Err() != nil:
			return nil
		case isPermanent(err):
			attempt = 0
			c.reject(batch, err)
		default:
			attempt++
			c.st.retries.Add(1)
			d := backoff(attempt)
			c.o.Log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", d).Msg("uplink: delivery failed")
			sleep(ctx, d)
		}
	}
	return nil
}

// nextBatch returns a batch that is due: full, or whose oldest record has
// waited FlushInterval. Otherwise it says how long to wait.
func (c *Client) nextBatch() ([]entry, time.Duration, error) {
	now := time.Now()
	ev, err := c.spool.expire(now)
	if err != nil {
		return nil, 0, err
	}
	c.evicted(ev)
	idle := c.o.FlushInterval
	if c.o.SpoolMaxAge > 0 && c.o.SpoolMaxAge < idle {
		idle = c.o.SpoolMaxAge
	}
	n, _ := c.spool.stats()
	n -= c.pendingDel.Load()
	if n <= 0 {
		return nil, idle, nil
	}
	if n < int64(c.o.BatchSize) {
		oldest, err := c.spool.oldest(c.next)
		if err != nil {
			return nil, 0, err
		}
		if oldest.IsZero() {
			return nil, idle, nil
		}
		if due := oldest.Add(c.o.FlushInterval); now.Before(due) {
			return nil, due.Sub(now), nil
		}
	}
	batch, err := c.spool.read(c.next, c.o.BatchSize)
	if err != nil || len(batch) == 0 {
		return nil, idle, err
	}
	return batch, 0, nil
}

func (c *Client) sleepOrWake(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-c.wake:
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// backoff is exponential with full jitter: uniform in [0, min(cap,
// base·2^(attempt-1))], so many sensors coming back after a cloud outage do
// not retry in lockstep.
func backoff(attempt int) time.Duration {
	ceil := backoffCap
	if attempt < 16 {
		ceil = min(backoffCap, backoffBase<<(attempt-1))
	}
	return rand.N(ceil + 1)
}

// batchID is derived from the record ids only, so a batch re-sent after a
// crash carries the same Idempotency-Key.
func batchID(batch []entry) string {
	h := sha256.New()
	for _, e := range batch {
		io.WriteString(h, e.rec.ID)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// deliver sends one batch: samples hash first, then the records. The batch
// leaves the spool only once the cloud acknowledged it.
func (c *Client) deliver(ctx context.Context, batch []entry) error {
	uploaded, err := c.samples(ctx, batch)
	if err != nil {
		return err
	}
	id := batchID(batch)
	req := cloudapi.EventBatch{SensorID: c.o.SensorID, KeyID: c.o.KeyID, BatchID: id, Records: make([]cloudapi.EventRecord, len(batch))}
	cats := map[string]int{}
	for i, e := range batch {
		req.Records[i] = cloudapi.EventRecord{ID: e.rec.ID, Category: e.rec.Category, Dataset: e.rec.Dataset, SHA256: e.rec.SHA256, Record: e.rec.Body}
		cats[e.rec.Category]++
	}
	// Bodies were checked by Enqueue; encoding/json would validate and
	// compact each one again.
	raw := cloudapi.AppendEventBatch(c.rawBuf[:0], &req)
	c.rawBuf = raw
	var gz bytes.Buffer
	if c.zw == nil {
		c.zw, _ = gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	} else {
		c.zw.Reset(&gz)
	}
	c.zw.Write(raw)
	if err := c.zw.Close(); err != nil {
		return fmt.Errorf("compress batch: %w", err)
	}
	compressed := gz.Len()
	var resp cloudapi.EventsResponse
	hdr := http.Header{"Content-Encoding": {"gzip"}, cloudapi.HeaderIdempotencyKey: {id}}
	if err := c.call(ctx, http.MethodPost, cloudapi.PathEvents, hdr, bytes.NewReader(gz.Bytes()), &resp); err != nil {
		return err
	}
	c.next = batch[len(batch)-1].seq + 1
	c.pendingDel.Add(int64(len(batch)))
	c.acked <- batch // the writer deletes it; it outlives Run
	clear(c.samplesDone)
	c.st.batches.Add(1)
	c.st.delivered.Add(uint64(len(batch)))
	c.st.duplicates.Add(uint64(resp.Duplicates))
	c.st.bytesSent.Add(uint64(compressed))
	c.audit(auditLine{
		Time: time.Now().UTC(), BatchID: id, SensorID: c.o.SensorID, KeyID: c.o.KeyID,
		Records: len(batch), Categories: cats, Modes: c.modes(cats),
		BytesRaw: len(raw), BytesCompressed: compressed,
		Accepted: resp.Accepted, Duplicates: resp.Duplicates, SamplesUploaded: uploaded,
	})
	c.o.Log.Debug().Str("batch", id).Int("records", len(batch)).Int("duplicates", resp.Duplicates).Msg("uplink: batch delivered")
	return nil
}

// reject drops a batch the cloud will never accept, so one bad record
// cannot block the spool forever.
func (c *Client) reject(batch []entry, err error) {
	c.setError(err)
	c.o.Log.Error().Err(err).Int("records", len(batch)).Str("batch", batchID(batch)).Msg("uplink: cloud rejected batch, dropped")
	c.next = batch[len(batch)-1].seq + 1
	if rerr := c.spool.remove(batch); rerr != nil {
		c.o.Log.Error().Err(rerr).Msg("uplink: removing rejected records")
	}
	for _, e := range batch {
		if !c.samplesDone[e.seq] {
			removeSample(e.rec.Sample)
		}
	}
	clear(c.samplesDone)
	c.st.rejected.Add(uint64(len(batch)))
}

type auditLine struct {
	Time            time.Time         `json:"time"`
	BatchID         string            `json:"batch_id"`
	SensorID        string            `json:"sensor_id"`
	KeyID           string            `json:"key_id"`
	Records         int               `json:"records"`
	Categories      map[string]int    `json:"categories"`
	Modes           map[string]string `json:"modes"`
	BytesRaw        int               `json:"bytes_raw"`
	BytesCompressed int               `json:"bytes_compressed"`
	Accepted        int               `json:"accepted"`
	Duplicates      int               `json:"duplicates"`
	SamplesUploaded int               `json:"samples_uploaded"`
}

func (c *Client) modes(cats map[string]int) map[string]string {
	m := make(map[string]string, len(cats))
	for cat := range cats {
		if mode, ok := c.o.Modes[cat]; ok {
			m[cat] = mode
		}
	}
	return m
}

func (c *Client) audit(l auditLine) {
	if c.o.Audit == nil {
		return
	}
	line, err := json.Marshal(l)
	if err == nil {
		_, err = c.o.Audit.Write(append(line, '\n'))
	}
	if err != nil {
		c.st.auditErrors.Add(1)
		c.o.Log.Error().Err(err).Msg("uplink: writing audit log")
	}
}

// samples runs the hash-first protocol for the batch's records that carry a
// sample. Errors worth retrying abort the batch; everything else ends with
// the sample file deleted.
func (c *Client) samples(ctx context.Context, batch []entry) (int, error) {
	var hashes []string
	want := map[string]bool{}
	// Every whole file's hash is looked up, with or without a sample:
	// the cloud's verdict on a known hash is what hash mode is for.
	for _, e := range batch {
		switch {
		case c.samplesDone[e.seq]:
		case e.rec.SHA256 == "":
			if e.rec.Sample != "" {
				c.sampleDone(e, false)
			}
		case !want[e.rec.SHA256]:
			want[e.rec.SHA256] = true
			hashes = append(hashes, e.rec.SHA256)
		}
	}
	if len(hashes) == 0 {
		return 0, nil
	}
	var lr cloudapi.LookupResponse
	body, _ := json.Marshal(cloudapi.LookupRequest{SHA256: hashes})
	err := c.call(ctx, http.MethodPost, cloudapi.PathLookup, http.Header{}, bytes.NewReader(body), &lr)
	if err != nil && !isPermanent(err) {
		return 0, err
	}
	c.st.lookups.Add(1)
	known := map[string]cloudapi.LookupResult{}
	if err != nil {
		// Without an answer we must not upload: treat every hash as known.
		c.o.Log.Error().Err(err).Msg("uplink: lookup rejected, samples skipped")
		for _, h := range hashes {
			known[h] = cloudapi.LookupResult{SHA256: h}
		}
	}
	for _, r := range lr.Results {
		if r.Known {
			known[r.SHA256] = r
			c.st.known.Add(1)
			c.verdict(Verdict{SHA256: r.SHA256, Score: r.Score, Verdict: r.Verdict, Source: "lookup"})
		}
	}
	uploaded := 0
	for _, e := range batch {
		if e.rec.Sample == "" || c.samplesDone[e.seq] || e.rec.SHA256 == "" {
			continue
		}
		if _, ok := known[e.rec.SHA256]; ok {
			c.sampleDone(e, false)
			continue
		}
		fi, err := os.Stat(e.rec.Sample)
		switch {
		case errors.Is(err, os.ErrNotExist):
			// Handled before a restart, or evicted meanwhile.
			c.samplesDone[e.seq] = true
			continue
		case err != nil:
			c.o.Log.Error().Err(err).Msg("uplink: sample unreadable, skipped")
			c.sampleDone(e, false)
			continue
		case e.rec.SampleLimit <= 0 || fi.Size() > e.rec.SampleLimit:
			c.sampleDone(e, false)
			continue
		}
		err = c.upload(ctx, e.rec.SHA256, e.rec.Sample)
		switch {
		case err == nil:
			uploaded++
			known[e.rec.SHA256] = cloudapi.LookupResult{SHA256: e.rec.SHA256, Known: true}
			c.sampleDone(e, true)
		case isPermanent(err):
			c.o.Log.Error().Err(err).Str("sha256", e.rec.SHA256).Msg("uplink: sample rejected, skipped")
			c.sampleDone(e, false)
		default:
			return uploaded, err
		}
	}
	return uploaded, nil
}

func (c *Client) sampleDone(e entry, uploaded bool) {
	if uploaded {
		c.st.uploaded.Add(1)
	} else {
		c.st.skipped.Add(1)
	}
	removeSample(e.rec.Sample)
	c.samplesDone[e.seq] = true
}

// upload streams the file gzip-compressed; it is never held in memory.
func (c *Client) upload(ctx context.Context, sha, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &statusError{op: "open sample", code: http.StatusBadRequest, msg: err.Error()}
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		_, err := io.Copy(zw, f)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	return c.call(ctx, http.MethodPut, cloudapi.PathSamples+sha, http.Header{"Content-Encoding": {"gzip"}}, pr, nil)
}

func (c *Client) verdict(v Verdict) {
	c.st.verdicts.Add(1)
	if c.o.OnVerdict != nil {
		c.o.OnVerdict(v)
	}
}

// pollVerdicts fetches verdicts for uploaded samples. The cursor is stored
// in the spool so a restart neither repeats nor misses verdicts.
func (c *Client) pollVerdicts(ctx context.Context) {
	cur, err := c.spool.cursor()
	if err != nil {
		c.o.Log.Error().Err(err).Msg("uplink: reading verdict cursor")
	}
	t := time.NewTicker(c.o.VerdictInterval)
	defer t.Stop()
	for {
		var vr cloudapi.VerdictsResponse
		err := c.call(ctx, http.MethodGet, cloudapi.PathVerdicts+"?after="+strconv.FormatUint(cur, 10), nil, nil, &vr)
		if err != nil && ctx.Err() == nil {
			c.o.Log.Warn().Err(err).Msg("uplink: polling verdicts")
		}
		for _, v := range vr.Verdicts {
			c.verdict(Verdict{SHA256: v.SHA256, Score: v.Score, Verdict: v.Verdict, Source: "poll"})
		}
		if err == nil && vr.Next > cur {
			cur = vr.Next
			if err := c.spool.setCursor(cur); err != nil {
				c.o.Log.Error().Err(err).Msg("uplink: saving verdict cursor")
			}
			if len(vr.Verdicts) > 0 {
				continue // there may be more pages
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// statusError is an HTTP error answer from the cloud.
type statusError struct {
	op   string
	code int
	msg  string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: cloud answered %d: %s", e.op, e.code, e.msg)
}

// isPermanent: a 4xx other than 408 (timeout) and 429 (slow down) will not
// get better by sending the same request again.
func isPermanent(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.code >= 400 && se.code < 500 &&
		se.code != http.StatusRequestTimeout && se.code != http.StatusTooManyRequests
}

// call does one request and decodes a 200 answer into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, hdr http.Header, body io.Reader, out any) error {
	p, query, _ := strings.Cut(path, "?")
	op := method + " " + p
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	// A fixed product name: Go's default would tell the cloud the
	// sensor's Go version, which it has no use for.
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if method == http.MethodPut {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		err = c.explain(op, err)
		c.setError(err)
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		err = fmt.Errorf("%s: reading answer: %w", op, err)
		c.setError(err)
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var er cloudapi.ErrorResponse
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &er) == nil && er.Error != "" {
			msg = er.Error
		}
		err := &statusError{op: op, code: resp.StatusCode, msg: msg}
		c.setError(err)
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			err = fmt.Errorf("%s: bad answer: %w", op, err)
			c.setError(err)
			return err
		}
	}
	return nil
}

// explain turns TLS failures into messages that say which setting to check:
// Go's own wording ("remote error: tls: bad certificate") does not tell an
// operator that it is their client certificate the cloud refused.
func (c *Client) explain(op string, err error) error {
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%s: server certificate not signed by uplink.ca_file %s (wrong cloud, or interception): %w", op, c.o.CAFile, err)
	case errors.As(err, &he):
		return fmt.Errorf("%s: server certificate is not valid for %s (set uplink.server_name?): %w", op, he.Host, err)
	case errors.As(err, &ci):
		return fmt.Errorf("%s: server certificate invalid (expired or wrong usage): %w", op, err)
	case errors.As(err, &cve):
		return fmt.Errorf("%s: server certificate rejected: %w", op, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		switch alert := oe.Err.Error(); alert {
		case "tls: bad certificate", "tls: unknown certificate authority", "tls: certificate required",
			"tls: unsupported certificate", "tls: revoked certificate", "tls: expired certificate",
			"tls: unknown certificate", "tls: access denied":
			return fmt.Errorf("%s: the cloud refused our client certificate uplink.cert_file %s (%s): %w", op, c.o.CertFile, alert, err)
		case "tls: protocol version not supported":
			return fmt.Errorf("%s: the cloud does not speak TLS 1.3: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}
