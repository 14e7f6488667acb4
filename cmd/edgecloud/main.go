// Command edgecloud is the reference cloud service for the edgesensor
// uplink: it accepts anonymised event batches, hash lookups and samples over
// mutual TLS 1.3, and hands out verdicts. The API is in openapi.yaml.
//
//	edgecloud serve --listen 127.0.0.1:8443 --cert server.pem --key server.key \
//	    --client-ca ca.pem --data DIR [--record-log FILE] [--request-log FILE] [--verdicts FILE]
//	edgecloud gen-certs DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "edgecloud:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  edgecloud serve --listen ADDR --cert FILE --key FILE --client-ca FILE --data DIR [--record-log FILE] [--request-log FILE] [--verdicts FILE]
  edgecloud gen-certs DIR`

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "gen-certs":
		if len(args) != 2 {
			return errors.New(usage)
		}
		return cloudapi.GenerateCerts(args[1])
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		listen := fs.String("listen", "127.0.0.1:8443", "address to listen on")
		var cfg config
		fs.StringVar(&cfg.CertFile, "cert", "", "server certificate (PEM)")
		fs.StringVar(&cfg.KeyFile, "key", "", "server key (PEM)")
		fs.StringVar(&cfg.ClientCA, "client-ca", "", "CA that signs client certificates (PEM)")
		fs.StringVar(&cfg.DataDir, "data", "", "data directory (database and samples)")
		fs.StringVar(&cfg.RecordLog, "record-log", "", "append every newly accepted record to this NDJSON file")
		fs.StringVar(&cfg.RequestLog, "request-log", "", "append every request (method, path, headers, decoded body) to this NDJSON file")
		fs.StringVar(&cfg.VerdictsFile, "verdicts", "", `file of "sha256 score" lines the cloud already knows`)
		fs.DurationVar(&cfg.LookupDelay, "lookup-delay", 0, "answer hash lookups this much later (a slow cloud)")
		fs.StringVar(&cfg.FeedKeyFile, "feed-key", "", "sign and publish the intel feed with this Ed25519 key (PKCS #8 PEM; gen-certs writes feed.key)")
		fs.StringVar(&cfg.FeedEntries, "feed-entries", "", `file of "kind value level|allow [source]" lines the feed publishes from the start (IPs, domains, JA3/JA4)`)
		fs.StringVar(&cfg.JudgeFile, "judge", "", `file of "sha256 score" lines: the verdicts the cloud reaches on these samples once a sensor uploads them (a sandbox's stand-in)`)
		verbose := fs.Bool("v", false, "debug logging")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		level := zerolog.InfoLevel
		if *verbose {
			level = zerolog.DebugLevel
		}
		cfg.Log = zerolog.New(stderr).Level(level).With().Timestamp().Logger()
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		cfg.Log.Info().Str("listen", ln.Addr().String()).Msg("edgecloud serving")
		return serve(ctx, ln, cfg)
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}
