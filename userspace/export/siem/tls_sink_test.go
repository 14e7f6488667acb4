package siem

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a CA with a server and a client certificate.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"siem.test"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client.key"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	cert, key := issue(2, "client", x509.ExtKeyUsageClientAuth)
	write(p.certFile, cert)
	write(p.keyFile, key)
	cert, key = issue(3, "server", x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.X509KeyPair(cert, key); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLS(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
				Certificates: []tls.Certificate{pki.server},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    pki.pool,
				MinVersion:   version,
				MaxVersion:   version,
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := newFrameServer(t, ln)
			f := newFanout(t, SinkConfig{Name: "tls", Type: "syslog", Network: "tls", Address: ln.Addr().String(),
				CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile})
			for i := range 50 {
				f.Write(rec(numbered(i)))
			}
			checkLines(t, collectFrames(t, srv.frames, 50), 0, 50)
		})
	}
}

func TestTLSUntrustedServer(t *testing.T) {
	pki, other := newPKI(t), newPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newFrameServer(t, ln)
	f := newFanout(t, SinkConfig{Name: "tls", Type: "syslog", Network: "tls", Address: ln.Addr().String(), CAFile: other.caFile})
	f.Write(rec(numbered(0)))
	waitFor(t, "failed handshakes", func() bool { return f.Stats()[0].Errors >= 3 })
	if st := f.Stats()[0]; st.Connected || st.Sent != 0 {
		t.Errorf("connected to an untrusted server: %+v", st)
	}
	select {
	case fr := <-srv.frames:
		t.Errorf("server got %q", fr)
	default:
	}
}

func TestTLSServerName(t *testing.T) {
	pki := newPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newFrameServer(t, ln)
	f := newFanout(t,
		SinkConfig{Name: "right", Type: "syslog", Network: "tls", Address: ln.Addr().String(), CAFile: pki.caFile, ServerName: "siem.test"},
		SinkConfig{Name: "wrong", Type: "syslog", Network: "tls", Address: ln.Addr().String(), CAFile: pki.caFile, ServerName: "other.test"},
	)
	f.Write(rec(numbered(0)))
	collectFrames(t, srv.frames, 1)
	waitFor(t, "the wrong name to fail", func() bool { return f.Stats()[1].Errors >= 2 })
	waitFor(t, "Sent", func() bool { return f.Stats()[0].Sent == 1 })
	if st := f.Stats(); st[1].Sent != 0 || st[1].Connected {
		t.Errorf("stats %+v", st)
	}
}
