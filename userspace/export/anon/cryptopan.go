package anon

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// CryptoPAnKeySize is the Crypto-PAn key length: 16 bytes of AES key followed
// by 16 bytes that, encrypted, become the pad.
const CryptoPAnKeySize = 32

// DefaultCryptoPAnCache is the number of IPv4 /24 prefixes NewCryptoPAn
// remembers. Each slot is 8 bytes, so the default costs 512 KiB.
const DefaultCryptoPAnCache = 1 << 16

// v4CachedBits is how many leading flip bits the IPv4 cache holds: a /24
// hit leaves 8 AES blocks per address instead of 32.
const v4CachedBits = 24

// CryptoPAn is the prefix-preserving IP anonymiser of Xu, Fan, Ammar and Moon
// ("Prefix-Preserving IP Address Anonymization", ICNP 2002), bit-compatible
// with the original reference implementation for IPv4 and with the common
// 128-bit extension (yacryptopan, pycryptopan, Yawning/cryptopan,
// node-cryptopan) for IPv6. It is safe for concurrent use.
type CryptoPAn struct {
	block        cipher.Block
	padHi, padLo uint64
	cache        *prefixCache // nil: caching disabled
	bufs         sync.Pool    // *[aes.BlockSize]byte; see encryptMSB
}

// NewCryptoPAn returns a Crypto-PAn anonymiser for a 32-byte key, with an IPv4
// prefix cache of DefaultCryptoPAnCache entries.
func NewCryptoPAn(key []byte) (*CryptoPAn, error) {
	return NewCryptoPAnCache(key, DefaultCryptoPAnCache)
}

// NewCryptoPAnCache is NewCryptoPAn with an IPv4 prefix cache of at least
// entries /24 prefixes (rounded up to a power of two); 0 disables the cache.
func NewCryptoPAnCache(key []byte, entries int) (*CryptoPAn, error) {
	if len(key) != CryptoPAnKeySize {
		return nil, fmt.Errorf("anon: crypto-pan key is %d bytes, want %d", len(key), CryptoPAnKeySize)
	}
	if entries < 0 {
		return nil, fmt.Errorf("anon: crypto-pan cache size %d is negative", entries)
	}
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		return nil, fmt.Errorf("anon: crypto-pan cipher: %w", err)
	}
	var pad [aes.BlockSize]byte
	block.Encrypt(pad[:], key[16:])
	c := &CryptoPAn{
		block: block,
		padHi: binary.BigEndian.Uint64(pad[:8]),
		padLo: binary.BigEndian.Uint64(pad[8:]),
	}
	c.bufs.New = func() any { return new([aes.BlockSize]byte) }
	if entries > 0 {
		c.cache = newPrefixCache(entries)
	}
	return c, nil
}

// Anonymize maps a to its anonymised counterpart. IPv4 and IPv4-mapped IPv6
// addresses come back as IPv4; IPv6 zones are dropped because they name local
// interfaces, which mean nothing next to a rewritten address. The zero Addr
// maps to itself.
func (c *CryptoPAn) Anonymize(a netip.Addr) netip.Addr {
	switch {
	case a.Is4() || a.Is4In6():
		v4 := a.Unmap().As4()
		binary.BigEndian.PutUint32(v4[:], c.anonymize4(binary.BigEndian.Uint32(v4[:])))
		return netip.AddrFrom4(v4)
	case a.Is6():
		v6 := a.As16()
		hi := binary.BigEndian.Uint64(v6[:8])
		lo := binary.BigEndian.Uint64(v6[8:])
		fhi, flo := c.flips(hi, lo, 0, 128)
		binary.BigEndian.PutUint64(v6[:8], hi^fhi)
		binary.BigEndian.PutUint64(v6[8:], lo^flo)
		return netip.AddrFrom16(v6)
	default:
		return netip.Addr{}
	}
}

// anonymize4 handles an IPv4 address held, as in the reference code, in the
// top 32 bits of the 128-bit block.
func (c *CryptoPAn) anonymize4(addr uint32) uint32 {
	hi := uint64(addr) << 32
	if c.cache == nil {
		f, _ := c.flips(hi, 0, 0, 32)
		return addr ^ uint32(f>>32)
	}
	prefix := addr >> (32 - v4CachedBits)
	top, ok := c.cache.get(prefix)
	if !ok {
		f, _ := c.flips(hi, 0, 0, v4CachedBits)
		top = uint32(f >> (64 - v4CachedBits))
		c.cache.put(prefix, top)
	}
	f, _ := c.flips(hi, 0, v4CachedBits, 32)
	return addr ^ (top << (32 - v4CachedBits)) ^ uint32(f>>32)
}

