package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/bbolt"

	"github.com/edgesensor/edgesensor/userspace/cloudapi"
)

// Body limits. Lookups are small; samples may be whole executables.
const (
	maxEventsBody   = 32 << 20
	maxLookupBody   = 1 << 20
	maxSampleBody   = 64 << 20
	maxLookupHashes = 10000
	maxVerdictsPage = 1000
)

// eicar is the EICAR anti-virus test string: the one sample the reference
// cloud recognises as malicious by content.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

var (
	bucketRecords  = []byte("records")  // record id → batch id
	bucketBatches  = []byte("batches")  // batch id → time received
	bucketSamples  = []byte("samples")  // sha256 → score
	bucketVerdicts = []byte("verdicts") // seq (big-endian) → cloudapi.Verdict JSON
)

type config struct {
	CertFile     string
	KeyFile      string
	ClientCA     string
	DataDir      string
	RecordLog    string // NDJSON of every newly accepted record; "" = none
	RequestLog   string // NDJSON of every request as received (decoded bodies); "" = none
	VerdictsFile string // "sha256 score" lines; "" = none
	Log          zerolog.Logger
}

type counters struct {
	accepted, connections, handshakeErrors, requests, batches, replayed,
	records, duplicates, lookups, samples, verdicts, badRequests, tooLarge atomic.Uint64
}

type server struct {
	cfg    config
	db     *bbolt.DB
	recLog *os.File
	reqMu  sync.Mutex
	reqLog *os.File
	known  map[string]int // from --verdicts
	tls    *tls.Config
	st     counters
}

// newServer opens the data directory and loads the TLS material.
func newServer(cfg config) (*server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("--data is required")
	}
	s := &server{cfg: cfg, known: map[string]int{}}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "samples"), 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	var err error
	if s.tls, err = s.tlsConfig(); err != nil {
		return nil, err
	}
	if cfg.VerdictsFile != "" {
		if s.known, err = loadVerdicts(cfg.VerdictsFile); err != nil {
			return nil, err
		}
	}
	s.db, err = bbolt.Open(filepath.Join(cfg.DataDir, "cloud.db"), 0o600, &bbolt.Options{
		Timeout:        5 * time.Second,
		NoFreelistSync: true, // rebuilt on open; saves writes on every commit
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", filepath.Join(cfg.DataDir, "cloud.db"), err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketBatches, bucketSamples, bucketVerdicts} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("init db: %w", err)
	}
	if cfg.RecordLog != "" {
		s.recLog, err = os.OpenFile(cfg.RecordLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("--record-log: %w", err)
		}
	}
	if cfg.RequestLog != "" {
		s.reqLog, err = os.OpenFile(cfg.RequestLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("--request-log: %w", err)
		}
	}
	return s, nil
}

func (s *server) close() error {
	err := s.db.Close()
	if s.recLog != nil {
		err = errors.Join(err, s.recLog.Close())
	}
	if s.reqLog != nil {
		err = errors.Join(err, s.reqLog.Close())
	}
	return err
}

// requestLine is one --request-log line: everything a request brought,
// so tests can check all that reached the cloud, not only the records.
type requestLine struct {
	Time      time.Time           `json:"time"`
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Query     string              `json:"query,omitempty"`
	Header    map[string][]string `json:"header"`
	Body      string              `json:"body,omitempty"`       // events and lookups, decompressed
	BodyBytes int64               `json:"body_bytes,omitempty"` // samples: their content is in --data
	Status    int                 `json:"status"`
}

type ctxKey struct{}

// logBody records the decoded body of the request being served.
func (s *server) logBody(r *http.Request, body []byte) {
	if l, ok := r.Context().Value(ctxKey{}).(*requestLine); ok {
		l.Body = string(body)
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// logRequests wraps h to write a --request-log line per request.
func (s *server) logRequests(h http.Handler) http.Handler {
	if s.reqLog == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := &requestLine{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, l)))
		l.Status = sw.code
		if r.Method == http.MethodPut {
			l.BodyBytes = r.ContentLength
		}
		b, err := json.Marshal(l)
		if err != nil {
			return
		}
		s.reqMu.Lock()
		defer s.reqMu.Unlock()
		if _, err := s.reqLog.Write(append(b, '\n')); err != nil {
			s.cfg.Log.Error().Err(err).Msg("request log")
		}
	})
}

