// Package uplink delivers anonymised records to the cloud over mutual TLS
// 1.3. Records are spooled to disk first (bbolt), so the sensor never waits
// on the network and nothing below the spool bound is lost across outages or
// restarts. Batches carry an idempotency key and every record an id, so the
// cloud sees each record exactly once even when a batch is re-sent.
//
// File records go hash first: the cloud is asked whether it knows a SHA-256
// before any content is uploaded, and content is uploaded only for unknown
// hashes within the category's size limit.
package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// UserAgent is the User-Agent of every request to the cloud.
const UserAgent = "edgesensor"

// Record is one anonymised record to deliver.
type Record struct {
	ID          string          // idempotency key, set by the caller, stable across restarts
	Category    string          // executables | documents | metadata | tls | email
	Dataset     string          // edgesensor.file, edgesensor.tls
	Body        json.RawMessage // the anonymised record, a JSON object
	SHA256      string          // files: lowercase hex, for the hash-first lookup; "" otherwise
	Sample      string          // file holding the content, owned by the uplink from now on; "" = no upload
	SampleLimit int64           // largest sample of this category that may be uploaded; <= 0 = none
}

// Verdict is the cloud's opinion of a sample.
type Verdict struct {
	SHA256  string
	Score   int    // 0-10
	Verdict string // malicious | clean
	Source  string // "lookup" (hash was already known) or "poll" (scored after upload)
}

// Options configure a Client. The uplink.* names in errors are the sensor
// configuration keys of the same fields.
type Options struct {
	URL        string // https://127.0.0.1:8443
	CAFile     string // pinned server CA; the system pool is not used
	CertFile   string // client certificate (mTLS)
	KeyFile    string
	ServerName string // overrides the host of URL for certificate verification
	SensorID   string
	KeyID      string // anonymisation key id, so the cloud can tell rotations apart

	SpoolDir      string        // spool.db and samples/ live here
	SpoolMaxBytes int64         // sum of spooled record sizes; default 256 MiB
	SpoolMaxAge   time.Duration // 0 = no age limit
	QueueSize     int           // records waiting to be spooled; default 8192

	BatchSize       int           // default 500
	FlushInterval   time.Duration // longest a partial batch waits; default 1s
	VerdictInterval time.Duration // verdict polling; default 10 × FlushInterval
	Timeout         time.Duration // per HTTP request; default 30s

	Audit     io.Writer         // one JSON line per delivered batch; nil = none
	Modes     map[string]string // category → share mode, copied into the audit log
	OnVerdict func(Verdict)     // verdicts from lookups and polling; nil = no polling
	// QuietLookups: the batches' hash lookups (which decide sample
	// uploads) pass no verdicts to OnVerdict; the caller looks files up
	// itself.
	QuietLookups bool
	Log          zerolog.Logger
}

// Stats are cumulative counters since New, plus the current spool size.
type Stats struct {
	Enqueued        uint64 // accepted by Enqueue
	Delivered       uint64 // acknowledged by the cloud (including duplicates)
	Duplicates      uint64 // the cloud already had them
	SpoolRecords    int64
	SpoolBytes      int64
	SpoolLimit      int64  // SpoolMaxBytes: the bound SpoolBytes stays under
	DroppedFull     uint64 // oldest removed to stay under SpoolMaxBytes
	DroppedAge      uint64 // older than SpoolMaxAge
	DroppedQueue    uint64 // Enqueue found the queue full (or the spool failed)
	Rejected        uint64 // bodies that are not JSON objects, and records in batches the cloud refused permanently (4xx)
	Batches         uint64
	Retries         uint64
	LastError       string
	BytesSent       uint64 // compressed event bodies
	Lookups         uint64
	Known           uint64 // hashes the cloud already knew
	SamplesUploaded uint64
	SamplesSkipped  uint64
	Verdicts        uint64 // verdicts passed to OnVerdict
	AuditErrors     uint64 // batches delivered whose audit line could not be written
}

type counters struct {
	enqueued, delivered, duplicates, droppedFull, droppedAge, droppedQueue,
	rejected, batches, retries, bytesSent, lookups, known, uploaded, skipped,
	verdicts, auditErrors atomic.Uint64
}

// Client is the uplink. Enqueue may be called from any goroutine.
type Client struct {
	o     Options
	base  *url.URL
	http  *http.Client
	spool *spool

	mu     sync.RWMutex // guards closed against Enqueue racing Close
	closed bool
	in     chan Record

	wake       chan struct{} // the writer spooled something
	acked      chan []entry  // delivered batches for the writer to delete
	pendingDel atomic.Int64  // records in acked not yet deleted
	unspooled  atomic.Int64  // enqueued, not yet in the spool
	writerDone chan struct{}
	stop       context.CancelFunc // ends Run on Close
	stopCtx    context.Context
	running    sync.WaitGroup

	st      counters
	errMu   sync.Mutex
	lastErr string

	// Owned by Run.
	samplesDone map[uint64]bool // samples handled for the batch in flight
	next        uint64          // first sequence not yet delivered
	rawBuf      []byte
	zw          *gzip.Writer
}

