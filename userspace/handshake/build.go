package handshake

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

// event builds the edgesensor.tls event of a flow; seed seeds its
// community id, lookup enriches the server's side (nil: nothing).
func (f *flow) event(end string, seed uint16, lookup ecs.GeoLookup) *Event {
	transport, proto, ipProto := "tcp", "tls", communityid.TCP
	if f.quic {
		transport, proto, ipProto = "udp", "quic", communityid.UDP
	}
	start, stop := f.first, f.last
	ev := &Event{Base: ecs.Base{
		Timestamp: f.first,
		Event: ecs.Event{Kind: "event", Category: []string{"network"}, Type: []string{"connection", "protocol"},
			Dataset: Dataset, Start: &start, End: &stop, Duration: int64(f.last.Sub(f.first))},
		Observer:    ecs.ObserverOf(f.iface),
		Source:      ecs.EndpointOf(f.client),
		Destination: ecs.ServerOf(f.server, lookup),
		Network:     ecs.NetworkOf(transport, proto, f.client.Addr(), f.vlan),
	}}
	ev.Network.CommunityID = communityid.String(seed, ipProto, f.client, f.server)
	ev.TLS.VersionProtocol = "tls"
	if f.tunnel != nil {
		ev.Network.VLANOf(f.tunnel)
		ev.Edgesensor.Tunnel = f.tunnel
	}
	d := &ev.Edgesensor.TLS
	d.End, d.Packets, d.LostEvents, d.HelloRetry = end, f.packets, f.lost, f.hrr
	errs := f.errs
	for i, dir := range f.dirs {
		if dir == nil {
			continue
		}
		if dir.gap {
			f.gaps = true
		}
		for _, a := range dir.rd.Alerts {
			d.Alerts = append(d.Alerts, tlswire.AlertName(a.Description))
		}
		if dir.rd.Err != nil && dir.rd.Err != errGap {
			errs = append(errs, [2]string{"client", "server"}[i]+" records: "+dir.rd.Err.Error())
		}
	}
	if f.qc != nil {
		f.gaps = f.gaps || f.qc.Gaps()
		if f.qc.BadFrames > 0 {
			errs = append(errs, fmt.Sprintf("%d Initial packets with malformed frames", f.qc.BadFrames))
		}
	}
	if f.moreErrs > 0 {
		errs = append(errs, fmt.Sprintf("%d more", f.moreErrs))
	}
	d.Error = joinErrs(errs)
	d.Gaps = f.gaps
	d.Conflict = f.conflict
	if f.haveCH {
		ev.TLS.Client = f.clientECS()
		d.Client = f.clientDetails()
	} else {
		d.Missing = append(d.Missing, MissingClientHello)
	}
	resumed := false
	if f.haveSH {
		sh := &f.sh
		ev.TLS.Version = tlswire.VersionName(sh.Version())
		ev.TLS.Cipher = tlswire.CipherName(sh.Cipher)
		ev.TLS.NextProtocol = string(sh.ALPN)
		// TLS 1.2 resumption: the server echoes the session ID the client
		// offered (with a ticket too) and sends no certificate.
		resumed = sh.PSKAccepted ||
			sh.Version() <= 0x0303 && len(sh.SessionID) > 0 && f.haveCH && bytes.Equal(sh.SessionID, f.ch.SessionID) &&
				f.leaf == nil
		ev.TLS.Resumed = resumed
		ev.TLS.Server = &TLSServer{JA3S: f.ja3s}
		d.Server = f.serverDetails()
		if sh.HelloRetry {
			// A HelloRetryRequest and no ServerHello after it.
			d.Missing = append(d.Missing, MissingServerHello)
		}
	} else {
		d.Missing = append(d.Missing, MissingServerHello)
	}
	if f.leaf != nil {
		f.leafECS(ev.TLS.Server, d.Server)
	} else if f.haveSH && f.sh.Version() <= 0x0303 && !resumed && !f.quic {
		d.Missing = append(d.Missing, MissingCertificate)
	}
	// TCP: the data plane saw application data both ways. QUIC: all that
	// follows the hellos is encrypted, so it cannot be told.
	ev.TLS.Established = end == "finished" && f.haveSH && !f.quic
	d.Complete = len(d.Missing) == 0
	if f.qc != nil {
		d.QUIC = &QUICDetails{Version: quicVersionName(f.qc.Version), ClientDCID: hex.EncodeToString(f.qc.ClientDCID),
			Packets: f.qc.Packets, Decrypted: f.qc.Decrypted, Undecryptable: f.qc.Undecryptable, Closed: f.qc.Closed}
	}
	return ev
}

