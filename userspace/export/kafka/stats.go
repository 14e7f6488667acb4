// The sink's figures, and the client hooks that feed them.

package kafka

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

// Stats are the sink's figures.
type Stats struct {
	Inflight      int   // records in the client, not acknowledged
	Spooled       int64 // records in the spool
	SpoolBytes    int64
	SpoolLimit    int64
	Produced      uint64 // records the brokers acknowledged
	Failed        uint64 // records the brokers refused for good (too large, not authorised)
	DroppedFull   uint64 // spooled records dropped, oldest first, when the spool was full
	Spilled       uint64 // records written to the spool because the brokers were slow or away
	RequestErrors uint64 // produce requests that failed on the connection (sent again)
	ConnectErrors uint64 // failed connections to brokers
	Batches       uint64
	Uncompressed  uint64 // bytes of record batches before compression
	Compressed    uint64 // and after: what went on the wire
	Connected     bool   // the last connection or produce request to a broker succeeded
	LastError     string
	Latency       metrics.HistogramValue // produce request round trips
}

// Stats returns the sink's figures.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	inflight := len(p.pend)
	p.mu.Unlock()
	count, bytes := p.sp.stats()
	st := Stats{
		Inflight: inflight, Spooled: count, SpoolBytes: bytes, SpoolLimit: p.sp.maxBytes,
		Produced: p.produced.Load(), Failed: p.failed.Load(), DroppedFull: p.dropped.Load(),
		Spilled: p.spilled.Load(), RequestErrors: p.reqErrs.Load(), ConnectErrors: p.connErrs.Load(),
		Batches: p.batches.Load(), Uncompressed: p.uncompressed.Load(), Compressed: p.compressed.Load(),
		Connected: p.connected.Load(), Latency: p.latency.Value(),
	}
	if e := p.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

func (p *Producer) setErr(err error) {
	s := err.Error()
	p.lastErr.Store(&s)
}

// hooks feed the figures from the client.
type hooks struct{ p *Producer }

const produceKey = 0 // Kafka's API key of Produce

func (h hooks) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key != produceKey {
		return
	}
	if err := e2e.Err(); err != nil {
		h.p.reqErrs.Add(1)
		h.p.connected.Store(false)
		h.p.setErr(err)
		return
	}
	h.p.connected.Store(true)
	h.p.latency.Observe(e2e.DurationE2E())
}

func (h hooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.p.connErrs.Add(1)
		h.p.connected.Store(false)
		h.p.setErr(err)
		return
	}
	h.p.connected.Store(true)
}

func (h hooks) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.p.batches.Add(1)
	h.p.uncompressed.Add(uint64(m.UncompressedBytes))
	h.p.compressed.Add(uint64(m.CompressedBytes))
}
