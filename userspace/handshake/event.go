package handshake

import (
	"fmt"
	"time"

	"github.com/edgesensor/edgesensor/userspace/ecs"
	"github.com/edgesensor/edgesensor/userspace/score"
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
	Version         string     `json:"version,omitempty"`
	VersionProtocol string     `json:"version_protocol"`
	Cipher          string     `json:"cipher,omitempty"`
	NextProtocol    string     `json:"next_protocol,omitempty"`
	Established     bool       `json:"established"`
	Resumed         bool       `json:"resumed"`
	Client          *TLSClient `json:"client,omitempty"`
	Server          *TLSServer `json:"server,omitempty"`
}

// TLSClient is tls.client.*.
type TLSClient struct {
	ServerName       string   `json:"server_name,omitempty"`
	JA3              string   `json:"ja3"`
	JA4              string   `json:"ja4"`
	JA4r             string   `json:"ja4_r"`
	SupportedCiphers []string `json:"supported_ciphers"`
}

// TLSServer is tls.server.*.
type TLSServer struct {
	JA3S      string     `json:"ja3s,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	Issuer    string     `json:"issuer,omitempty"`
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	Hash      *CertHash  `json:"hash,omitempty"`
	X509      *X509      `json:"x509,omitempty"`
}

// CertHash is tls.server.hash.*: digests of the leaf's DER, upper case.
type CertHash struct {
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
}

// X509 is tls.server.x509.*.
type X509 struct {
	AlternativeNames   []string  `json:"alternative_names,omitempty"`
	Issuer             X509Name  `json:"issuer"`
	Subject            X509Name  `json:"subject"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	SerialNumber       string    `json:"serial_number"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	PublicKeyAlgorithm string    `json:"public_key_algorithm"`
	PublicKeySize      int       `json:"public_key_size,omitempty"`
	VersionNumber      string    `json:"version_number"`
}

// X509Name is an issuer or subject.
type X509Name struct {
	CommonName        []string `json:"common_name,omitempty"`
	DistinguishedName string   `json:"distinguished_name"`
}

// Edgesensor holds what ECS has no names for.
type Edgesensor struct {
	TLS    Details       `json:"tls"`
	Score  *score.Result `json:"score,omitempty"`
	Tunnel *ecs.Tunnel   `json:"tunnel,omitempty"`
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
	End        string `json:"end"`
	HelloRetry bool   `json:"hello_retry,omitempty"`
	Packets    int    `json:"packets"`
	LostEvents bool   `json:"lost_events,omitempty"` // the data plane dropped events of this flow
	Gaps       bool   `json:"gaps,omitempty"`        // bytes were missing in a direction
	// Conflict: bytes of the handshake came twice with different content
	// (a copy that reached the sensor need not have reached the host):
	// what was read may not be what the endpoints read.
	Conflict bool           `json:"conflict,omitempty"`
	Alerts   []string       `json:"alerts,omitempty"`
	Client   *ClientDetails `json:"client,omitempty"`
	Server   *ServerDetails `json:"server,omitempty"`
	QUIC     *QUICDetails   `json:"quic,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// ClientDetails are the ClientHello beyond ECS.
type ClientDetails struct {
	LegacyVersion       string   `json:"legacy_version"`
	SupportedVersions   []string `json:"supported_versions,omitempty"`
	ALPN                []string `json:"alpn,omitempty"`
	Extensions          []uint16 `json:"extensions"`
	SupportedGroups     []string `json:"supported_groups,omitempty"`
	SignatureAlgorithms []string `json:"signature_algorithms,omitempty"`
	KeyShareGroups      []string `json:"key_share_groups,omitempty"`
	PSKOffered          bool     `json:"psk_offered"`
	SessionTicket       bool     `json:"session_ticket"`
	SessionID           bool     `json:"session_id"`
	EarlyData           bool     `json:"early_data,omitempty"`
	ECHOffered          bool     `json:"ech_offered"`
	// OuterServerName is set when ECH is offered: the SNI in the clear is
	// the client-facing server's public name, not the real destination.
	OuterServerName string `json:"outer_server_name,omitempty"`
	JA3String       string `json:"ja3_string"`
}

// ServerDetails are the ServerHello and certificate beyond ECS.
type ServerDetails struct {
	LegacyVersion   string   `json:"legacy_version"`
	SelectedVersion string   `json:"selected_version,omitempty"`
	Extensions      []uint16 `json:"extensions"`
	KeyShareGroup   string   `json:"key_share_group,omitempty"`
	JA3SString      string   `json:"ja3s_string"`
	SelfSigned      *bool    `json:"self_signed,omitempty"`
	ChainLength     int      `json:"chain_length,omitempty"`
	CertError       string   `json:"certificate_error,omitempty"`
}

// QUICDetails are the QUIC Initial packets' side.
type QUICDetails struct {
	Version       string `json:"version"`
	ClientDCID    string `json:"client_dcid"`
	Packets       int    `json:"initial_packets"`
	Decrypted     int    `json:"decrypted"`
	Undecryptable int    `json:"undecryptable,omitempty"`
	Closed        bool   `json:"connection_close,omitempty"`
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
	f.ScoreFields(e.Edgesensor.Score)
	return f
}
