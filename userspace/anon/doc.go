// Package anon holds the value-level anonymisers the privacy policy applies
// before anything leaves the sensor: prefix-preserving IP anonymisation
// (Crypto-PAn), truncation and keyed hashing of addresses, keyed hashes of
// e-mail addresses and names, and scrubbers for URLs and file paths.
//
// Keys come from a key file (LoadKey, Keyring); every purpose gets its own
// sub-key derived with HKDF, so a hash published for one field cannot be
// joined with another field, and Key.ID lets the cloud tell rotations apart
// without learning the key.
package anon
