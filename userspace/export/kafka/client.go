// How the producer's franz-go client is set up: its options, the brokers'
// address and login, and the client's log.

package kafka

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func (p *Producer) clientOpts(o Options) ([]kgo.Opt, error) {
	s := &p.set
	opts, err := connOpts(s, o.TLS)
	if err != nil {
		return nil, err
	}
	codec := map[string]kgo.CompressionCodec{
		"zstd": kgo.ZstdCompression(), "lz4": kgo.Lz4Compression(), "snappy": kgo.SnappyCompression(),
		"gzip": kgo.GzipCompression(), "none": kgo.NoCompression(),
	}[s.Compression]
	return append(opts,
		kgo.RequiredAcks(kgo.AllISRAcks()), // with idempotence, the default; said here
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(time.Duration(s.Linger)),
		kgo.ProducerBatchMaxBytes(int32(s.BatchMaxBytes)),
		// Never block Produce: our own bound is maxInflight.
		kgo.MaxBufferedRecords(2*maxInflight+1),
		// Retry for ever (the default): an outage is waited out, with
		// what does not fit in the client spooled. Not for a topic the
		// brokers say does not exist: its records would hold the client
		// full and every other topic's behind them. They fail after the
		// client's few retries, counted and logged (check-config warns of
		// a missing topic beforehand).
		kgo.WithHooks(hooks{p}),
		kgo.WithLogger(kgoLogger{p.log}),
	), nil
}

// connOpts are how to reach and log in to the brokers.
func connOpts(s *Settings, tc *tls.Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(s.Brokers...), kgo.ClientID("edgesensor")}
	if s.TLS {
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s.SASL != "" {
		pw, err := readPassword(s.SASLPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("sasl_password_file: %w", err)
		}
		switch s.SASL {
		case "plain":
			opts = append(opts, kgo.SASL(plain.Auth{User: s.SASLUser, Pass: pw}.AsMechanism()))
		case "scram-sha-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.SASLUser, Pass: pw}.AsSha256Mechanism()))
		case "scram-sha-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.SASLUser, Pass: pw}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

// kgoLogger passes the client's warnings and errors to the sink's log.
type kgoLogger struct{ log zerolog.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	ev := l.log.Warn()
	if level == kgo.LogLevelError {
		ev = l.log.Error()
	}
	for i := 0; i+1 < len(kv); i += 2 {
		ev = ev.Interface(fmt.Sprint(kv[i]), kv[i+1])
	}
	ev.Msg("kafka client: " + msg)
}
