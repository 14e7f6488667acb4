package anon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/netip"
	"sync"
)

// Truncate keeps the top v4bits of an IPv4 address (IPv4-mapped IPv6
// included, answered as IPv4) or the top v6bits of an IPv6 address and zeroes
// the host bits, e.g. Truncate(a, 24, 48). Bit counts are clamped to the
// address length; the zone is dropped. The zero Addr maps to itself.
func Truncate(a netip.Addr, v4bits, v6bits int) netip.Addr {
	if !a.IsValid() {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	n := v6bits
	if a.Is4() {
		n = v4bits
	}
	n = max(0, min(n, a.BitLen()))
	p, err := a.Prefix(n)
	if err != nil { // unreachable: n is clamped and a is valid
		return netip.Addr{}
	}
	return p.Addr()
}

// HMACAddr is a keyed pseudonym for an address: HMAC-SHA256 over its 4-byte
// (IPv4, including IPv4-mapped) or 16-byte form, first 16 bytes in hex (32
// chars). Unlike Crypto-PAn it keeps no prefix relation, so it leaks nothing
// about the network. The zone is ignored; the zero Addr gives "".
func HMACAddr(key []byte, a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return macHex(key, a.Unmap().AsSlice(), 16)
}

// macHex is the hex of the first n bytes of HMAC-SHA256(key, msg).
func macHex(key, msg []byte, n int) string {
	p := macPool(key)
	m, _ := p.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, key)
	}
	m.Reset()
	m.Write(msg)
	var sum [sha256.Size]byte
	s := hex.EncodeToString(m.Sum(sum[:0])[:n])
	p.Put(m)
	return s
}

// macPools keeps HMACs per key for reuse: a record hashes several values
// under a few keys, and a new HMAC costs three allocations. Keys are the
// policy's, few and fixed; the map is bounded by maxMacKeys. It is keyed
// by the key's digest, not the key: a rotated key must not stay in memory
// for as long as the map lives (the pooled HMACs go with the collector).
var (
	macMu    sync.RWMutex
	macPools = map[[sha256.Size]byte]*sync.Pool{}
)

const maxMacKeys = 64

func macPool(key []byte) *sync.Pool {
	id := sha256.Sum256(key)
	macMu.RLock()
	p := macPools[id]
	macMu.RUnlock()
	if p != nil {
		return p
	}
	macMu.Lock()
	defer macMu.Unlock()
	if p = macPools[id]; p == nil {
		if len(macPools) >= maxMacKeys {
			clear(macPools) // keys of policies replaced long ago
		}
		p = new(sync.Pool)
		macPools[id] = p
	}
	return p
}
