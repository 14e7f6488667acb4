package siem

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

const dialTimeout = 10 * time.Second

// batch is framed messages laid end to end, written with one call where
// the transport allows.
type batch struct {
	buf  []byte
	ends []int // ends[i] is the offset just past message i
}

func (b *batch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
}

func (b *batch) len() int { return len(b.ends) }

// start is the offset of message i.
func (b *batch) start(i int) int {
	if i == 0 {
		return 0
	}
	return b.ends[i-1]
}

func (b *batch) msg(i int) []byte { return b.buf[b.start(i):b.ends[i]] }

// after returns the index of the first message not wholly before offset
// off.
func (b *batch) after(off int) int {
	i := 0
	for i < len(b.ends) && b.ends[i] <= off {
		i++
	}
	return i
}

// transport moves framed messages. connect, write and disconnect are
// called from the sink's goroutine only; up and interrupt from any.
type transport interface {
	// connect (re)establishes the connection; ctx ends a dial in progress.
	connect(ctx context.Context) error
	// up reports whether there is a connection not known to be dead.
	up() bool
	// write writes messages from..b.len()-1 and returns the index of the
	// first message it could not write wholly.
	write(b *batch, from int) (int, error)
	// disconnect drops the connection after a failure.
	disconnect()
	// interrupt makes a blocked write return (Close's timeout).
	interrupt()
	// close releases everything at the end.
	close() error
}

// writerTransport writes to stdout or a file: always "connected", a
// failed write is retried like a failed connection.
type writerTransport struct {
	w io.Writer
	c io.Closer // nil for stdout, which is not ours to close
}

func (t *writerTransport) connect(context.Context) error { return nil }
func (t *writerTransport) up() bool                      { return true }
func (t *writerTransport) disconnect()                   {}

// interrupt cannot unblock a write to a stuck stdout; Close gives up on
// such a sink instead.
func (t *writerTransport) interrupt() {}

func (t *writerTransport) write(b *batch, from int) (int, error) {
	off := b.start(from)
	n, err := t.w.Write(b.buf[off:])
	if err != nil {
		return b.after(off + n), fmt.Errorf("writing: %w", err)
	}
	return b.len(), nil
}

func (t *writerTransport) close() error {
	if t.c == nil {
		return nil
	}
	if err := t.c.Close(); err != nil {
		return fmt.Errorf("closing: %w", err)
	}
	return nil
}

// netTransport is a syslog connection over udp, tcp or tls.
type netTransport struct {
	network string // udp, tcp, tls
	address string
	tls     *tls.Config
	timeout time.Duration

	mu   sync.Mutex
	conn net.Conn
	dead chan struct{} // closed when the peer ended the connection
}

func (t *netTransport) connect(ctx context.Context) error {
	t.disconnect() // the peer may have closed it: up was false
	d := &net.Dialer{Timeout: dialTimeout}
	var (
		c   net.Conn
		err error
	)
	switch t.network {
	case "tls":
		c, err = (&tls.Dialer{NetDialer: d, Config: t.tls}).DialContext(ctx, "tcp", t.address)
	default:
		c, err = d.DialContext(ctx, t.network, t.address)
	}
	if err != nil {
		return fmt.Errorf("connecting to %s %s: %w", t.network, t.address, err)
	}
	dead := make(chan struct{})
	if t.network != "udp" {
		// A syslog receiver never talks back, so a read returning is
		// the peer closing: notice it before writing into a socket the
		// peer has closed, where the first write would seem to succeed
		// and be lost.
		go func() {
			_, _ = io.Copy(io.Discard, c)
			close(dead)
		}()
	}
	t.mu.Lock()
	t.conn, t.dead = c, dead
	t.mu.Unlock()
	return nil
}

func (t *netTransport) up() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return false
	}
	select {
	case <-t.dead:
		return false
	default:
		return true
	}
}

func (t *netTransport) write(b *batch, from int) (int, error) {
	t.mu.Lock()
	c := t.conn
	t.mu.Unlock()
	if c == nil {
		return from, errors.New("not connected")
	}
	if err := c.SetWriteDeadline(time.Now().Add(t.timeout)); err != nil {
		return from, fmt.Errorf("setting write deadline: %w", err)
	}
	if t.network == "udp" {
		// One datagram per message.
		for i := from; i < b.len(); i++ {
			if _, err := c.Write(b.msg(i)); err != nil {
				return i, fmt.Errorf("sending to %s: %w", t.address, err)
			}
		}
		return b.len(), nil
	}
	off := b.start(from)
	n, err := c.Write(b.buf[off:])
	if err != nil {
		// Resend from the message cut short: messages written wholly
		// before it are taken as delivered (at-least-once only for what
		// failed to write; TCP itself can lose what the kernel took).
		return b.after(off + n), fmt.Errorf("writing to %s: %w", t.address, err)
	}
	return b.len(), nil
}

func (t *netTransport) disconnect() {
	t.mu.Lock()
	c := t.conn
	t.conn = nil
	t.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (t *netTransport) interrupt() {
	t.mu.Lock()
	if t.conn != nil {
		_ = t.conn.Close()
	}
	t.mu.Unlock()
}

func (t *netTransport) close() error {
	t.disconnect()
	return nil
}

// tlsConfig builds the client side of TLS 1.2+: the server is verified
// against CAFile (or the system pool), under ServerName or the host of
// Address; the client certificate is optional. Errors name the fields
// under key.
func tlsConfig(key string, c SinkConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if tc.ServerName == "" && c.Type != "kafka" { // the Kafka client names each broker it dials
		host, _, err := net.SplitHostPort(c.Address)
		if err != nil {
			return nil, fmt.Errorf("%s.address: %w", key, err)
		}
		tc.ServerName = host
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", key, c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: loading client certificate: %w", key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
