// The producer's background work: deleting acknowledged records from the
// spool, draining the spool into the client, and checkpointing records
// the brokers are slow to take.

package kafka

import "time"

// run deletes acknowledged records from the spool, hands spooled records
// to the client as room frees up, and checkpoints records the brokers
// are slow to take.
func (p *Producer) run() {
	defer close(p.done)
	tick := time.NewTicker(checkpointAfter / 2)
	defer tick.Stop()
	for {
		select {
		case <-p.wake:
		case <-tick.C:
			p.checkpoint(time.Now().Add(-checkpointAfter))
		case <-p.stop:
			p.removeAcked()
			return
		}
		p.removeAcked()
		p.drain()
	}
}

func (p *Producer) removeAcked() {
	p.disk.Lock()
	defer p.disk.Unlock()
	p.mu.Lock()
	acked := p.acked
	p.acked = nil
	p.mu.Unlock()
	if err := p.sp.remove(acked); err != nil {
		p.log.Error().Err(err).Msg("kafka spool: deleting delivered records failed; they may be sent again")
	}
}

// drain hands spooled records to the client in order while it has room.
func (p *Producer) drain() {
	for p.drainOnce() {
		p.removeAcked()
	}
}

// drainOnce hands one read of the spool to the client; it reports
// whether to go on.
func (p *Producer) drainOnce() bool {
	p.disk.Lock()
	defer p.disk.Unlock()
	p.mu.Lock()
	room := p.inflightMax - len(p.pend)
	from, unread, closing := p.readFrom, p.unread, p.closing
	low := min(drainBatch, p.inflightMax/2)
	p.mu.Unlock()
	if unread <= 0 || closing || room <= 0 || room < low {
		return false
	}
	recs, bad, err := p.sp.read(from, min(room, drainBatch))
	if err != nil {
		p.log.Error().Err(err).Msg("kafka spool read failed")
		return false
	}
	if len(bad) > 0 {
		p.log.Error().Int("records", len(bad)).Msg("kafka spool: records that do not decode; dropped")
		if err := p.sp.remove(bad); err != nil {
			p.log.Error().Err(err).Msg("kafka spool: deleting undecodable records failed")
			return false
		}
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var next uint64 // past the last undecodable record
	for _, seq := range bad {
		if seq >= p.readFrom {
			next = max(next, seq+1)
			p.unread--
			p.queued--
			p.dropped.Add(1)
		}
	}
	n := 0
	for i := range recs {
		if recs[i].seq < p.readFrom {
			continue
		}
		p.produce(&recs[i].rec, recs[i].seq, now, true)
		p.readFrom = recs[i].seq + 1
		n++
	}
	p.readFrom = max(p.readFrom, next)
	p.unread -= int64(n)
	p.queued -= int64(n)
	if len(recs)+len(bad) == 0 && p.unread > 0 {
		// Counted but not on disk: a bug, not the wire's doing. Let
		// newer records through rather than stall for ever.
		p.log.Error().Int64("unread", p.unread).Msg("kafka spool: records counted but not found; skipped")
		p.queued -= p.unread
		p.unread = 0
	}
	return len(recs)+len(bad) > 0
}

// checkpoint copies to the spool records the client has held longer than
// checkpointAfter, so a crash during an outage does not lose them.
func (p *Producer) checkpoint(cut time.Time) {
	p.mu.Lock()
	var batch []spooled
	for kr, pd := range p.pend {
		if !pd.spooled && pd.start.Before(cut) {
			pd.spooled = true
			batch = append(batch, spooled{seq: pd.seq, rec: Record{Dataset: pd.dataset, Key: string(kr.Key), Value: kr.Value}})
		}
	}
	p.mu.Unlock()
	if len(batch) > 0 {
		p.store(batch, false)
	}
}
