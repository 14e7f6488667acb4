package daemon

import (
	"github.com/edgesensor/edgesensor/userspace/export/kafka"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

// addKafka adds the counters of b (a sink a reload replaced) to st's.
func addKafka(st *kafka.Stats, b *kafka.Stats) {
	st.Produced += b.Produced
	st.Failed += b.Failed
	st.DroppedFull += b.DroppedFull
	st.Spilled += b.Spilled
	st.RequestErrors += b.RequestErrors
	st.ConnectErrors += b.ConnectErrors
	st.Batches += b.Batches
	st.Uncompressed += b.Uncompressed
	st.Compressed += b.Compressed
}

// kafkaFamilies are the kafka sinks' own figures, beside the sink_*
// families every sink has (where a kafka sink's sent is what the brokers
// acknowledged).
func kafkaFamilies(t *taps) []metrics.Family {
	type emitFn = func(float64, ...string)
	each := func(fn func(name string, k *kafka.Stats)) {
		for _, st := range t.sinkStats() {
			if st.Kafka != nil {
				fn(st.Name, st.Kafka)
			}
		}
	}
	return []metrics.Family{
		{Name: "kafka_inflight_records", Help: "Records a kafka sink's client holds, waiting for the brokers' acknowledgement.", Kind: metrics.Gauge, Labels: []string{"sink"},
			Read: func(emit emitFn) { each(func(n string, k *kafka.Stats) { emit(float64(k.Inflight), n) }) }},
		{Name: "kafka_spool_records", Help: "Records in a kafka sink's spool: not yet acknowledged while the brokers are slow or away.", Kind: metrics.Gauge, Labels: []string{"sink"},
			Read: func(emit emitFn) { each(func(n string, k *kafka.Stats) { emit(float64(k.Spooled), n) }) }},
		{Name: "kafka_spool_bytes", Help: "Bytes in a kafka sink's spool.", Kind: metrics.Gauge, Labels: []string{"sink"},
			Read: func(emit emitFn) { each(func(n string, k *kafka.Stats) { emit(float64(k.SpoolBytes), n) }) }},
		{Name: "kafka_spool_limit_bytes", Help: "A kafka sink's spool bound (spool_max_bytes); beyond it the oldest records are dropped.", Kind: metrics.Gauge, Labels: []string{"sink"},
			Read: func(emit emitFn) { each(func(n string, k *kafka.Stats) { emit(float64(k.SpoolLimit), n) }) }},
		{Name: "kafka_records_total", Help: "A kafka sink's records by outcome: produced (acknowledged), spilled (to the spool), dropped_full (oldest out of a full spool), failed (refused for good).", Kind: metrics.Counter, Labels: []string{"sink", "outcome"},
			Read: func(emit emitFn) {
				each(func(n string, k *kafka.Stats) {
					emit(float64(k.Produced), n, "produced")
					emit(float64(k.Spilled), n, "spilled")
					emit(float64(k.DroppedFull), n, "dropped_full")
					emit(float64(k.Failed), n, "failed")
				})
			}},
		{Name: "kafka_errors_total", Help: "A kafka sink's failed produce requests (sent again) and broker connections.", Kind: metrics.Counter, Labels: []string{"sink", "kind"},
			Read: func(emit emitFn) {
				each(func(n string, k *kafka.Stats) {
					emit(float64(k.RequestErrors), n, "request")
					emit(float64(k.ConnectErrors), n, "connect")
				})
			}},
		{Name: "kafka_batch_bytes_total", Help: "Bytes of a kafka sink's record batches before and after compression (after: on the wire).", Kind: metrics.Counter, Labels: []string{"sink", "stage"},
			Read: func(emit emitFn) {
				each(func(n string, k *kafka.Stats) {
					emit(float64(k.Uncompressed), n, "uncompressed")
					emit(float64(k.Compressed), n, "compressed")
				})
			}},
		{Name: "kafka_batches_total", Help: "Record batches a kafka sink's brokers acknowledged.", Kind: metrics.Counter, Labels: []string{"sink"},
			Read: func(emit emitFn) { each(func(n string, k *kafka.Stats) { emit(float64(k.Batches), n) }) }},
		{Name: "kafka_produce_seconds", Help: "Round trips of a kafka sink's produce requests to the brokers (acks=all).", Kind: metrics.Histogram, Labels: []string{"sink"},
			ReadHistogram: func(emit func(metrics.HistogramValue, ...string)) {
				for _, st := range t.sinkStats() {
					if st.Kafka != nil {
						emit(st.Kafka.Latency, st.Name)
					}
				}
			}},
	}
}