// New opens (or creates) the spool and loads the TLS material.
func New(o Options) (*Client, error) {
	if o.URL == "" {
		return nil, errors.New("uplink.url is required")
	}
	base, err := url.Parse(o.URL)
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("uplink.url %q: want https://host:port", o.URL)
	}
	if o.SpoolDir == "" {
		return nil, errors.New("uplink.spool_dir is required")
	}
	tlsConf, err := clientTLS(o)
	if err != nil {
		return nil, err
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.VerdictInterval <= 0 {
		o.VerdictInterval = 10 * o.FlushInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = 256 << 20
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if err := os.MkdirAll(filepath.Join(o.SpoolDir, "samples"), 0o700); err != nil {
		return nil, fmt.Errorf("uplink.spool_dir: %w", err)
	}
	sp, err := openSpool(filepath.Join(o.SpoolDir, "spool.db"), o.SpoolMaxBytes, o.SpoolMaxAge)
	if err != nil {
		return nil, err
	}
	c := &Client{
		o:     o,
		base:  base,
		spool: sp,
		http: &http.Client{
			Timeout: o.Timeout,
			Transport: &http.Transport{
				TLSClientConfig:     tlsConf,
				TLSHandshakeTimeout: 10 * time.Second,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     90 * time.Second,
				// We gzip request bodies ourselves; responses are small.
				DisableCompression: true,
			},
		},
		in:          make(chan Record, o.QueueSize),
		wake:        make(chan struct{}, 1),
		acked:       make(chan []entry, 16),
		writerDone:  make(chan struct{}),
		samplesDone: map[uint64]bool{},
	}
	c.stopCtx, c.stop = context.WithCancel(context.Background())
	go c.writer()
	return c, nil
}

// clientTLS builds a TLS 1.3-only config that trusts only CAFile.
func clientTLS(o Options) (*tls.Config, error) {
	if o.CAFile == "" {
		return nil, errors.New("uplink.ca_file is required: the cloud's CA is pinned, the system pool is not used")
	}
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("uplink.cert_file and uplink.key_file are required: the cloud authenticates sensors by client certificate")
	}
	caPEM, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("uplink.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("uplink.ca_file %s: no PEM certificate found", o.CAFile)
	}
	certPEM, err := os.ReadFile(o.CertFile)
	if err != nil {
		return nil, fmt.Errorf("uplink.cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("uplink.key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("uplink.cert_file %s / uplink.key_file %s: %w", o.CertFile, o.KeyFile, err)
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
		ServerName:   o.ServerName,
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
	}, nil
}

// SampleDir is a directory on the spool's file system where callers can
// write sample files before handing them to Enqueue.
func (c *Client) SampleDir() string { return filepath.Join(c.o.SpoolDir, "samples") }

// Enqueue hands r to the spool writer. It never blocks: when the queue is
// full (the disk cannot keep up) the record is dropped, counted and false
// returned; so is a record whose Body is not a JSON object. The sample file, if any, belongs to the uplink either way.
func (c *Client) Enqueue(r Record) bool {
	// Checked here, not in the writer: one bad body would otherwise fail
	// the whole group's transaction.
	if b := bytes.TrimSpace(r.Body); len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		c.st.rejected.Add(1)
		removeSample(r.Sample)
		c.o.Log.Error().Str("id", r.ID).Msg("uplink: record body is not a JSON object, dropped")
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.closed {
		select {
		case c.in <- r:
			c.st.enqueued.Add(1)
			c.unspooled.Add(1)
			return true
		default:
		}
	}
	c.st.droppedQueue.Add(1)
	removeSample(r.Sample)
	return false
}

// writer spools queued records, as many as are waiting in one transaction
// so a burst costs one fsync rather than one per record. Deletes of
// delivered batches ride along in the same transaction: they need not be
// durable at once (a batch re-sent after a crash is deduplicated by the
// cloud), and an fsync per batch would halve the throughput.
func (c *Client) writer() {
	defer close(c.writerDone)
	const maxGroup = 2048
	group := make([]spooled, 0, maxGroup)
	var acked [][]entry
	for open := true; open; {
		group, acked = group[:0], acked[:0]
		select {
		case r, ok := <-c.in:
			if !ok {
				open = false
				break
			}
			group = append(group, toSpooled(r))
		case a := <-c.acked:
			acked = append(acked, a)
		}
	drain:
		for open && len(group) < maxGroup {
			select {
			case r, ok := <-c.in:
				if !ok {
					open = false
					break drain
				}
				group = append(group, toSpooled(r))
			case a := <-c.acked:
				acked = append(acked, a)
			default:
				break drain
			}
		}
		if !open {
			// Run has ended (Close waits for it): take its last acks.
		last:
			for {
				select {
				case a := <-c.acked:
					acked = append(acked, a)
				default:
					break last
				}
			}
		}
		if len(group) == 0 && len(acked) == 0 {
			continue
		}
		ev, err := c.spool.append(group, acked, time.Now())
		c.unspooled.Add(-int64(len(group)))
		for _, a := range acked {
			c.pendingDel.Add(-int64(len(a)))
		}
		if err != nil {
			c.setError(err)
			c.o.Log.Error().Err(err).Int("records", len(group)).Msg("uplink: spool write failed, records dropped")
			c.st.droppedQueue.Add(uint64(len(group)))
			for _, r := range group {
				removeSample(r.Sample)
			}
			continue
		}
		c.evicted(ev)
		if len(group) > 0 {
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
	}
}

func toSpooled(r Record) spooled {
	return spooled{
		ID: r.ID, Category: r.Category, Dataset: r.Dataset, SHA256: strings.ToLower(r.SHA256),
		Sample: r.Sample, SampleLimit: r.SampleLimit, Time: time.Now().UnixNano(), Body: r.Body,
	}
}

func (c *Client) evicted(ev eviction) {
	if n := len(ev.full); n > 0 {
		c.st.droppedFull.Add(uint64(n))
		c.o.Log.Warn().Int("records", n).Int64("spool_max_bytes", c.o.SpoolMaxBytes).Msg("uplink: spool full, oldest records dropped")
	}
	if n := len(ev.age); n > 0 {
		c.st.droppedAge.Add(uint64(n))
		c.o.Log.Warn().Int("records", n).Dur("spool_max_age", c.o.SpoolMaxAge).Msg("uplink: records too old, dropped")
	}
	for _, l := range [][]spooled{ev.full, ev.age} {
		for _, r := range l {
			removeSample(r.Sample)
		}
	}
}

func removeSample(path string) {
	if path != "" {
		_ = os.Remove(path) // best effort: a missing file is what we want anyway
	}
}

// Close stops Run (if running), spools what is queued and closes the spool.
// Records not yet delivered are sent by the next Client on the same SpoolDir.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.running.Wait()
	close(c.in) // no Enqueue can be sending: closed is set
	<-c.writerDone
	c.http.CloseIdleConnections()
	if err := c.spool.close(); err != nil {
		return fmt.Errorf("uplink: close spool: %w", err)
	}
	return nil
}

// Idle says whether everything enqueued has left: nothing waits to be
// spooled and the spool is empty (delivered, or dropped and counted).
func (c *Client) Idle() bool {
	n, _ := c.spool.stats()
	return c.unspooled.Load() == 0 && n == 0
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	n, b := c.spool.stats()
	c.errMu.Lock()
	last := c.lastErr
	c.errMu.Unlock()
	return Stats{
		Enqueued:        c.st.enqueued.Load(),
		Delivered:       c.st.delivered.Load(),
		Duplicates:      c.st.duplicates.Load(),
		SpoolRecords:    n,
		SpoolBytes:      b,
		SpoolLimit:      c.o.SpoolMaxBytes,
		DroppedFull:     c.st.droppedFull.Load(),
		DroppedAge:      c.st.droppedAge.Load(),
		DroppedQueue:    c.st.droppedQueue.Load(),
		Rejected:        c.st.rejected.Load(),
		Batches:         c.st.batches.Load(),
		Retries:         c.st.retries.Load(),
		LastError:       last,
		BytesSent:       c.st.bytesSent.Load(),
		Lookups:         c.st.lookups.Load(),
		Known:           c.st.known.Load(),
		SamplesUploaded: c.st.uploaded.Load(),
		SamplesSkipped:  c.st.skipped.Load(),
		Verdicts:        c.st.verdicts.Load(),
		AuditErrors:     c.st.auditErrors.Load(),
	}
}

func (c *Client) setError(err error) {
	c.errMu.Lock()
	c.lastErr = err.Error()
	c.errMu.Unlock()
}

// CheckTLS loads and checks the TLS material of o (the CA, the client
// certificate and its key) as New would, without opening anything: a
// reload checks a new config with it before replacing what runs.
func CheckTLS(o Options) error {
	_, err := clientTLS(o)
	return err
}
