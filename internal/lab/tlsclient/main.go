// Command tlsclient makes TLS handshakes for the lab: one, as a Go client
// with Go's defaults (a post-quantum X25519MLKEM768 key share among them),
// or many short connections at a given rate to load the sensor.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "", "server address host:port")
	sni := flag.String("sni", "", "server name (SNI); empty sends none")
	caFile := flag.String("ca", "", "CA certificate to trust")
	alpn := flag.String("alpn", "h2,http/1.1", "ALPN protocols, comma separated")
	n := flag.Int("n", 1, "connections in all")
	conc := flag.Int("c", 1, "connections at once")
	rate := flag.Float64("rate", 0, "new connections per second (0: as fast as possible)")
	flag.Parse()
	if err := run(*addr, *sni, *caFile, *alpn, *n, *conc, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "tlsclient:", err)
		os.Exit(1)
	}
}

func run(addr, sni, caFile, alpn string, n, conc int, rate float64) error {
	pool := x509.NewCertPool()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool.AppendCertsFromPEM(pem)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: sni, InsecureSkipVerify: sni == ""}
	if alpn != "" {
		cfg.NextProtos = strings.Split(alpn, ",")
	}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < max(conc, 1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second}
			for range jobs {
				c, err := tls.DialWithDialer(&d, "tcp", addr, cfg)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				c.Close()
				ok.Add(1)
			}
		}()
	}
	start := time.Now()
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	for i := 0; i < n; i++ {
		if tick != nil {
			<-tick
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start).Seconds()
	res := map[string]any{"ok": ok.Load(), "failed": failed.Load(), "seconds": el, "per_second": float64(ok.Load()) / el}
	if e := firstErr.Load(); e != nil {
		res["first_error"] = e
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
