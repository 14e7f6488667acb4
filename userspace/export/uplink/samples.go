package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

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
			if !c.o.QuietLookups {
				c.verdict(Verdict{SHA256: r.SHA256, Score: r.Score, Verdict: r.Verdict, Source: "lookup"})
			}
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

// Lookup asks the cloud at once what it knows of one hash (enforcement
// holding a download for its verdict); ctx bounds the wait. It bypasses
// the batches: the answer is needed in milliseconds, not at the next send.
func (c *Client) Lookup(ctx context.Context, sha string) (cloudapi.LookupResult, error) {
	var lr cloudapi.LookupResponse
	body, _ := json.Marshal(cloudapi.LookupRequest{SHA256: []string{sha}})
	if err := c.call(ctx, http.MethodPost, cloudapi.PathLookup, http.Header{}, bytes.NewReader(body), &lr); err != nil {
		return cloudapi.LookupResult{}, fmt.Errorf("cloud lookup: %w", err)
	}
	c.st.lookups.Add(1)
	for _, r := range lr.Results {
		if r.SHA256 == sha {
			return r, nil
		}
	}
	return cloudapi.LookupResult{SHA256: sha, Verdict: cloudapi.VerdictUnknown}, nil
}

// Feed polls the cloud's intel feed from version have, waiting up to
// wait for news, and hands each message of the answer to fn as it
// arrives (the deltas after have, or a snapshot; none when the sensor is
// current). The messages are signed for package feed to verify; nothing
// here trusts them. fn's error stops the reading and is returned.
func (c *Client) Feed(ctx context.Context, have uint64, wait time.Duration, fn func(raw []byte) error) error {
	path := fmt.Sprintf("%s?have=%d&wait=%s", cloudapi.PathFeed, have, wait)
	resp, op, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	defer resp.Body.Close()
	if err := cloudapi.ReadFeedFrames(resp.Body, fn); err != nil {
		err = fmt.Errorf("%s: %w", op, err)
		c.setError(err)
		return err
	}
	return nil
}
