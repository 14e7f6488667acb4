package siem

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/kafka"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Batching: what is waiting goes out in one write, up to these bounds.
const (
	batchLines = 256
	batchBytes = 64 << 10
)

// Reconnect backoff: doubling from backoffBase up to backoffCap, with
// jitter so that sensors restarted together do not reconnect together.
// Variables so tests can shorten them.
var (
	backoffBase = 250 * time.Millisecond
	backoffCap  = 30 * time.Second
)

// dropLogEvery bounds how often a sink logs that it is dropping.
const dropLogEvery = 10 * time.Second

// item is one event queued for the sinks: its fields and a copy of its
// line, shared by every sink (none writes to it).
type item struct {
	f    ecs.Fields
	line []byte
}

// sink is one destination with its queue and goroutine.
type sink struct {
	cfg SinkConfig
	log zerolog.Logger
	q   chan *item
	tr  transport

	format  func(dst []byte, f *ecs.Fields, line []byte) []byte
	stream  bool // octet counting (RFC 6587) around each message
	maxMsg  int  // udp: truncate above; file: drop above (lumberjack refuses); 0: no limit
	trunc   bool // maxMsg truncates rather than drops
	hdr     syslogHeader
	scratch []byte

	filters bool // Datasets or MinScore apply

	kp  atomic.Pointer[kafka.Producer] // a kafka sink's, once open
	tls *tls.Config                    // a kafka sink's, with tls = true

	sent, dropped, filtered, errors, reconnects, truncated atomic.Uint64

	connectedOnce bool
	failing       bool // logged the current outage already
	droppedLogged uint64
	dropLogAt     time.Time
	done          chan struct{}
	closeErr      error
}

// newSink builds a sink from a validated, defaulted configuration.
func newSink(c SinkConfig, log zerolog.Logger) (*sink, error) {
	s := &sink{
		cfg:     c,
		log:     log.With().Str("sink", c.Name).Str("type", c.Type).Logger(),
		q:       make(chan *item, c.Queue),
		filters: len(c.Datasets) > 0 || c.MinScore > 0,
		done:    make(chan struct{}),
		hdr: syslogHeader{
			facility: c.Facility,
			hostname: c.Hostname,
			appName:  c.AppName,
			procID:   strconv.Itoa(os.Getpid()),
		},
	}
	switch {
	case c.Format == "json":
		s.format = func(dst []byte, _ *ecs.Fields, line []byte) []byte {
			return append(dst, bytes.TrimRight(line, "\r\n")...)
		}
	case c.Format == "cef" && c.Type != "syslog":
		s.format = func(dst []byte, f *ecs.Fields, _ []byte) []byte {
			return appendCEF(dst, f, s.hdr.hostname)
		}
	case c.Format == "cef":
		s.format = func(dst []byte, f *ecs.Fields, _ []byte) []byte {
			return appendSyslogCEF(dst, &s.hdr, f)
		}
	default:
		s.format = func(dst []byte, f *ecs.Fields, line []byte) []byte {
			return appendRFC5424(dst, &s.hdr, f, line)
		}
	}
	switch c.Type {
	case "stdout":
		s.tr = &writerTransport{w: c.Writer}
	case "file":
		lj, max, err := openFile(c)
		if err != nil {
			return nil, err
		}
		s.tr = &writerTransport{w: lj, c: lj}
		s.maxMsg = int(max)
	case "syslog":
		t := &netTransport{network: c.Network, address: c.Address, timeout: c.WriteTimeout}
		if c.Network == "tls" {
			tc, err := tlsConfig("sinks["+c.Name+"]", c)
			if err != nil {
				return nil, err
			}
			t.tls = tc
		}
		s.tr = t
		s.stream = c.Network != "udp"
		if c.Network == "udp" {
			s.maxMsg, s.trunc = c.MaxMessage, true
		}
	case "kafka":
		if c.Settings.TLS {
			tc, err := tlsConfig("sinks["+c.Name+"]", c)
			if err != nil {
				return nil, err
			}
			s.tls = tc
		}
		s.tr = kafkaTransport{s}
	}
	return s, nil
}

// openFile makes the rotating writer, having checked the file can be
// opened so a wrong path fails at start rather than in the logs.
func openFile(c SinkConfig) (*lumberjack.Logger, int64, error) {
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o755); err != nil {
		return nil, 0, fmt.Errorf("sinks[%s].path: %w", c.Name, err)
	}
	f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("sinks[%s].path: %w", c.Name, err)
	}
	_ = f.Close()
	const mib = 1 << 20
	const day = 24 * time.Hour
	lj := &lumberjack.Logger{
		Filename:   c.Path,
		MaxSize:    int((c.MaxSize + mib - 1) / mib), // lumberjack counts in MiB
		MaxBackups: c.MaxBackups,
		MaxAge:     int((time.Duration(c.MaxAge) + day - 1) / day), // and in days
		Compress:   c.Compress,
	}
	max := int64(lj.MaxSize) * mib
	if max == 0 {
		max = 100 * mib // lumberjack's default
	}
	return lj, max, nil
}

// match applies the filters to an event.
func (s *sink) match(f *ecs.Fields) bool {
	if len(s.cfg.Datasets) > 0 && !slices.Contains(s.cfg.Datasets, f.Dataset) {
		return false
	}
	if s.cfg.MinScore > 0 && (!f.Scored || f.Score < s.cfg.MinScore) {
		return false
	}
	return true
}

