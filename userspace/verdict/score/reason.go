// Package score turns what is known of a file or a handshake into the
// threat score customers act on: 0 (nothing against it) to 10 (known
// malicious), with the reasons that explain it.
package score

// Reason is one finding behind a score: a stable rule id (analysts write
// rules and dashboards against it), a short text, and the score the
// finding alone stands for (0 to 10).
type Reason struct {
	Rule   string `json:"rule"`   // the rule's id (intel.hash, pe.packed, ...)
	Text   string `json:"text"`   // what it found, for people
	Weight int    `json:"weight"` // what it adds to the score (0-10)
}
