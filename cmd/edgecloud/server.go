package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
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
	RecordLog    string        // NDJSON of every newly accepted record; "" = none
	RequestLog   string        // NDJSON of every request as received (decoded bodies); "" = none
	VerdictsFile string        // "sha256 score" lines; "" = none
	LookupDelay  time.Duration // hash lookups answered this much later (a slow cloud)
	FeedKeyFile  string        // the feed's signing key (PKCS #8 PEM, Ed25519); "" = no feed
	FeedEntries  string        // "kind value level [source]" lines published in the feed from the start
	JudgeFile    string        // "sha256 score" lines: how the cloud judges these samples once uploaded (a sandbox's verdicts)
	Log          zerolog.Logger
}

type counters struct {
	accepted, connections, handshakeErrors, requests, batches, replayed,
	records, duplicates, lookups, samples, verdicts, badRequests, tooLarge, feedPolls atomic.Uint64
}

type server struct {
	cfg    config
	db     *bbolt.DB
	recLog *os.File
	reqMu  sync.Mutex
	reqLog *os.File
	known  map[string]int // from --verdicts
	judged map[string]int // from --judge
	feed   *publisher     // nil without --feed-key
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
	if cfg.JudgeFile != "" {
		if s.judged, err = loadVerdicts(cfg.JudgeFile); err != nil {
			return nil, fmt.Errorf("--judge: %w", err)
		}
	}
	if cfg.FeedKeyFile != "" {
		priv, err := feed.LoadPrivateKey(cfg.FeedKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--feed-key: %w", err)
		}
		var extra []feed.Entry
		if cfg.FeedEntries != "" {
			if extra, err = readFeedEntries(cfg.FeedEntries); err != nil {
				return nil, fmt.Errorf("--feed-entries: %w", err)
			}
		}
		s.feed = newPublisher(priv, s.known, extra)
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
	mux.HandleFunc("GET "+cloudapi.PathFeed, s.handleFeed)
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
