package handshake

import (
	"crypto/sha256"

	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

// certCacheSize bounds the certificates a shard remembers. A server's
// certificate comes again with every full TLS 1.2 handshake to it;
// describing it (X.509 parse, and for a self-signed one a signature
// check) costs tens of microseconds, looking it up well under one.
const certCacheSize = 1024

// certCache maps a leaf certificate's SHA-256 to its description. The
// descriptions are shared and must not be changed.
type certCache struct {
	m map[[32]byte]*tlswire.Leaf
}

// leaf describes the leaf of a Certificate message body, from the cache
// when it was seen before. The chain length is the message's own.
func (c *certCache) leaf(body []byte, st *Stats) (*tlswire.Leaf, int, bool) {
	der, n, ok := tlswire.CertificateChain(body)
	if !ok {
		return nil, 0, false
	}
	sum := sha256.Sum256(der)
	if l := c.m[sum]; l != nil {
		st.CertHits.Add(1)
		return l, n, true
	}
	st.CertMisses.Add(1)
	if c.m == nil {
		c.m = make(map[[32]byte]*tlswire.Leaf)
	}
	if len(c.m) >= certCacheSize {
		for k := range c.m { // map order is as good as random here
			delete(c.m, k)
			break
		}
	}
	l := tlswire.DescribeLeaf(der)
	c.m[sum] = &l
	return &l, n, true
}
