package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
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
