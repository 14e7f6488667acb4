// Package kafka ships events to Kafka topics with an idempotent producer
// (acks=all) on franz-go, keyed by community_id so one flow's events stay
// in order on one partition.
//
// Nothing waits on the brokers: records go to the client while it keeps
// up, and to a bounded on-disk spool while the brokers are slow or away;
// the spool drains in order when they answer again, before anything newer
// is sent. The oldest spooled records are dropped, and counted, when the
// spool is full. Records the brokers have not acknowledged after
// checkpointAfter are written to the spool as well, and everything not
// acknowledged is written there at shutdown, so a restart (even kill -9,
// apart from the last checkpointAfter) loses nothing; a record the
// brokers took just before a crash may be sent again after it.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

// Bounds of what is held in memory. Variables so tests can shrink them.
var (
	// maxInflight records may wait in the client for the brokers' answer;
	// beyond, records go to the spool.
	maxInflight = 16384
	// drainBatch records are read from the spool at a time.
	drainBatch = 2048
	// checkpointAfter: records in the client longer than this are copied
	// to the spool, so a crash during an outage loses no more.
	checkpointAfter = time.Second
	// spillAfter: a full client is waited for this long before records
	// go to disk. The wait is on the sink's goroutine, behind its queue,
	// never on the analysis; it keeps a burst the brokers are about to
	// take off the disk (and the router's flash).
	spillAfter = 250 * time.Millisecond
	// flushMax bounds how long Close waits for the brokers (a tenth of it
	// when they are away): the sinks have 5 s in all to stop.
	flushMax = 2 * time.Second
)

// Record is one event for Kafka.
type Record struct {
	Dataset string // event.dataset: picks the topic; a header
	Key     string // community_id, or "" for none
	Value   []byte // the event's JSON line, without its newline
}

// Options are what New needs besides the settings.
type Options struct {
	Name   string // the sink's name: the spool file's
	Sensor string // the sensor_id header
	TLS    *tls.Config
	Log    zerolog.Logger
}

type pending struct {
	seq     uint64
	dataset string
	start   time.Time
	spooled bool // on disk: its acknowledgement deletes it there
}

// Producer is one kafka sink. Send is called by one goroutine only.
type Producer struct {
	set    Settings
	log    zerolog.Logger
	cl     *kgo.Client
	sp     *spool
	sensor []byte

	// disk orders the spool's writes and reads with their accounting:
	// a spill dropping the oldest records and the drain handing them over
	// must not interleave (taken before mu).
	disk     sync.Mutex
	mu       sync.Mutex
	nextSeq  uint64
	readFrom uint64 // spooled records from here on are not in the client yet
	// queued records took the spool path and are not in the client yet;
	// unread of them are written. Nothing goes to the client directly
	// while queued > 0, which keeps the events' order.
	queued, unread int64
	pend           map[*kgo.Record]*pending
	bySeq          map[uint64]*pending // pend by sequence
	topics         map[string]*topic   // by dataset
	acked          []uint64            // spooled records acknowledged or refused: to delete
	unsent         []spooled           // records the closing client gave back
	closing        bool
	inflightMax    int  // maxInflight when opened; tests change it under mu
	waiting        bool // Send waits for room in the client
	room           chan struct{}

	wake, stop, done chan struct{}

	logMu        sync.Mutex
	refusedAt    time.Time
	refusedSince int

	produced, failed, dropped, spilled, reqErrs, connErrs atomic.Uint64
	batches, uncompressed, compressed                     atomic.Uint64
	connected                                             atomic.Bool
	lastErr                                               atomic.Pointer[string]
	latency                                               metrics.Latency
}

