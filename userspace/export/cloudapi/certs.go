package cloudapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/feed"
)

// Files written by GenerateCerts.
const (
	CAFile          = "ca.pem"
	CAKeyFile       = "ca.key"
	ServerCertFile  = "server.pem"
	ServerKeyFile   = "server.key"
	ClientCertFile  = "client.pem"
	ClientKeyFile   = "client.key"
	OtherCAFile     = "other-ca.pem"
	OtherCAKeyFile  = "other-ca.key"
	OtherClientFile = "other-client.pem"
	OtherClientKey  = "other-client.key"
	OtherServerFile = "other-server.pem"
	OtherServerKey  = "other-server.key"
	// The intel feed's signing key pair (Ed25519), separate from TLS:
	// the cloud signs with the first, sensors pin the second.
	FeedKeyFile = "feed.key"
	FeedPubFile = "feed.pub"
)

// GenerateCerts writes a test PKI into dir: a CA with a server certificate
// for 127.0.0.1, ::1 and localhost and a client certificate, plus a second,
// unrelated CA with its own client and server certificates for negative
// tests. Keys are ECDSA P-256 and written 0600; beside them the intel
// feed's Ed25519 signing pair. Existing files are overwritten.
func GenerateCerts(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen-certs: %w", err)
	}
	for _, pki := range []struct {
		ca, caKey, client, clientKey, server, serverKey, name string
	}{
		{CAFile, CAKeyFile, ClientCertFile, ClientKeyFile, ServerCertFile, ServerKeyFile, "edgecloud test CA"},
		{OtherCAFile, OtherCAKeyFile, OtherClientFile, OtherClientKey, OtherServerFile, OtherServerKey, "unrelated test CA"},
	} {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("gen-certs: CA key: %w", err)
		}
		caTmpl := template(pki.name)
		caTmpl.IsCA = true
		caTmpl.BasicConstraintsValid = true
		caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("gen-certs: CA certificate: %w", err)
		}
		caCert, err := x509.ParseCertificate(caDER)
		if err != nil {
			return fmt.Errorf("gen-certs: CA certificate: %w", err)
		}
		if err := writePair(dir, pki.ca, pki.caKey, caDER, caKey); err != nil {
			return err
		}

		srv := template("edgecloud")
		srv.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		srv.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		srv.DNSNames = []string{"localhost"}
		if err := leaf(dir, pki.server, pki.serverKey, srv, caCert, caKey); err != nil {
			return err
		}
		cli := template("edgesensor")
		cli.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if err := leaf(dir, pki.client, pki.clientKey, cli, caCert, caKey); err != nil {
			return err
		}
	}
	if err := feed.GenerateKey(filepath.Join(dir, FeedKeyFile), filepath.Join(dir, FeedPubFile)); err != nil {
		return fmt.Errorf("gen-certs: %w", err)
	}
	return nil
}

func template(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"edgesensor test"}},
		NotBefore:    now.Add(-time.Hour), // tolerate clock skew between processes
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func leaf(dir, certName, keyName string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("gen-certs: %s key: %w", certName, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("gen-certs: %s: %w", certName, err)
	}
	return writePair(dir, certName, keyName, der, key)
}

func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("gen-certs: %s: %w", keyName, err)
	}
	if err := writePEM(filepath.Join(dir, certName), "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, keyName), "PRIVATE KEY", keyDER, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	// Remove first so a pre-existing file with looser permissions does not
	// keep them (WriteFile only applies mode when creating).
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("gen-certs: %w", err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("gen-certs: %w", err)
	}
	return nil
}
