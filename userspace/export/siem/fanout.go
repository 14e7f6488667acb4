package siem

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/kafka"
	"github.com/edgesensor/edgesensor/userspace/setting"
)

// abortGrace is how long Close waits, after its timeout, for sinks to
// notice they were interrupted.
const abortGrace = time.Second

// SinkStats is one sink's counters. Sent counts lines handed to the
// kernel or the file; Dropped lines found the queue full (or were still
// queued when Close gave up); Filtered lines did not match the filters.
type SinkStats struct {
	Name       string
	Type       string
	Queued     int // lines waiting now
	Capacity   int // queue bound
	Sent       uint64
	Dropped    uint64
	Filtered   uint64
	Errors     uint64 // failed connects and writes, oversize lines
	Reconnects uint64
	Truncated  uint64 // udp messages cut to MaxMessage
	Connected  bool
	Kafka      *kafka.Stats // a kafka sink's own figures (Sent is what the brokers acknowledged)
}

// Fanout sends every line to each sink whose filters it passes, each
// sink on its own goroutine behind its own bounded queue.
type Fanout struct {
	sinks  []*sink
	closed atomic.Bool
	drain  chan struct{}
	cancel context.CancelFunc // interrupts the sinks when Close times out
}

// New validates the sinks and starts them. Syslog sinks connect in the
// background: an unreachable SIEM does not stop the sensor from starting.
func New(cfgs []SinkConfig, log zerolog.Logger) (*Fanout, error) {
	var p setting.Problems
	ValidateSinks("sinks", cfgs, &p)
	if err := p.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fanout{drain: make(chan struct{}), cancel: cancel}
	for _, c := range cfgs {
		s, err := newSink(withDefaults(c), log)
		if err != nil {
			cancel()
			for _, s := range f.sinks {
				_ = s.tr.close()
			}
			return nil, err
		}
		f.sinks = append(f.sinks, s)
	}
	for _, s := range f.sinks {
		go s.run(ctx, f.drain)
	}
	return f, nil
}

// Write queues an event for every sink it matches. It never blocks: a
// sink whose queue is full drops the event and counts it. The line is
// copied; the caller may reuse it. Events written after Close are
// discarded.
func (f *Fanout) Write(rec *ecs.Record) {
	if len(rec.Line) == 0 || f.closed.Load() {
		return
	}
	var it *item
	for _, s := range f.sinks {
		if s.filters && !s.match(&rec.Fields) {
			s.filtered.Add(1)
			continue
		}
		if it == nil {
			// One copy for all sinks: none of them writes to it.
			it = &item{f: rec.Fields, line: append([]byte(nil), rec.Line...)}
		}
		select {
		case s.q <- it:
		default:
			s.dropped.Add(1)
		}
	}
}

// Stats returns each sink's counters, in configuration order.
func (f *Fanout) Stats() []SinkStats {
	out := make([]SinkStats, len(f.sinks))
	for i, s := range f.sinks {
		out[i] = s.stats()
	}
	return out
}

// Close stops taking lines, lets the sinks send what is queued for up to
// timeout, then interrupts them and closes their connections and files.
// The error lists the sinks that did not finish, and what they lost.
func (f *Fanout) Close(timeout time.Duration) error {
	if !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	before := make([]uint64, len(f.sinks))
	for i, s := range f.sinks {
		before[i] = s.dropped.Load()
	}
	close(f.drain)
	var wg sync.WaitGroup
	for _, s := range f.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-s.done
		}()
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-all:
	case <-t.C:
		f.cancel()
		for _, s := range f.sinks {
			s.tr.interrupt()
		}
		select {
		case <-all:
		case <-time.After(abortGrace):
		}
	}
	f.cancel()

	var errs []error
	for i, s := range f.sinks {
		select {
		case <-s.done:
			if s.closeErr != nil {
				errs = append(errs, s.closeErr)
			}
		default:
			errs = append(errs, fmt.Errorf("sink %q: still blocked writing after %v; %d lines queued", s.cfg.Name, timeout, len(s.q)))
			continue
		}
		// What is still queued is lost: taken out, so that the queue the
		// stats show is empty, and counted.
	drain:
		for {
			select {
			case <-s.q:
				s.dropped.Add(1)
			default:
				break drain
			}
		}
		if n := s.dropped.Load() - before[i]; n > 0 {
			errs = append(errs, fmt.Errorf("sink %q: %d lines not sent within %v", s.cfg.Name, n, timeout))
		}
	}
	return errors.Join(errs...)
}
