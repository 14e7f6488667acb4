package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// logLine is one --record-log line: the record object as received, with the
// batch context it came in.
type logLine struct {
	ID       string          `json:"id"`
	Category string          `json:"category"`
	Dataset  string          `json:"dataset"`
	SHA256   string          `json:"sha256,omitempty"`
	SensorID string          `json:"sensor_id"`
	KeyID    string          `json:"key_id"`
	BatchID  string          `json:"batch_id"`
	Record   json.RawMessage `json:"record"`
}

// appendLogLine writes a logLine by hand: the record is already known to be
// valid JSON and is copied verbatim, as received.
func appendLogLine(dst []byte, b *cloudapi.EventBatch, r *cloudapi.EventRecord) []byte {
	dst = append(dst, `{"id":`...)
	dst = cloudapi.AppendJSONString(dst, r.ID)
	dst = append(dst, `,"category":`...)
	dst = cloudapi.AppendJSONString(dst, r.Category)
	dst = append(dst, `,"dataset":`...)
	dst = cloudapi.AppendJSONString(dst, r.Dataset)
	if r.SHA256 != "" {
		dst = append(dst, `,"sha256":`...)
		dst = cloudapi.AppendJSONString(dst, r.SHA256)
	}
	dst = append(dst, `,"sensor_id":`...)
	dst = cloudapi.AppendJSONString(dst, b.SensorID)
	dst = append(dst, `,"key_id":`...)
	dst = cloudapi.AppendJSONString(dst, b.KeyID)
	dst = append(dst, `,"batch_id":`...)
	dst = cloudapi.AppendJSONString(dst, b.BatchID)
	dst = append(dst, `,"record":`...)
	dst = append(dst, r.Record...)
	return append(dst, '}', '\n')
}

func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	data, ok := s.readAll(w, r, maxEventsBody)
	if !ok {
		return
	}
	s.logBody(r, data)
	var b cloudapi.EventBatch
	if err := json.Unmarshal(data, &b); err != nil {
		s.fail(w, http.StatusBadRequest, "bad JSON: %v", err)
		return
	}
	key := r.Header.Get(cloudapi.HeaderIdempotencyKey)
	if key != "" && b.BatchID != "" && key != b.BatchID {
		s.fail(w, http.StatusBadRequest, "Idempotency-Key %q does not match batch_id %q", key, b.BatchID)
		return
	}
	if key == "" {
		key = b.BatchID
	}
	for i, rec := range b.Records {
		switch {
		case rec.ID == "":
			s.fail(w, http.StatusBadRequest, "records[%d]: id missing", i)
			return
		case rec.Category == "":
			s.fail(w, http.StatusBadRequest, "records[%d]: category missing", i)
			return
		case len(rec.Record) == 0 || rec.Record[0] != '{':
			s.fail(w, http.StatusBadRequest, "records[%d]: record must be a JSON object", i)
			return
		}
	}

	var resp cloudapi.EventsResponse
	replayed := false
	var logSynced chan error
	err := s.db.Update(func(tx *bbolt.Tx) error {
		resp = cloudapi.EventsResponse{}
		recs := tx.Bucket(bucketRecords)
		if key != "" {
			bb := tx.Bucket(bucketBatches)
			replayed = bb.Get([]byte(key)) != nil
			if err := bb.Put([]byte(key), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
				return err
			}
		}
		var lines []byte
		for _, rec := range b.Records {
			id := []byte(rec.ID)
			if recs.Get(id) != nil {
				resp.Duplicates++
				continue
			}
			if err := recs.Put(id, []byte(key)); err != nil {
				return err
			}
			resp.Accepted++
			if s.recLog != nil {
				lines = appendLogLine(lines, &b, &rec)
			}
		}
		// The log is written inside the transaction: if it fails, the
		// records are not marked seen and the client's retry logs them.
		// Its fsync overlaps the database commit's; both finish before
		// the answer.
		if len(lines) > 0 {
			if _, err := s.recLog.Write(lines); err != nil {
				return fmt.Errorf("record log: %w", err)
			}
			logSynced = make(chan error, 1)
			go func() { logSynced <- s.recLog.Sync() }()
		}
		return nil
	})
	if logSynced != nil {
		if serr := <-logSynced; serr != nil && err == nil {
			err = fmt.Errorf("record log: %w", serr)
		}
	}
	if err != nil {
		s.cfg.Log.Error().Err(err).Msg("storing events")
		s.fail(w, http.StatusInternalServerError, "storing events: %v", err)
		return
	}
	s.st.batches.Add(1)
	if replayed {
		s.st.replayed.Add(1)
	}
	s.st.records.Add(uint64(resp.Accepted))
	s.st.duplicates.Add(uint64(resp.Duplicates))
	writeJSON(w, http.StatusOK, resp)
}

func validSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lookup returns what the cloud knows about a hash. Call within a tx.
func (s *server) lookup(tx *bbolt.Tx, sha string) cloudapi.LookupResult {
	if v := tx.Bucket(bucketSamples).Get([]byte(sha)); v != nil {
		score, _ := strconv.Atoi(string(v))
		return cloudapi.LookupResult{SHA256: sha, Known: true, Score: score, Verdict: cloudapi.VerdictFor(score)}
	}
	if score, ok := s.known[sha]; ok {
		return cloudapi.LookupResult{SHA256: sha, Known: true, Score: score, Verdict: cloudapi.VerdictFor(score)}
	}
	return cloudapi.LookupResult{SHA256: sha, Verdict: cloudapi.VerdictUnknown}
}