// run is the sink's goroutine: it takes batches off the queue and
// delivers them until drain is closed and the queue is empty, or ctx
// ends (Close's timeout).
func (s *sink) run(ctx context.Context, drain <-chan struct{}) {
	if s.cfg.Type == "kafka" {
		s.runKafka(ctx, drain)
		return
	}
	defer close(s.done)
	var b batch
	for s.collect(ctx, drain, &b) {
		if !s.deliver(ctx, &b) {
			break
		}
	}
	if err := s.tr.close(); err != nil {
		s.closeErr = fmt.Errorf("sink %q: %w", s.cfg.Name, err)
	}
}

// collect waits for a line and frames it with whatever else is waiting
// into b. It returns false when there is nothing left to do.
func (s *sink) collect(ctx context.Context, drain <-chan struct{}, b *batch) bool {
	for {
		b.reset()
		var line *item
		select {
		case line = <-s.q:
		case <-ctx.Done():
			return false
		case <-drain:
			select {
			case line = <-s.q:
			default:
				return false
			}
		}
		s.add(b, line)
	fill:
		for b.len() < batchLines && len(b.buf) < batchBytes {
			select {
			case line = <-s.q:
				s.add(b, line)
			default:
				break fill
			}
		}
		if b.len() > 0 { // else all were oversize and dropped
			return true
		}
	}
}

// add formats and frames one line onto b.
func (s *sink) add(b *batch, it *item) {
	if s.stream {
		// RFC 6587 octet counting: "LEN SP MSG".
		s.scratch = s.format(s.scratch[:0], &it.f, it.line)
		b.buf = strconv.AppendInt(b.buf, int64(len(s.scratch)), 10)
		b.buf = append(b.buf, ' ')
		b.buf = append(b.buf, s.scratch...)
		b.ends = append(b.ends, len(b.buf))
		return
	}
	start := len(b.buf)
	b.buf = s.format(b.buf, &it.f, it.line)
	if s.cfg.Type != "syslog" {
		b.buf = append(b.buf, '\n')
	}
	if s.maxMsg > 0 && len(b.buf)-start > s.maxMsg {
		if !s.trunc {
			// lumberjack refuses such a write for ever: retrying
			// would stall the sink.
			s.errors.Add(1)
			s.log.Error().Int("bytes", len(b.buf)-start).Int("max", s.maxMsg).Msg("line longer than the file's rotation size; dropped")
			b.buf = b.buf[:start]
			return
		}
		// Cut on a rune boundary so the datagram stays valid UTF-8.
		end := start + s.maxMsg
		for i := 0; i < utf8.UTFMax && end > start && !utf8.RuneStart(b.buf[end]); i++ {
			end--
		}
		b.buf = b.buf[:end]
		s.truncated.Add(1)
	}
	b.ends = append(b.ends, len(b.buf))
}

// deliver writes b, reconnecting with backoff until it is written. It
// returns false when ctx ended first; what was not written is dropped.
func (s *sink) deliver(ctx context.Context, b *batch) bool {
	from := 0
	for attempt := 0; ; attempt++ {
		s.logDrops()
		if attempt > 0 && !sleep(ctx, backoff(attempt)) {
			s.dropped.Add(uint64(b.len() - from))
			return false
		}
		if !s.tr.up() {
			if err := s.tr.connect(ctx); err != nil {
				s.errors.Add(1)
				s.fail(err, attempt)
				continue
			}
			if s.connectedOnce {
				s.reconnects.Add(1)
			}
			s.connectedOnce = true
			if s.cfg.Type == "syslog" {
				s.log.Info().Str("address", s.cfg.Address).Str("network", s.cfg.Network).Msg("connected")
			}
		}
		n, err := s.tr.write(b, from)
		s.sent.Add(uint64(n - from))
		from = n
		if err == nil {
			s.failing = false
			return true
		}
		s.errors.Add(1)
		s.tr.disconnect()
		s.fail(err, attempt)
	}
}

// fail logs an outage once, then its retries at debug level.
func (s *sink) fail(err error, attempt int) {
	if s.failing {
		s.log.Debug().Err(err).Int("attempt", attempt).Msg("still failing")
		return
	}
	s.failing = true
	s.log.Warn().Err(err).Msg("sink failing; lines are queued, then dropped when the queue is full")
}

// logDrops says, at most every dropLogEvery, that lines were dropped.
func (s *sink) logDrops() {
	d := s.dropped.Load()
	if d == s.droppedLogged || time.Since(s.dropLogAt) < dropLogEvery {
		return
	}
	s.log.Warn().Uint64("dropped", d-s.droppedLogged).Uint64("dropped_total", d).Msg("queue full; lines dropped")
	s.droppedLogged, s.dropLogAt = d, time.Now()
}

// backoff is the wait before the attempt'th retry: exponential, capped,
// with the upper half jittered.
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 30 {
		d = min(backoffBase<<(attempt-1), backoffCap)
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or less if ctx ends; it returns false in that case.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stats is the sink's line in Stats.
func (s *sink) stats() SinkStats {
	st := SinkStats{
		Name:       s.cfg.Name,
		Type:       s.cfg.Type,
		Queued:     len(s.q),
		Capacity:   cap(s.q),
		Sent:       s.sent.Load(),
		Dropped:    s.dropped.Load(),
		Filtered:   s.filtered.Load(),
		Errors:     s.errors.Load(),
		Reconnects: s.reconnects.Load(),
		Truncated:  s.truncated.Load(),
		Connected:  s.tr.up(),
	}
	if s.cfg.Type == "kafka" {
		s.kafkaStats(&st)
	}
	return st
}
