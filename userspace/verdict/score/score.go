package score

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// DefaultThreshold is the score from which an event's verdict is
// "malicious" (score.threshold).
const DefaultThreshold = 7

// Pending is the score of an event still waiting for an answer (the
// cloud); nothing local is pending.
const Pending = -1

// Verdicts.
const (
	VerdictMalicious  = "malicious"  // score >= threshold
	VerdictSuspicious = "suspicious" // 4 <= score < threshold
	VerdictClean      = "clean"      // below 4
	VerdictAllowed    = "allowed"    // the file's hash is on an allowlist
)

// Result is what an event carries: event.risk_score, and under
// edgesensor.score the verdict and the reasons.
type Result struct {
	Score   int      `json:"-"`
	Verdict string   `json:"verdict"` // malicious (from score.threshold), suspicious (from 4), clean, or allowed (an allowlisted hash)
	Reasons []Reason `json:"reasons"` // what raised the score, highest first
	// Cloud is -1 while the cloud's verdict is pending (the uplink looks
	// the file's hash up); the verdict arrives as an edgesensor.verdict
	// event. Absent without an uplink.
	Cloud *int `json:"cloud,omitempty"`
}

// Rule ids of the reasons this package makes.
const (
	RuleIntelHash   = "intel.hash"
	RuleIntelIP     = "intel.ip"
	RuleIntelDomain = "intel.domain"
	RuleIntelJA3    = "intel.ja3"
	RuleIntelJA4    = "intel.ja4"
	RuleAllowHash   = "intel.allow_hash"

	RuleCertSelfSigned  = "tls.cert_self_signed"
	RuleCertExpired     = "tls.cert_expired"
	RuleCertNotYetValid = "tls.cert_not_yet_valid"
	RuleCertIPName      = "tls.cert_ip_common_name"
)

// Combine turns reasons into a score, so that the score can be explained
// from the reasons alone:
//
//   - no reason: 0;
//   - otherwise the strongest reason's weight, plus 1 for each other
//     reason of weight 5 or more (at most +2: independent findings
//     corroborate each other), at most 10;
//   - a file whose hash is on an allowlist scores 0 ("allowed"), whatever
//     else was found: the customer has vouched for exactly these bytes.
//
// The verdict is malicious from threshold on, suspicious from 4, else
// clean. Reasons are listed strongest first.
func Combine(reasons []Reason, threshold int) Result {
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	rs := append([]Reason(nil), reasons...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Weight > rs[j].Weight })
	if rs == nil {
		rs = []Reason{}
	}
	for _, r := range rs {
		if r.Rule == RuleAllowHash {
			return Result{Score: 0, Verdict: VerdictAllowed, Reasons: rs}
		}
	}
	s := 0
	if len(rs) > 0 {
		s = clamp(rs[0].Weight)
		bonus := 0
		for _, r := range rs[1:] {
			if r.Weight >= 5 && bonus < 2 {
				bonus++
			}
		}
		s = min(10, s+bonus)
	}
	v := VerdictClean
	switch {
	case s >= threshold:
		v = VerdictMalicious
	case s >= 4:
		v = VerdictSuspicious
	}
	return Result{Score: s, Verdict: v, Reasons: rs}
}

func clamp(w int) int { return max(0, min(10, w)) }

// level is the weight of an intel hit: its own threat level, else 10.
func level(h intel.Hit) int {
	if h.Level <= 0 {
		return 10
	}
	return clamp(h.Level)
}

func hitReason(rule, what string, h intel.Hit) Reason {
	return Reason{Rule: rule, Weight: level(h), Text: fmt.Sprintf("%s %s is on blocklist %s", what, h.Value, h.Source)}
}

// FileIntel looks a file and where it came from up in the intel: its
// hashes (an allowlisted hash gives RuleAllowHash), the server's address,
// and the hosts it was fetched from or mailed through. set may be nil.
func FileIntel(set *intel.Set, sha256, sha1, md5 string, server netip.Addr, hosts ...string) []Reason {
	if set == nil {
		return nil
	}
	var rs []Reason
	if sha256 != "" || sha1 != "" || md5 != "" {
		if h, ok := set.Hash(sha256, sha1, md5); ok {
			if h.Allow {
				rs = append(rs, Reason{Rule: RuleAllowHash, Text: fmt.Sprintf("hash %s is on allowlist %s", h.Value, h.Source)})
			} else {
				rs = append(rs, hitReason(RuleIntelHash, "file hash", h))
			}
		}
	}
	rs = append(rs, endpointIntel(set, server, hosts)...)
	return rs
}

// TLSIntel looks a handshake up: JA3, JA4, SNI and the server's address.
func TLSIntel(set *intel.Set, ja3, ja4, sni string, server netip.Addr) []Reason {
	if set == nil {
		return nil
	}
	var rs []Reason
	if ja3 != "" {
		if h, ok := set.JA3(ja3); ok && !h.Allow {
			rs = append(rs, hitReason(RuleIntelJA3, "JA3", h))
		}
	}
	if ja4 != "" {
		if h, ok := set.JA4(ja4); ok && !h.Allow {
			rs = append(rs, hitReason(RuleIntelJA4, "JA4", h))
		}
	}
	var hosts []string
	if sni != "" {
		hosts = append(hosts, sni)
	}
	return append(rs, endpointIntel(set, server, hosts)...)
}

func endpointIntel(set *intel.Set, server netip.Addr, hosts []string) []Reason {
	var rs []Reason
	if server.IsValid() {
		if h, ok := set.IP(server.Unmap()); ok && !h.Allow {
			rs = append(rs, hitReason(RuleIntelIP, "server address", h))
		}
	}
	seen := map[string]bool{}
	for _, host := range hosts {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if host == "" || seen[host] {
			continue
		}
		seen[host] = true
		if _, err := netip.ParseAddr(host); err == nil {
			continue // an address in a Host header: the IP lookup covers it
		}
		if h, ok := set.Domain(host); ok && !h.Allow {
			rs = append(rs, Reason{Rule: RuleIntelDomain, Weight: level(h),
				Text: fmt.Sprintf("host %s matches %s on blocklist %s", host, h.Value, h.Source)})
		}
	}
	return rs
}

// Cert is what TLS scoring needs of a TLS ≤ 1.2 server certificate.
type Cert struct {
	SelfSigned          bool
	NotBefore, NotAfter time.Time
	CommonNames         []string
}

// CertFlags are the red flags of a server certificate seen in the clear,
// judged at time now (the handshake's time).
func CertFlags(c Cert, now time.Time) []Reason {
	var rs []Reason
	if c.SelfSigned {
		rs = append(rs, Reason{Rule: RuleCertSelfSigned, Weight: 4, Text: "the server's certificate is self-signed"})
	}
	if !c.NotAfter.IsZero() && now.After(c.NotAfter) {
		rs = append(rs, Reason{Rule: RuleCertExpired, Weight: 5,
			Text: "the server's certificate expired on " + c.NotAfter.UTC().Format(time.DateOnly)})
	}
	if !c.NotBefore.IsZero() && now.Before(c.NotBefore) {
		rs = append(rs, Reason{Rule: RuleCertNotYetValid, Weight: 5,
			Text: "the server's certificate is not valid before " + c.NotBefore.UTC().Format(time.DateOnly)})
	}
	for _, cn := range c.CommonNames {
		if _, err := netip.ParseAddr(cn); err == nil {
			rs = append(rs, Reason{Rule: RuleCertIPName, Weight: 3, Text: "the certificate's common name is an IP address: " + cn})
			break
		}
	}
	return rs
}
