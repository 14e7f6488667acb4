// Package intel is the sensor's local threat intelligence: hash, IP/CIDR,
// domain, JA3 and JA4 lists loaded from files named in the config and
// reloaded without a restart.
//
// Three formats are read: one value per line (with # comments and an
// optional threat level after the value), CSV with a named value column
// (and an optional "level" or "threat_level" column), and STIX 2.1
// bundles whose indicators use simple equality patterns.
//
// Allowlists win over blocklists: a value (or, for IPs and domains, any
// containing CIDR or parent domain) present in an allowlist makes the
// lookup return the allow hit, whatever the blocklists say. A blocklist
// entry without its own threat level scores its source's level, or 10.
//
// A built Set is immutable, so any number of goroutines may query it; the
// Reloader swaps whole Sets behind an atomic pointer.
package intel
