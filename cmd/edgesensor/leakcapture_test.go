package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/privacy/leaktest"
)

// leakCapture writes one capture of p's traffic: HTTP downloads over
// IPv4 and IPv6 whose URLs, Host, User-Agent, Referer, Cookie,
// Authorization and Content-Disposition carry p's data; a multipart
// upload as Internet Explorer sends it; an SMTP mail with address
// literals in its envelope and headers; a TLS 1.2 handshake whose server
// certificate names p; and a TLS-looking flow where neither hello parses
// (the server speaks first, so the sides cannot be told).
func leakCapture(t *testing.T, g *leaktest.Gen, p *leaktest.Person, path string) {
	b := newCapBuilder(t)
	srv4, srv6 := netip.MustParseAddr("203.0.113.80"), netip.MustParseAddr("2001:db8:ffff::80")
	names := g.FileNames(p, "setup.exe")
	n := 0
	download := func(cli, srv netip.Addr, target, host string) {
		n++
		req := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" +
			"User-Agent: Mozilla/5.0 (Windows NT 10.0; " + p.Device + ")\r\n" +
			"Referer: http://" + g.ClientSpelling(cli) + "/account?email=" + p.Email + "&user=" + p.User + "\r\n" +
			"Cookie: session=" + p.Token + "\r\n" +
			"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(p.User+":"+p.Password)) + "\r\n\r\n"
		body := exeBody(n)
		resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n"+
			"Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", len(body), names[n%len(names)])
		c := b.dial(cli, srv, 80)
		c.send(true, []byte(req))
		c.send(false, append([]byte(resp), body...))
		c.close()
	}
	hosts := func(cli netip.Addr, i int) string {
		switch i % 4 {
		case 0:
			return p.User + ":" + p.Password + "@files.example.com"
		case 1:
			if cli.Is4() {
				return "[::ffff:" + cli.String() + "]:80"
			}
			return "[" + strings.ToUpper(cli.String()) + "]"
		case 2:
			return g.ClientSpelling(cli)
		}
		return "files.example.com"
	}
	for i, u := range g.URLs(p, "files.example.com", "setup.exe", p.V4) {
		download(p.V4, srv4, u, hosts(p.V4, i))
	}
	for i, u := range g.URLs(p, "files.example.com", "setup6.exe", p.V6)[:4] {
		download(p.V6, srv6, u, hosts(p.V6, i))
	}

	// A multipart upload as Internet Explorer sends it: the whole path.
	upload := exeBody(99)
	mp := "--IEb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + names[0] + "\"\r\n" +
		"Content-Type: application/x-msdownload\r\n\r\n" + string(upload) + "\r\n--IEb--\r\n"
	c := b.dial(p.V4, srv4, 80)
	c.send(true, []byte(fmt.Sprintf("POST /upload?user=%s HTTP/1.1\r\nHost: files.example.com\r\nContent-Type: multipart/form-data; boundary=IEb\r\nContent-Length: %d\r\n\r\n%s",
		p.User, len(mp), mp)))
	c.send(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	c.close()

	// SMTP: address literals of the client in the envelope and headers.
	att := base64.StdEncoding.EncodeToString(exeBody(77))
	var lines []string
	for len(att) > 76 {
		lines, att = append(lines, att[:76]), att[76:]
	}
	lines = append(lines, att)
	msg := "From: \"" + p.Words + "\" <" + p.Email + ">\r\nTo: root@[" + p.V4.String() + "]\r\n" +
		"Cc: frank@[IPv6:" + strings.ToUpper(p.V6.String()) + "], " + p.Email2 + "\r\nSubject: " + p.Words + "\r\n" +
		"Message-ID: <" + p.Token + "@" + strings.ToLower(p.Device) + ".example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\n" +
		"Content-Type: application/octet-stream; name=\"invoice.exe\"\r\nContent-Disposition: attachment; filename=\"C:\\Users\\" + p.User + "\\Desktop\\invoice.exe\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + strings.Join(lines, "\r\n") + "\r\n--b1--\r\n.\r\n"
	c = b.dial(p.V4, srv4, 25)
	for _, x := range [][2]string{
		{"", "220 mail.example ESMTP\r\n"},
		{"EHLO " + strings.ToLower(p.Device) + "\r\n", "250-mail.example\r\n250 8BITMIME\r\n"},
		{"MAIL FROM:<" + p.Email + ">\r\n", "250 OK\r\n"},
		{"RCPT TO:<root@[" + p.V4.String() + "]>\r\n", "250 OK\r\n"},
		{"RCPT TO:<frank@[IPv6:" + p.V6.String() + "]>\r\n", "250 OK\r\n"},
		{"DATA\r\n", "354 go ahead\r\n"},
		{msg, "250 queued\r\n"},
		{"QUIT\r\n", "221 bye\r\n"},
	} {
		if x[0] != "" {
			c.send(true, []byte(x[0]))
		}
		c.send(false, []byte(x[1]))
	}
	c.close()

	// TLS 1.2 with a certificate naming p.
	flights := tlsFlights(t, p)
	c = b.dial(p.V4, srv4, 443)
	for _, f := range flights {
		c.send(f.fromClient, f.data)
	}
	c.close()

	// Neither hello parses: the server speaks first with what the data
	// plane takes for a ClientHello (its headers agree) but whose session
	// id runs past its end, then the real client answers with no TLS.
	bad := append([]byte{0x16, 0x03, 0x01, 0x00, 0x2c, 0x01, 0x00, 0x00, 0x28, 0x03, 0x03}, bytes.Repeat([]byte{0xab}, 32)...)
	bad = append(bad, 0x20, 0, 0, 0, 0, 0)
	c = b.dial(p.V4, srv4, 8443)
	c.send(false, bad)
	c.send(true, []byte("HELO "+strings.ToLower(p.Device)+"\r\n"))
	c.close()
	b.write(path)
}