func joinErrs(errs []string) string {
	var b bytes.Buffer
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e)
	}
	return b.String()
}

func (f *flow) clientECS() *TLSClient {
	ch := &f.ch
	c := &TLSClient{JA3: f.ja3, JA4: f.ja4, JA4r: f.ja4r, SupportedCiphers: []string{}}
	if ch.ServerName != nil {
		c.ServerName = string(ch.ServerName)
	}
	for _, v := range ch.Ciphers {
		if !tlswire.IsGREASE(v) {
			c.SupportedCiphers = append(c.SupportedCiphers, tlswire.CipherName(v))
		}
	}
	return c
}

func names(vals []uint16, name func(uint16) string) []string {
	var out []string
	for _, v := range vals {
		if !tlswire.IsGREASE(v) {
			out = append(out, name(v))
		}
	}
	return out
}

func (f *flow) clientDetails() *ClientDetails {
	ch := &f.ch
	c := &ClientDetails{
		LegacyVersion:       tlswire.VersionName(ch.LegacyVersion),
		SupportedVersions:   names(ch.SupportedVersions, tlswire.VersionName),
		Extensions:          append([]uint16{}, ch.Extensions...),
		SupportedGroups:     names(ch.SupportedGroups, tlswire.GroupName),
		SignatureAlgorithms: names(ch.SignatureAlgs, tlswire.SignatureName),
		KeyShareGroups:      names(ch.KeyShareGroups, tlswire.GroupName),
		PSKOffered:          ch.PSKOffered,
		SessionTicket:       ch.TicketOffered,
		SessionID:           ch.SessionIDLen > 0,
		EarlyData:           ch.EarlyData,
		ECHOffered:          ch.ECH,
		JA3String:           f.ja3Str,
	}
	for _, p := range ch.ALPN {
		c.ALPN = append(c.ALPN, string(p))
	}
	if ch.ECH && ch.ServerName != nil {
		c.OuterServerName = string(ch.ServerName)
	}
	return c
}

func (f *flow) serverDetails() *ServerDetails {
	sh := &f.sh
	s := &ServerDetails{
		LegacyVersion: tlswire.VersionName(sh.LegacyVersion),
		Extensions:    append([]uint16{}, sh.Extensions...),
		JA3SString:    f.ja3sS,
	}
	if sh.SelectedVersion != 0 {
		s.SelectedVersion = tlswire.VersionName(sh.SelectedVersion)
	}
	if sh.KeyShareGroup != 0 {
		s.KeyShareGroup = tlswire.GroupName(sh.KeyShareGroup)
	}
	return s
}

func (f *flow) leafECS(srv *TLSServer, det *ServerDetails) {
	l := f.leaf
	if srv == nil {
		return
	}
	srv.Hash = &CertHash{SHA1: l.SHA1, SHA256: l.SHA256}
	if det != nil {
		det.ChainLength = f.chainLen
		det.CertError = l.Error
	}
	if l.Error != "" {
		return
	}
	nb, na := l.NotBefore, l.NotAfter
	srv.Subject, srv.Issuer, srv.NotBefore, srv.NotAfter = l.Subject, l.Issuer, &nb, &na
	x := &X509{
		AlternativeNames:   l.SANs,
		Issuer:             X509Name{DistinguishedName: l.Issuer},
		Subject:            X509Name{DistinguishedName: l.Subject},
		NotBefore:          l.NotBefore,
		NotAfter:           l.NotAfter,
		SerialNumber:       l.Serial,
		SignatureAlgorithm: l.SignatureAlgorithm,
		PublicKeyAlgorithm: l.PublicKeyAlgorithm,
		PublicKeySize:      l.PublicKeySize,
		VersionNumber:      strconv.Itoa(l.Version),
	}
	if l.IssuerCN != "" {
		x.Issuer.CommonName = []string{l.IssuerCN}
	}
	if l.SubjectCN != "" {
		x.Subject.CommonName = []string{l.SubjectCN}
	}
	srv.X509 = x
	if det != nil {
		self := l.SelfSigned
		det.SelfSigned = &self
	}
}
