package tlswire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Leaf describes the server's certificate, as a SOC reads it.
type Leaf struct {
	Subject            string
	SubjectCN          string
	Issuer             string
	IssuerCN           string
	SANs               []string // DNS names, IP addresses, e-mail addresses, URIs
	NotBefore          time.Time
	NotAfter           time.Time
	Serial             string // hex, upper case
	SHA1, SHA256       string // of the DER, hex, upper case
	SelfSigned         bool   // subject equals issuer and its own key verifies it
	PublicKeyAlgorithm string
	PublicKeySize      int
	SignatureAlgorithm string
	Version            int
	ChainLength        int
	Error              string // the leaf did not parse as X.509 (its hashes are still there)
}

// ParseCertificateMessage reads a TLS 1.0–1.2 Certificate message and
// describes its first (leaf) certificate. It returns ok=false when the
// message is malformed or empty.
func ParseCertificateMessage(body []byte) (Leaf, bool) {
	der, n, ok := CertificateChain(body)
	if !ok {
		return Leaf{}, false
	}
	l := DescribeLeaf(der)
	l.ChainLength = n
	return l, true
}

// CertificateChain returns the leaf (first) certificate of a TLS ≤ 1.2
// Certificate message body and how many certificates the chain holds.
func CertificateChain(body []byte) (leaf []byte, n int, ok bool) {
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) {
		return nil, 0, false
	}
	// Every certificate is counted (the message is bounded); only the
	// leaf is kept.
	for !list.Empty() {
		var c cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&c) {
			return nil, 0, false
		}
		if n == 0 {
			leaf = c
		}
		n++
	}
	return leaf, n, leaf != nil
}

// DescribeLeaf describes one DER certificate.
func DescribeLeaf(der []byte) Leaf {
	s1, s256 := sha1.Sum(der), sha256.Sum256(der)
	l := Leaf{
		SHA1:   strings.ToUpper(hex.EncodeToString(s1[:])),
		SHA256: strings.ToUpper(hex.EncodeToString(s256[:])),
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	l.Subject, l.SubjectCN = c.Subject.String(), c.Subject.CommonName
	l.Issuer, l.IssuerCN = c.Issuer.String(), c.Issuer.CommonName
	l.NotBefore, l.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	l.Serial = strings.ToUpper(c.SerialNumber.Text(16))
	l.SignatureAlgorithm = c.SignatureAlgorithm.String()
	l.PublicKeyAlgorithm = c.PublicKeyAlgorithm.String()
	l.Version = c.Version
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		l.PublicKeySize = k.N.BitLen()
	case *ecdsa.PublicKey:
		l.PublicKeySize = k.Curve.Params().BitSize
	case ed25519.PublicKey:
		l.PublicKeySize = 256
	}
	l.SANs = append(l.SANs, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		l.SANs = append(l.SANs, ip.String())
	}
	l.SANs = append(l.SANs, c.EmailAddresses...)
	for _, u := range c.URIs {
		l.SANs = append(l.SANs, u.String())
	}
	// CheckSignature, not CheckSignatureFrom: a self-signed leaf need not
	// claim to be a CA.
	l.SelfSigned = bytes.Equal(c.RawSubject, c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	return l
}