// New opens the spool (what a previous run left is sent first) and starts
// the client; it does not wait for the brokers.
func New(s Settings, o Options) (*Producer, error) {
	s = s.withDefaults()
	if err := os.MkdirAll(s.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool_dir: %w", err)
	}
	sp, err := openSpool(filepath.Join(s.SpoolDir, o.Name+".db"), int64(s.SpoolMaxBytes))
	if err != nil {
		return nil, fmt.Errorf("spool_dir: %w", err)
	}
	p := &Producer{
		set: s, log: o.Log, sp: sp, sensor: []byte(o.Sensor),
		pend: make(map[*kgo.Record]*pending), bySeq: make(map[uint64]*pending), topics: make(map[string]*topic),
		wake: make(chan struct{}, 1), room: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	p.inflightMax = maxInflight
	p.nextSeq = sp.lastSeq() + 1
	p.unread, _ = sp.stats()
	p.queued = p.unread
	opts, err := p.clientOpts(o)
	if err != nil {
		sp.close()
		return nil, err
	}
	if p.cl, err = kgo.NewClient(opts...); err != nil {
		sp.close()
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	go p.run()
	p.signal()
	return p, nil
}

// Send hands records over. It never waits for the brokers: while the
// spool holds records not yet in the client, or the client holds
// maxInflight, records go to the spool (a disk write).
func (p *Producer) Send(recs []Record) {
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	var deadline time.Time
	for p.queued == 0 && !p.closing && len(p.pend)+len(recs) > p.inflightMax && len(recs) <= p.inflightMax {
		if deadline.IsZero() {
			deadline = time.Now().Add(spillAfter)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		p.waiting = true
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-p.room:
		case <-t.C:
		}
		t.Stop()
		p.mu.Lock()
	}
	p.waiting = false
	if p.queued == 0 && len(p.pend)+len(recs) <= p.inflightMax && !p.closing {
		now := time.Now()
		for i := range recs {
			p.produce(&recs[i], p.nextSeq, now, false)
			p.nextSeq++
		}
		// In the client now: the drainer's reading starts after them.
		p.readFrom = p.nextSeq
		p.mu.Unlock()
		return
	}
	// Spill. Counting them queued first keeps later records off the
	// direct path until the drainer has handed these over.
	batch := make([]spooled, len(recs))
	for i := range recs {
		batch[i] = spooled{seq: p.nextSeq, rec: recs[i]}
		p.nextSeq++
	}
	p.queued += int64(len(batch))
	p.mu.Unlock()
	p.spilled.Add(uint64(len(batch)))
	p.store(batch, true)
	p.signal()
}

// store writes records to the spool; unread says they count as not yet
// in the client. A failed write loses them: counted and logged.
func (p *Producer) store(batch []spooled, unread bool) {
	p.disk.Lock()
	defer p.disk.Unlock()
	dropped, err := p.sp.add(batch)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if unread {
			p.queued -= int64(len(batch))
		}
		p.dropped.Add(uint64(len(batch)))
		p.log.Error().Err(err).Int("records", len(batch)).Msg("kafka spool write failed; records lost")
		return
	}
	if unread {
		p.unread += int64(len(batch))
	}
	var mine map[uint64]bool // this batch's sequences, when some were dropped
	if !unread && len(dropped) > 0 {
		mine = make(map[uint64]bool, len(batch))
		for _, b := range batch {
			mine[b.seq] = true
		}
	}
	for _, seq := range dropped {
		if mine[seq] && p.bySeq[seq] == nil {
			// A record the client gave back at Close, now out of a full
			// spool: lost.
			p.dropped.Add(1)
			continue
		}
		if pd := p.bySeq[seq]; pd != nil {
			// The copy of a record still in the client: not lost, and
			// written again at Close if it is still there then.
			pd.spooled = false
			continue
		}
		if seq >= p.readFrom {
			p.unread--
			p.queued--
			p.dropped.Add(1)
		}
	}
	if len(dropped) > 0 {
		p.log.Warn().Int("records", len(dropped)).Int64("spool_max_bytes", p.sp.maxBytes).Msg("kafka spool full; oldest records dropped")
	}
}

// produce hands one record to the client; p.mu is held.
func (p *Producer) produce(r *Record, seq uint64, now time.Time, spooled bool) {
	t := p.topic(r.Dataset)
	if now.Before(t.missingUntil) {
		// The brokers said lately the topic does not exist: fail at
		// once rather than hold the client's room for its retries.
		p.failed.Add(1)
		if spooled {
			p.acked = append(p.acked, seq)
		}
		return
	}
	kr := &kgo.Record{Topic: t.name, Value: r.Value, Headers: t.headers}
	if r.Key != "" && p.set.Key == "community_id" {
		kr.Key = []byte(r.Key)
	}
	pd := &pending{seq: seq, dataset: r.Dataset, start: now, spooled: spooled}
	p.pend[kr] = pd
	p.bySeq[seq] = pd
	p.cl.Produce(context.Background(), kr, p.promise)
}

// topic is a dataset's topic and headers, made once; p.mu is held. The
// client only reads the headers, so every record of a dataset shares them.
type topic struct {
	name    string
	headers []kgo.RecordHeader
	// missingUntil: the brokers answered that the topic does not exist;
	// until then its records fail without being sent.
	missingUntil time.Time
}

// missingFor is how long a topic the brokers said does not exist is not
// tried again.
const missingFor = 30 * time.Second

func (p *Producer) topic(dataset string) *topic {
	t, ok := p.topics[dataset]
	if !ok {
		t = &topic{name: TopicFor(p.set.Topic, dataset), headers: []kgo.RecordHeader{
			{Key: "sensor_id", Value: p.sensor},
			{Key: "dataset", Value: []byte(dataset)},
		}}
		p.topics[dataset] = t
	}
	return t
}

// promise is the client's answer for one record.
func (p *Producer) promise(kr *kgo.Record, err error) {
	p.mu.Lock()
	pd := p.pend[kr]
	delete(p.pend, kr)
	if pd != nil {
		delete(p.bySeq, pd.seq)
	}
	closing := p.closing
	if p.waiting {
		select {
		case p.room <- struct{}{}:
		default:
		}
	}
	switch {
	case pd == nil:
	case err == nil:
		p.produced.Add(1)
		if pd.spooled {
			p.acked = append(p.acked, pd.seq)
		}
	case closing && (errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled)):
		// Written (again: a copy on disk may have been dropped since)
		// under its own sequence, so it keeps its place.
		p.unsent = append(p.unsent, spooled{seq: pd.seq, rec: Record{Dataset: pd.dataset, Key: string(kr.Key), Value: kr.Value}})
	default:
		// Refused for good (a missing topic, too large, not authorised):
		// retrying would stall every later record.
		p.failed.Add(1)
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			for _, t := range p.topics {
				if t.name == kr.Topic {
					t.missingUntil = time.Now().Add(missingFor)
				}
			}
		}
		if pd.spooled {
			p.acked = append(p.acked, pd.seq)
		}
	}
	p.mu.Unlock()
	if err != nil && pd != nil && !closing {
		p.setErr(err)
		p.logRefused(err, kr.Topic)
	}
	p.signal()
}