func (s *server) tlsConfig() (*tls.Config, error) {
	if s.cfg.CertFile == "" || s.cfg.KeyFile == "" || s.cfg.ClientCA == "" {
		return nil, errors.New("--cert, --key and --client-ca are required")
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--cert/--key: %w", err)
	}
	pem, err := os.ReadFile(s.cfg.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("--client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--client-ca %s: no PEM certificate found", s.cfg.ClientCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		// Called only once the client certificate verified: counts the
		// connections that could send anything at all.
		VerifyConnection: func(tls.ConnectionState) error {
			s.st.connections.Add(1)
			return nil
		},
	}, nil
}

// loadVerdicts reads "sha256 score" lines; '#' starts a comment.
func loadVerdicts(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--verdicts: %w", err)
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || !validSHA256(strings.ToLower(fields[0])) {
			return nil, fmt.Errorf("--verdicts %s:%d: want \"sha256 score\"", path, n)
		}
		score, err := strconv.Atoi(fields[1])
		if err != nil || score < 0 || score > 10 {
			return nil, fmt.Errorf("--verdicts %s:%d: score must be 0-10", path, n)
		}
		m[strings.ToLower(fields[0])] = score
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--verdicts %s: %w", path, err)
	}
	return m, nil
}

// run serves on ln until ctx is done, then shuts down gracefully.
func (s *server) run(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler(),
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(handshakeCounter{s}, "", 0),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.st.accepted.Add(1)
			}
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	err := hs.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

// serve runs the reference cloud on ln until ctx is done.
func serve(ctx context.Context, ln net.Listener, cfg config) error {
	s, err := newServer(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	err = s.run(ctx, ln)
	return errors.Join(err, s.close())
}

// handshakeCounter receives net/http's error log: TLS handshake failures
// only show up there.
type handshakeCounter struct{ s *server }

func (h handshakeCounter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		h.s.st.handshakeErrors.Add(1)
	}
	h.s.cfg.Log.Debug().Msg(msg)
	return len(p), nil
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+cloudapi.PathEvents, s.handleEvents)
	mux.HandleFunc("POST "+cloudapi.PathLookup, s.handleLookup)
	mux.HandleFunc("PUT "+cloudapi.PathSamples+"{sha256}", s.handleSample)
	mux.HandleFunc("GET "+cloudapi.PathVerdicts, s.handleVerdicts)
	mux.HandleFunc("GET "+cloudapi.PathStats, s.handleStats)
	mux.HandleFunc("GET "+cloudapi.PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	return s.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.st.requests.Add(1)
		mux.ServeHTTP(w, r)
	}))
}

func (s *server) stats() cloudapi.Stats {
	return cloudapi.Stats{
		ConnectionsAccepted: s.st.accepted.Load(),
		Connections:         s.st.connections.Load(),
		HandshakeErrors:     s.st.handshakeErrors.Load(),
		Requests:            s.st.requests.Load(),
		Batches:             s.st.batches.Load(),
		ReplayedBatches:     s.st.replayed.Load(),
		Records:             s.st.records.Load(),
		Duplicates:          s.st.duplicates.Load(),
		Lookups:             s.st.lookups.Load(),
		Samples:             s.st.samples.Load(),
		Verdicts:            s.st.verdicts.Load(),
		BadRequests:         s.st.badRequests.Load(),
		TooLarge:            s.st.tooLarge.Load(),
	}
}

func (s *server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.stats())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) fail(w http.ResponseWriter, code int, format string, args ...any) {
	switch code {
	case http.StatusRequestEntityTooLarge:
		s.st.tooLarge.Add(1)
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		s.st.badRequests.Add(1)
	}
	msg := fmt.Sprintf(format, args...)
	s.cfg.Log.Warn().Int("status", code).Msg(msg)
	writeJSON(w, code, cloudapi.ErrorResponse{Error: msg})
}

// body returns the request body, gunzipped if Content-Encoding says so, and
// limited to limit bytes both on the wire and decompressed (a small gzip
// body must not expand into gigabytes).
func (s *server) body(w http.ResponseWriter, r *http.Request, limit int64) (io.ReadCloser, bool) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return rd, true
	case "gzip":
		gz, err := gzip.NewReader(rd)
		if err != nil {
			if tooLarge(err) {
				s.fail(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", limit)
			} else {
				s.fail(w, http.StatusBadRequest, "bad gzip body: %v", err)
			}
			return nil, false
		}
		return struct {
			io.Reader
			io.Closer
		}{&limitedReader{r: gz, n: limit}, rd}, true
	default:
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported Content-Encoding %q", enc)
		return nil, false
	}
}

var errDecompressedTooLarge = errors.New("decompressed body too large")

// limitedReader is io.LimitReader that fails instead of truncating.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Probe: only an error if there really is more data.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errDecompressedTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe) || errors.Is(err, errDecompressedTooLarge)
}

func (s *server) readAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	rd, ok := s.body(w, r, limit)
	if !ok {
		return nil, false
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	switch {
	case err == nil:
		return data, true
	case tooLarge(err):
		s.fail(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", limit)
	default:
		s.fail(w, http.StatusBadRequest, "reading body: %v", err)
	}
	return nil, false
}

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