// flips computes the one-time-pad bits for positions [from, to) of the
// 128-bit address hi:lo. Bit pos is the top bit of AES(first pos bits of the
// address, then the pad bits from pos on). The result is aligned like the
// address: bit pos of the block is bit pos of hi:lo.
func (c *CryptoPAn) flips(hi, lo uint64, from, to int) (fhi, flo uint64) {
	// The buffer is pooled because passing a stack array to the cipher.Block
	// interface makes it escape: one allocation per address otherwise.
	buf := c.bufs.Get().(*[aes.BlockSize]byte)
	defer c.bufs.Put(buf)
	for pos := from; pos < to; pos++ {
		var inHi, inLo uint64
		if pos < 64 {
			m := ^uint64(0) << (64 - pos) // pos 0: shift by 64 gives 0
			inHi, inLo = hi&m|c.padHi&^m, c.padLo
		} else {
			m := ^uint64(0) << (128 - pos)
			inHi, inLo = hi, lo&m|c.padLo&^m
		}
		binary.BigEndian.PutUint64(buf[:8], inHi)
		binary.BigEndian.PutUint64(buf[8:], inLo)
		c.block.Encrypt(buf[:], buf[:])
		bit := uint64(buf[0] >> 7)
		if pos < 64 {
			fhi |= bit << (63 - pos)
		} else {
			flo |= bit << (127 - pos)
		}
	}
	return fhi, flo
}

// CacheStats describes the IPv4 prefix cache. Hits are not counted: a shared
// counter on the hit path would be the only contended write in Anonymize.
type CacheStats struct {
	Capacity  int    // slots; 0 when caching is disabled
	Entries   int    // slots in use
	Misses    uint64 // lookups that had to run the cipher for the prefix
	Evictions uint64 // entries replaced by another prefix
}

// Stats reports the IPv4 prefix cache counters. Under concurrent misses on
// the same slot the counters are approximate; the cached values never are.
func (c *CryptoPAn) Stats() CacheStats {
	if c.cache == nil {
		return CacheStats{}
	}
	return CacheStats{
		Capacity:  len(c.cache.slots),
		Entries:   int(c.cache.entries.Load()),
		Misses:    c.cache.misses.Load(),
		Evictions: c.cache.evictions.Load(),
	}
}

// prefixCache is a fixed-size two-way set-associative table from a /24
// prefix to its 24 flip bits. Each slot is one atomic word holding
// valid|prefix|flips, so readers never lock and a torn entry cannot exist.
type prefixCache struct {
	slots     []atomic.Uint64
	setShift  uint // 32 - log2(number of sets)
	entries   atomic.Int64
	misses    atomic.Uint64
	evictions atomic.Uint64
}

const (
	slotValid = uint64(1) << 63
	flipMask  = uint64(1)<<v4CachedBits - 1
)

func newPrefixCache(entries int) *prefixCache {
	n := 2
	for n < entries {
		n <<= 1
	}
	sets := n / 2
	shift := uint(32)
	for s := sets; s > 1; s >>= 1 {
		shift--
	}
	return &prefixCache{slots: make([]atomic.Uint64, n), setShift: shift}
}

// set returns the index of the first slot of prefix's set. A multiplicative
// hash spreads neighbouring prefixes, which real traffic is full of.
func (p *prefixCache) set(prefix uint32) int {
	if p.setShift == 32 {
		return 0
	}
	return int((prefix*0x9E3779B1)>>p.setShift) * 2
}

func (p *prefixCache) get(prefix uint32) (uint32, bool) {
	i := p.set(prefix)
	want := slotValid | uint64(prefix)<<v4CachedBits
	for j := i; j < i+2; j++ {
		if e := p.slots[j].Load(); e&^flipMask == want {
			return uint32(e & flipMask), true
		}
	}
	return 0, false
}

func (p *prefixCache) put(prefix, flips uint32) {
	e := slotValid | uint64(prefix)<<v4CachedBits | uint64(flips)&flipMask
	i := p.set(prefix)
	miss := p.misses.Add(1)
	for j := i; j < i+2; j++ {
		if p.slots[j].CompareAndSwap(0, e) {
			p.entries.Add(1)
			return
		}
	}
	// Both ways taken: alternate the victim rather than track recency,
	// which would need a write on every hit.
	p.slots[i+int(miss&1)].Store(e)
	p.evictions.Add(1)
}
