package handshake

import (
	"net/netip"

	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Scorer returns a Config.Score that scores handshakes: JA3, JA4, SNI and
// server address against the intel, and for TLS ≤ 1.2 the red flags of
// the certificate seen in the clear. set returns the current intel (it
// may be reloaded meanwhile) or nil.
func Scorer(set func() *intel.Set, threshold int) func(*Event) {
	return func(ev *Event) {
		var is *intel.Set
		if set != nil {
			is = set()
		}
		var ja3, ja4, sni string
		if c := ev.TLS.Client; c != nil {
			ja3, ja4, sni = c.JA3, c.JA4, c.ServerName
		}
		server, _ := netip.ParseAddr(ev.Destination.IP)
		reasons := score.TLSIntel(is, ja3, ja4, sni, server)
		if s := ev.TLS.Server; s != nil && s.X509 != nil {
			c := score.Cert{NotBefore: s.X509.NotBefore, NotAfter: s.X509.NotAfter, CommonNames: s.X509.Subject.CommonName}
			if d := ev.Edgesensor.TLS.Server; d != nil && d.SelfSigned != nil {
				c.SelfSigned = *d.SelfSigned
			}
			reasons = append(reasons, score.CertFlags(c, ev.Timestamp)...)
		}
		r := score.Combine(reasons, threshold)
		ev.Event.RiskScore = &r.Score
		ev.Edgesensor.Score = &r
	}
}
