package handshake

import (
	"fmt"
	"time"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Dataset is event.dataset of handshake events.
const Dataset = "edgesensor.tls"

// What edgesensor.tls.missing may list.
const (
	MissingClientHello = "client_hello"
	MissingServerHello = "server_hello"
	MissingCertificate = "certificate"
)

// Event is one edgesensor.tls event: one TLS or QUIC handshake.
type Event struct {
	ecs.Base
	TLS        TLS        `json:"tls"`
	Edgesensor Edgesensor `json:"edgesensor"`
}

// TLS is ECS tls.* (plus ja4 and ja4_r, which ECS has no field for).
type TLS struct {
	Version         string `json:"version,omitempty"` // negotiated: 1.0 to 1.3, from the ServerHello
	VersionProtocol string `json:"version_protocol"`  // "tls"
	Cipher          string `json:"cipher,omitempty"`  // negotiated cipher suite, IANA name
	// NextProtocol is the ALPN protocol the server chose (TLS 1.2 and
	// older: TLS 1.3 and QUIC encrypt it).
	NextProtocol string `json:"next_protocol,omitempty"`
	// Established: application data went both ways (never for QUIC,
	// whose handshake is encrypted after the hellos).
	Established bool `json:"established"`
	// Resumed: the server accepted a session resumption (PSK or ticket).
	Resumed bool       `json:"resumed"`
	Client  *TLSClient `json:"client,omitempty"`
	Server  *TLSServer `json:"server,omitempty"`
}

// TLSClient is tls.client.*.
type TLSClient struct {
	// ServerName is the SNI; with ECH, the outer (public) name.
	ServerName string `json:"server_name,omitempty"`
	JA3        string `json:"ja3"`   // MD5 of the JA3 string (GREASE removed)
	JA4        string `json:"ja4"`   // the JA4 fingerprint (t or q)
	JA4r       string `json:"ja4_r"` // JA4 before hashing: the sorted lists in the clear
	// SupportedCiphers are the offered cipher suites, IANA names, in order.
	SupportedCiphers []string `json:"supported_ciphers"`
}

// TLSServer is tls.server.*.
type TLSServer struct {
	JA3S      string     `json:"ja3s,omitempty"`       // MD5 of the JA3S string
	Subject   string     `json:"subject,omitempty"`    // the leaf certificate's subject (RFC 4514), TLS 1.2 and older
	Issuer    string     `json:"issuer,omitempty"`     // its issuer
	NotBefore *time.Time `json:"not_before,omitempty"` // its validity
	NotAfter  *time.Time `json:"not_after,omitempty"`  // the end of its validity
	Hash      *CertHash  `json:"hash,omitempty"`
	X509      *X509      `json:"x509,omitempty"`
}

// CertHash is tls.server.hash.*: digests of the leaf's DER, upper case.
type CertHash struct {
	SHA1   string `json:"sha1"`   // of the leaf certificate's DER
	SHA256 string `json:"sha256"` // of the leaf certificate's DER
}

// X509 is tls.server.x509.*.
type X509 struct {
	AlternativeNames   []string  `json:"alternative_names,omitempty"` // DNS names, addresses, e-mails and URIs of the SAN extension
	Issuer             X509Name  `json:"issuer"`
	Subject            X509Name  `json:"subject"`
	NotBefore          time.Time `json:"not_before"`                // validity start
	NotAfter           time.Time `json:"not_after"`                 // validity end
	SerialNumber       string    `json:"serial_number"`             // hex, upper case
	SignatureAlgorithm string    `json:"signature_algorithm"`       // e.g. SHA256-RSA
	PublicKeyAlgorithm string    `json:"public_key_algorithm"`      // RSA, ECDSA, Ed25519
	PublicKeySize      int       `json:"public_key_size,omitempty"` // bits
	VersionNumber      string    `json:"version_number"`            // the X.509 version (3)
}

// X509Name is an issuer or subject.
type X509Name struct {
	CommonName        []string `json:"common_name,omitempty"` // the CN attributes
	DistinguishedName string   `json:"distinguished_name"`    // RFC 4514
}

// Edgesensor holds what ECS has no names for.
type Edgesensor struct {
	TLS    Details       `json:"tls"`
	Score  *score.Result `json:"score,omitempty"`
	Tunnel *ecs.Tunnel   `json:"tunnel,omitempty"`
	// Capture: the flow's packets, written on the box because the event
	// alerted ([capture_on_alert]).
	Capture *ecs.Capture `json:"capture,omitempty"`
}

// Details describe the handshake beyond ECS.
type Details struct {
	// Complete: the ClientHello, the ServerHello and (TLS 1.2 and older,
	// not resumed) the certificate were all read.
	Complete bool `json:"complete"`
	// Missing lists what was expected and not read: client_hello,
	// server_hello, certificate.
	Missing []string `json:"missing,omitempty"`
	// End says why the event was written: finished (application data
	// both ways), closed (FIN/RST), budget (packet budget spent), not_tls,
	// idle, timeout, server_silent (QUIC without an answer), restarted (a
	// new handshake on the same flow), evicted (table full), shutdown.
	End string `json:"end"`
	// HelloRetry: the server asked for another key share; the
	// ServerHello reported is the one after it.
	HelloRetry bool `json:"hello_retry,omitempty"`
	Packets    int  `json:"packets"`               // packets of the flow the analysis read
	LostEvents bool `json:"lost_events,omitempty"` // the data plane dropped events of this flow that could hold the handshake
	Gaps       bool `json:"gaps,omitempty"`        // bytes of the plaintext handshake were missing in a direction
	// Conflict: bytes of the handshake came twice with different content
	// (a copy that reached the sensor need not have reached the host):
	// what was read may not be what the endpoints read.
	Conflict bool           `json:"conflict,omitempty"`
	Alerts   []string       `json:"alerts,omitempty"` // alert descriptions seen in the clear
	Client   *ClientDetails `json:"client,omitempty"`
	Server   *ServerDetails `json:"server,omitempty"`
	QUIC     *QUICDetails   `json:"quic,omitempty"`
	Error    string         `json:"error,omitempty"` // what did not parse (at most four, the rest counted)
}

// ClientDetails are the ClientHello beyond ECS.
type ClientDetails struct {
	LegacyVersion       string   `json:"legacy_version"`                 // the hello's version field
	SupportedVersions   []string `json:"supported_versions,omitempty"`   // from supported_versions
	ALPN                []string `json:"alpn,omitempty"`                 // protocols offered, in order
	Extensions          []uint16 `json:"extensions"`                     // extension types in wire order, GREASE included
	SupportedGroups     []string `json:"supported_groups,omitempty"`     // named groups offered
	SignatureAlgorithms []string `json:"signature_algorithms,omitempty"` // signature schemes offered
	KeyShareGroups      []string `json:"key_share_groups,omitempty"`     // groups of the key shares sent
	PSKOffered          bool     `json:"psk_offered"`                    // pre_shared_key: resumption or an external PSK
	SessionTicket       bool     `json:"session_ticket"`                 // a non-empty session ticket (TLS 1.2 resumption)
	SessionID           bool     `json:"session_id"`                     // a non-empty legacy session id
	EarlyData           bool     `json:"early_data,omitempty"`           // 0-RTT data announced
	ECHOffered          bool     `json:"ech_offered"`                    // encrypted_client_hello present
	// OuterServerName is set when ECH is offered: the SNI in the clear is
	// the client-facing server's public name, not the real destination.
	OuterServerName string `json:"outer_server_name,omitempty"`
	JA3String       string `json:"ja3_string"` // the JA3 string before hashing
}

// ServerDetails are the ServerHello and certificate beyond ECS.
type ServerDetails struct {
	LegacyVersion   string   `json:"legacy_version"`             // the hello's version field
	SelectedVersion string   `json:"selected_version,omitempty"` // from supported_versions (TLS 1.3)
	Extensions      []uint16 `json:"extensions"`                 // extension types in wire order
	KeyShareGroup   string   `json:"key_share_group,omitempty"`  // the group of the server's key share
	JA3SString      string   `json:"ja3s_string"`                // the JA3S string before hashing
	// SelfSigned: the leaf's subject equals its issuer and its own key
	// verifies its signature.
	SelfSigned  *bool  `json:"self_signed,omitempty"`
	ChainLength int    `json:"chain_length,omitempty"`      // certificates the server sent
	CertError   string `json:"certificate_error,omitempty"` // why the leaf did not parse
}

// QUICDetails are the QUIC Initial packets' side.
type QUICDetails struct {
	Version       string `json:"version"`                    // QUIC version: 1, 2 or the hex of another
	ClientDCID    string `json:"client_dcid"`                // the client's first destination connection id (hex): it keys the Initial secrets
	Packets       int    `json:"initial_packets"`            // Initial packets seen
	Decrypted     int    `json:"decrypted"`                  // of which decrypted
	Undecryptable int    `json:"undecryptable,omitempty"`    // of which not (another key, damage)
	Closed        bool   `json:"connection_close,omitempty"` // a CONNECTION_CLOSE frame in an Initial
}

func quicVersionName(v uint32) string {
	switch v {
	case 1:
		return "1"
	case 0x6b3343cf:
		return "2"
	}
	return fmt.Sprintf("0x%08x", v)
}

// Fields implements ecs.Document.
func (e *Event) Fields() ecs.Fields {
	f := e.BaseFields()
	f.TLSVersion = e.TLS.Version
	if c := e.TLS.Client; c != nil {
		f.ServerName, f.JA3, f.JA4 = c.ServerName, c.JA3, c.JA4
	}
	var ch, sh bool
	for _, m := range e.Edgesensor.TLS.Missing {
		ch = ch || m == MissingClientHello
		sh = sh || m == MissingServerHello
	}
	f.UnknownSide = ch && sh
	d := &e.Edgesensor.TLS
	f.NoClientHello, f.LostEvents, f.Gaps = ch, d.LostEvents, d.Gaps
	f.ScoreFields(e.Edgesensor.Score)
	return f
}
