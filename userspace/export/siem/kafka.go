package siem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgesensor/edgesensor/userspace/export/kafka"
)

// kafkaTransport stands in for a kafka sink's connection in what the
// fanout asks of every sink; the producer does the work (runKafka).
type kafkaTransport struct{ s *sink }

func (t kafkaTransport) connect(context.Context) error { return nil }
func (t kafkaTransport) up() bool {
	kp := t.s.kp.Load()
	return kp != nil && kp.Stats().Connected
}
func (t kafkaTransport) write(*batch, int) (int, error) { return 0, errors.New("kafka: not a stream") }
func (t kafkaTransport) disconnect()                    {}
func (t kafkaTransport) interrupt()                     {}
func (t kafkaTransport) close() error                   { return nil }

// runKafka is a kafka sink's goroutine. The producer is opened here, not
// in New: on a reload the sink it replaces may still hold the spool for a
// few seconds, and the new one waits for it (events queue meanwhile), so
// what the old one could not send goes out first.
func (s *sink) runKafka(ctx context.Context, drain <-chan struct{}) {
	defer close(s.done)
	kp := s.openKafka(ctx, drain)
	if kp == nil {
		return
	}
	recs := make([]kafka.Record, 0, batchLines)
	add := func(it *item) {
		recs = append(recs, kafka.Record{Dataset: it.f.Dataset, Key: it.f.CommunityID, Value: bytes.TrimRight(it.line, "\r\n")})
	}
	for {
		recs = recs[:0]
		select {
		case it := <-s.q:
			add(it)
		case <-ctx.Done():
		case <-drain:
			select {
			case it := <-s.q:
				add(it)
			default:
			}
		}
		if len(recs) == 0 {
			break
		}
		// While the records go to disk, a batch gathers for up to
		// spillLinger: one write (and fsync) per event would wear the
		// router's flash during an outage.
		var linger <-chan time.Time
		var t *time.Timer
		if kp.Spilling() {
			t = time.NewTimer(spillLinger)
			linger = t.C
		}
	fill:
		for len(recs) < batchLines {
			select {
			case it := <-s.q:
				add(it)
			default:
				if linger == nil {
					break fill
				}
				select {
				case it := <-s.q:
					add(it)
				case <-linger:
					break fill
				case <-drain:
					break fill
				case <-ctx.Done():
					break fill
				}
			}
		}
		if t != nil {
			t.Stop()
		}
		kp.Send(recs)
	}
	if err := kp.Close(ctx); err != nil {
		s.closeErr = fmt.Errorf("sink %q: %w", s.cfg.Name, err)
	}
}

// spillLinger is how long a batch gathers while the sink spools.
const spillLinger = 100 * time.Millisecond

// openKafka opens the producer, waiting while another holds the spool.
func (s *sink) openKafka(ctx context.Context, drain <-chan struct{}) *kafka.Producer {
	for attempt := 1; ; attempt++ {
		kp, err := kafka.New(s.cfg.Settings, kafka.Options{Name: s.cfg.Name, Sensor: s.cfg.Hostname, TLS: s.tls, Log: s.log})
		if err == nil {
			s.kp.Store(kp)
			return kp
		}
		if !errors.Is(err, bbolt.ErrTimeout) {
			s.errors.Add(1)
			s.closeErr = fmt.Errorf("sink %q: %w", s.cfg.Name, err)
			s.log.Error().Err(err).Msg("kafka sink cannot start; its events are dropped")
			s.discard(ctx, drain)
			return nil
		}
		if attempt == 1 {
			s.errors.Add(1)
		}
		if attempt == 3 {
			s.log.Warn().Msg("kafka spool still held by another sink; waiting")
		}
		if ctx.Err() != nil || !sleep(ctx, 100*time.Millisecond) {
			return nil
		}
	}
}

// discard counts what a sink that could not start is given, until the
// fanout closes.
func (s *sink) discard(ctx context.Context, drain <-chan struct{}) {
	for {
		select {
		case <-s.q:
			s.dropped.Add(1)
		case <-ctx.Done():
			return
		case <-drain:
			for {
				select {
				case <-s.q:
					s.dropped.Add(1)
				default:
					return
				}
			}
		}
	}
}

// kafkaStats fills the sink's line from the producer's figures.
func (s *sink) kafkaStats(st *SinkStats) {
	kp := s.kp.Load()
	if kp == nil {
		return
	}
	ks := kp.Stats()
	st.Kafka = &ks
	st.Sent = ks.Produced
	st.Dropped += ks.DroppedFull + ks.Failed
	st.Errors += ks.RequestErrors + ks.ConnectErrors
	st.Connected = ks.Connected
}
