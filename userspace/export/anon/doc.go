// Package anon holds the value-level anonymisers the privacy policy applies
// before anything leaves the sensor: prefix-preserving IP anonymisation
// (Crypto-PAn), truncation and keyed hashing of addresses, keyed hashes of
// e-mail addresses and names, and the rebuilders of free text: URLs
// (URLRules), hosts (Host), certificate names (DN, SAN), file names
// (FileName) and texts (ScrubText, ErrorText). These keep only parts an
// allowlist names and replace the personal values they find, looked at
// percent-decoded however often they were encoded: e-mail addresses, user
// names in profile paths, and the event's client address in any spelling
// (ParseHost, SameHost, ReplaceAddrs).
//
// Keys come from a key file (LoadKey, Keyring); every purpose gets its own
// sub-key derived with HKDF, so a hash published for one field cannot be
// joined with another field, and Key.ID lets the cloud tell rotations apart
// without learning the key.
package anon
