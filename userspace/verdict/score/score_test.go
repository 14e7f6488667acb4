package score

import (
	"testing"
	"time"
)

func TestCombine(t *testing.T) {
	r := func(rule string, w int) Reason { return Reason{Rule: rule, Weight: w} }
	for _, c := range []struct {
		name    string
		in      []Reason
		score   int
		verdict string
	}{
		{"nothing", nil, 0, VerdictClean},
		{"one weak", []Reason{r("a", 3)}, 3, VerdictClean},
		{"one suspicious", []Reason{r("a", 5)}, 5, VerdictSuspicious},
		{"corroborated", []Reason{r("a", 6), r("b", 5)}, 7, VerdictMalicious},
		{"bonus capped at 2", []Reason{r("a", 6), r("b", 5), r("c", 5), r("d", 6)}, 8, VerdictMalicious},
		{"weak ones add nothing", []Reason{r("a", 6), r("b", 4), r("c", 3)}, 6, VerdictSuspicious},
		{"capped at 10", []Reason{r("eicar", 10), r("b", 7)}, 10, VerdictMalicious},
		{"allowlisted hash wins", []Reason{r("eicar", 10), r(RuleAllowHash, 0)}, 0, VerdictAllowed},
		{"weights clamped", []Reason{r("a", 42)}, 10, VerdictMalicious},
	} {
		got := Combine(c.in, 7)
		if got.Score != c.score || got.Verdict != c.verdict {
			t.Errorf("%s: score %d %s, want %d %s", c.name, got.Score, got.Verdict, c.score, c.verdict)
		}
		for i := 1; i < len(got.Reasons); i++ {
			if got.Reasons[i].Weight > got.Reasons[i-1].Weight {
				t.Errorf("%s: reasons not strongest first: %+v", c.name, got.Reasons)
			}
		}
		if got.Reasons == nil {
			t.Errorf("%s: nil reasons (an event must list [] rather than null)", c.name)
		}
	}
	if got := Combine([]Reason{r("a", 5)}, 5); got.Verdict != VerdictMalicious {
		t.Errorf("threshold 5: %s", got.Verdict)
	}
}

func TestCertFlags(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	rules := func(rs []Reason) map[string]bool {
		m := map[string]bool{}
		for _, r := range rs {
			m[r.Rule] = true
		}
		return m
	}
	good := Cert{NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(0, 1, 0), CommonNames: []string{"www.example.test"}}
	if rs := CertFlags(good, now); len(rs) != 0 {
		t.Errorf("a good certificate: %+v", rs)
	}
	bad := Cert{SelfSigned: true, NotBefore: now.AddDate(0, -2, 0), NotAfter: now.AddDate(0, -1, 0), CommonNames: []string{"10.0.0.1"}}
	m := rules(CertFlags(bad, now))
	if !m[RuleCertSelfSigned] || !m[RuleCertExpired] || !m[RuleCertIPName] || m[RuleCertNotYetValid] {
		t.Errorf("self-signed, expired, IP CN: %v", m)
	}
	early := Cert{NotBefore: now.AddDate(0, 0, 1), NotAfter: now.AddDate(1, 0, 0)}
	if m := rules(CertFlags(early, now)); !m[RuleCertNotYetValid] || m[RuleCertExpired] {
		t.Errorf("not yet valid: %v", m)
	}
}