type flight struct {
	fromClient bool
	data       []byte
}

// recConn records what one side of a TLS connection writes.
type recConn struct {
	net.Conn
	client  bool
	mu      *sync.Mutex
	flights *[]flight
}

func (r *recConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	*r.flights = append(*r.flights, flight{r.client, append([]byte(nil), b...)})
	r.mu.Unlock()
	return r.Conn.Write(b)
}

// tlsFlights runs a real TLS 1.2 handshake (crypto/tls on both ends over a
// pipe) whose server certificate carries p's e-mail addresses (rfc822Name
// SAN, emailAddress in subject and issuer), user names (given name, user
// id), a URI SAN with credentials and p's address, and returns what each
// side wrote, in order, then one application record each way.
func tlsFlights(t *testing.T, p *leaktest.Person) []flight {
	oidEmail := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	now := time.Unix(1700000000, 0)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		Subject: pkix.Name{CommonName: "Lab CA", Organization: []string{"Example"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidEmail, Value: p.Email2}}},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(crand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	uri, _ := url.Parse("https://" + p.User + ":" + p.Password + "@portal.example.com/?token=" + p.Token)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		Subject: pkix.Name{CommonName: "portal.example.com", Organization: []string{"Example"}, ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidEmail, Value: p.Email},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: p.User},
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: p.User2},
		}},
		DNSNames: []string{"portal.example.com"}, EmailAddresses: []string{p.Email}, URIs: []*url.URL{uri},
		IPAddresses: []net.IP{p.V4.AsSlice()}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(crand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	var mu sync.Mutex
	var flights []flight
	a, b := net.Pipe()
	cli := tls.Client(&recConn{a, true, &mu, &flights}, &tls.Config{ServerName: "portal.example.com", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	srv := tls.Server(&recConn{b, false, &mu, &flights}, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12})
	done := make(chan error, 1)
	go func() {
		if err := srv.Handshake(); err != nil {
			done <- err
			return
		}
		buf := make([]byte, 64)
		if _, err := srv.Read(buf); err != nil {
			done <- err
			return
		}
		_, err := srv.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
		done <- err
	}()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := cli.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	return flights
}

// tshark runs tshark on a capture and returns its output.
func tshark(t *testing.T, pcap string, args ...string) string {
	t.Helper()
	out, err := exec.Command("tshark", append([]string{"-n", "-r", pcap}, args...)...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return string(out)
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@(\[[^\]]+\]|[A-Za-z0-9.-]+)`)

// wireSecrets extracts personal values from a capture with tshark,
// independently of the sensor: the clients' addresses (senders of SYNs),
// the values of URL query parameters not kept by the mode, user info of
// URLs and Host headers, Basic credentials, cookies, e-mail addresses
// (and their local parts) and address literals from SMTP and the
// message headers, and e-mail addresses and URI credentials from
// certificates.
func wireSecrets(t *testing.T, pcap string, keep []string) []leaktest.Secret {
	var out []leaktest.Secret
	add := func(kind, v string) {
		if len(v) >= 6 || kind == leaktest.IPv4 || kind == leaktest.IPv6 {
			out = append(out, leaktest.Secret{Kind: kind, Value: v})
		}
	}
	for _, l := range strings.Fields(tshark(t, pcap, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields", "-e", "ip.src", "-e", "ipv6.src")) {
		if a, err := netip.ParseAddr(l); err == nil {
			add(map[bool]string{true: leaktest.IPv4, false: leaktest.IPv6}[a.Is4()], a.String())
		}
	}
	uriSecrets := func(raw string) {
		if i := strings.IndexByte(raw, '#'); i >= 0 {
			add(leaktest.Token, raw[i+1:])
			raw = raw[:i]
		}
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if u.User != nil {
			add(leaktest.User, u.User.Username())
			pw, _ := u.User.Password()
			add(leaktest.Password, pw)
		}
		for name, vals := range u.Query() {
			kept := false
			for _, k := range keep {
				kept = kept || strings.EqualFold(k, name)
			}
			for _, v := range vals {
				switch a, err := netip.ParseAddr(strings.Trim(v, "[]")); {
				case err == nil:
					a = a.Unmap()
					add(map[bool]string{true: leaktest.IPv4, false: leaktest.IPv6}[a.Is4()], a.String())
				case !kept && !strings.Contains(v, "://"):
					add(leaktest.Token, v)
				}
			}
		}
	}
	http := tshark(t, pcap, "-Y", "http.request", "-T", "fields", "-E", "separator=\t", "-e", "http.request.uri", "-e", "http.host",
		"-e", "http.authorization", "-e", "http.cookie")
	for _, line := range strings.Split(strings.TrimSpace(http), "\n") {
		f := strings.Split(line, "\t")
		for len(f) < 4 {
			f = append(f, "")
		}
		uriSecrets(f[0])
		if at := strings.LastIndexByte(f[1], '@'); at > 0 {
			user, pass, _ := strings.Cut(f[1][:at], ":")
			add(leaktest.User, user)
			add(leaktest.Password, pass)
		}
		if b64, ok := strings.CutPrefix(f[2], "Basic "); ok {
			if dec, err := base64.StdEncoding.DecodeString(b64); err == nil {
				user, pass, _ := strings.Cut(string(dec), ":")
				add(leaktest.User, user)
				add(leaktest.Password, pass)
			}
		}
		if _, v, ok := strings.Cut(f[3], "="); ok {
			add(leaktest.Token, v)
		}
	}
	mail := tshark(t, pcap, "-T", "fields", "-E", "separator=\t", "-e", "smtp.req.parameter", "-e", "imf.from", "-e", "imf.to", "-e", "imf.cc",
		"-e", "x509ce.rfc822Name", "-e", "x509ce.uniformResourceIdentifier", "-e", "x509sat.IA5String")
	for _, m := range emailRE.FindAllStringSubmatch(mail, -1) {
		add(leaktest.Email, m[0])
		add(leaktest.Local, m[0][:strings.IndexByte(m[0], '@')])
		if a, ok := strings.CutPrefix(strings.Trim(m[1], "[]"), "IPv6:"); ok || strings.HasPrefix(m[1], "[") {
			if addr, err := netip.ParseAddr(a); err == nil {
				add(map[bool]string{true: leaktest.IPv4, false: leaktest.IPv6}[addr.Is4()], addr.String())
			}
		}
	}
	for _, f := range strings.FieldsFunc(mail, func(r rune) bool { return r == '\t' || r == '\n' || r == ',' }) {
		if strings.Contains(f, "://") {
			uriSecrets(f)
		}
	}
	return out
}