func (s *server) handleLookup(w http.ResponseWriter, r *http.Request) {
	data, ok := s.readAll(w, r, maxLookupBody)
	if !ok {
		return
	}
	s.logBody(r, data)
	var req cloudapi.LookupRequest
	if err := json.Unmarshal(data, &req); err != nil {
		s.fail(w, http.StatusBadRequest, "bad JSON: %v", err)
		return
	}
	if len(req.SHA256) > maxLookupHashes {
		s.fail(w, http.StatusRequestEntityTooLarge, "at most %d hashes per lookup", maxLookupHashes)
		return
	}
	for i, h := range req.SHA256 {
		if !validSHA256(h) {
			s.fail(w, http.StatusBadRequest, "sha256[%d]: want 64 lowercase hex digits", i)
			return
		}
	}
	if d := s.cfg.LookupDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	resp := cloudapi.LookupResponse{Results: make([]cloudapi.LookupResult, 0, len(req.SHA256))}
	_ = s.db.View(func(tx *bbolt.Tx) error {
		for _, h := range req.SHA256 {
			resp.Results = append(resp.Results, s.lookup(tx, h))
		}
		return nil
	})
	s.st.lookups.Add(1)
	writeJSON(w, http.StatusOK, resp)
}

// eicarScanner finds the EICAR string in a stream, across write boundaries.
type eicarScanner struct {
	tail  []byte
	found bool
}

func (e *eicarScanner) Write(p []byte) (int, error) {
	if e.found {
		return len(p), nil
	}
	buf := append(e.tail, p...)
	if bytes.Contains(buf, []byte(eicar)) {
		e.found = true
		return len(p), nil
	}
	if keep := len(eicar) - 1; len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	e.tail = append(e.tail[:0], buf...)
	return len(p), nil
}

func (s *server) handleSample(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha256")
	if !validSHA256(sha) {
		s.fail(w, http.StatusBadRequest, "path: want 64 lowercase hex digits, got %q", sha)
		return
	}
	rd, ok := s.body(w, r, maxSampleBody)
	if !ok {
		return
	}
	defer rd.Close()
	dir := filepath.Join(s.cfg.DataDir, "samples")
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "storing sample: %v", err)
		return
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	var h hash.Hash = sha256.New()
	var scan eicarScanner
	n, err := io.Copy(io.MultiWriter(tmp, h, &scan), rd)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil && tooLarge(err):
		s.fail(w, http.StatusRequestEntityTooLarge, "sample larger than %d bytes", maxSampleBody)
		return
	case err != nil:
		s.fail(w, http.StatusBadRequest, "reading sample: %v", err)
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		s.fail(w, http.StatusBadRequest, "content SHA-256 is %s, not %s", got, sha)
		return
	}
	score := 0
	if scan.found {
		score = 10
	} else if v, ok := s.known[sha]; ok {
		score = v
	} else if v, ok := s.judged[sha]; ok {
		score = v // what analysing the sample found
	}
	resp := cloudapi.SampleResponse{SHA256: sha, Size: n}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		samples := tx.Bucket(bucketSamples)
		if v := samples.Get([]byte(sha)); v != nil {
			score, _ = strconv.Atoi(string(v))
			return nil
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, sha)); err != nil {
			return err
		}
		if err := samples.Put([]byte(sha), []byte(strconv.Itoa(score))); err != nil {
			return err
		}
		vb := tx.Bucket(bucketVerdicts)
		seq, err := vb.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(cloudapi.Verdict{Seq: seq, SHA256: sha, Score: score, Verdict: cloudapi.VerdictFor(score)})
		if err != nil {
			return err
		}
		resp.Stored = true
		return vb.Put(seqKey(seq), v)
	})
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "storing sample: %v", err)
		return
	}
	if resp.Stored {
		s.st.samples.Add(1)
		s.st.verdicts.Add(1)
		if s.feed != nil {
			// What one sensor's upload taught the cloud, every sensor
			// learns from the feed.
			if err := s.feed.add(sha, score); err != nil {
				s.cfg.Log.Error().Err(err).Msg("feed: verdict not published")
			}
		}
	}
	resp.Score, resp.Verdict = score, cloudapi.VerdictFor(score)
	writeJSON(w, http.StatusOK, resp)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

func (s *server) handleVerdicts(w http.ResponseWriter, r *http.Request) {
	var after uint64
	if a := r.URL.Query().Get("after"); a != "" {
		var err error
		if after, err = strconv.ParseUint(a, 10, 64); err != nil {
			s.fail(w, http.StatusBadRequest, "after: want a non-negative integer")
			return
		}
	}
	resp := cloudapi.VerdictsResponse{Verdicts: []cloudapi.Verdict{}, Next: after}
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketVerdicts).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(resp.Verdicts) < maxVerdictsPage; k, v = c.Next() {
			var vd cloudapi.Verdict
			if err := json.Unmarshal(v, &vd); err != nil {
				return err
			}
			resp.Verdicts = append(resp.Verdicts, vd)
			resp.Next = vd.Seq
		}
		return nil
	})
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "reading verdicts: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