// logRefused says that records were refused for good, at most every
// refusedLogEvery: one refusal fails every record the client buffered for
// the partition, which would be a line each.
func (p *Producer) logRefused(err error, topic string) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	p.refusedSince++
	if time.Since(p.refusedAt) < refusedLogEvery {
		return
	}
	p.log.Error().Err(err).Str("topic", topic).Int("records", p.refusedSince).Uint64("failed_total", p.failed.Load()).
		Msg("kafka refused records for good (a missing topic, too large, not authorised); dropped and counted")
	p.refusedAt, p.refusedSince = time.Now(), 0
}

const refusedLogEvery = 10 * time.Second

func (p *Producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Close sends what it can within ctx and keeps the rest in the spool for
// the next start.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil
	}
	p.closing = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	// What the brokers have not acknowledged goes to disk first: the
	// flush may not finish (brokers away), and what follows it must fit
	// in the caller's time. What they acknowledge meanwhile is deleted
	// again below.
	p.checkpoint(time.Now().Add(time.Hour))
	wait := flushMax
	if !p.connected.Load() {
		wait = flushMax / 10
	}
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	flushErr := p.cl.Flush(fctx)
	p.cl.Close() // what is still in the client comes back through promise, into unsent
	// The client calls promises from its own goroutine: wait for them.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		n := len(p.pend)
		p.mu.Unlock()
		if n == 0 {
			break
		}
	}
	p.mu.Lock()
	unsent := p.unsent
	p.unsent = nil
	p.mu.Unlock()
	if len(unsent) > 0 {
		p.store(unsent, false)
	}
	p.removeAcked()
	count, _ := p.sp.stats()
	err := p.sp.close()
	if flushErr != nil && count > 0 {
		p.log.Info().Int64("records", count).Msg("kafka: brokers did not take everything before shutdown; the rest is in the spool for the next start")
	}
	return err
}

// Spilling reports whether records go to the spool now (the brokers are
// slow or away, or the spool holds records not yet sent).
func (p *Producer) Spilling() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued > 0 || len(p.pend) >= p.inflightMax
}
