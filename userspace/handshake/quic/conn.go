package quic

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/handshake/tlswire"
)

// MaxCrypto bounds each direction's reassembled CRYPTO stream.
const MaxCrypto = 64 << 10

// Direction of a packet, as decryption proved it.
const (
	FromClient = 0
	FromServer = 1
	Unknown    = -1
)

// Conn follows the Initial packets of one QUIC connection in both
// directions. Which side is the client is settled by the keys: a client
// Initial decrypts with the client keys of its own Destination Connection
// ID; the server's decrypts with the server keys of the client's.
type Conn struct {
	Version    uint32 // of the last packet read
	ClientDCID []byte
	keys       [2]keyset // per version: v1 and v2 at most (RFC 9368 switches)
	largest    [2]int64
	Crypto     [2]*tlswire.Stream
	scratch    []byte
	pending    [][]byte // datagrams that came before the keys did
	// Counters of what happened.
	Packets, Decrypted, Undecryptable, BadFrames int
	Closed                                       bool // a CONNECTION_CLOSE was seen
}

// keyset is the Initial keys of one version, from ClientDCID.
type keyset struct {
	version        uint32
	client, server *Keys
}

// NewConn starts following a connection.
func NewConn() *Conn {
	c := &Conn{largest: [2]int64{-1, -1}}
	for i := range c.Crypto {
		c.Crypto[i] = tlswire.NewStream(MaxCrypto)
		c.Crypto[i].Start(0)
	}
	return c
}

// maxPending bounds the datagrams kept while the keys are unknown (the
// server's Initial can overtake the client's between two interfaces).
const maxPending = 4

// Datagram reads the Initial packets of one UDP datagram (coalesced
// packets included) and returns the direction they proved, or Unknown.
func (c *Conn) Datagram(b []byte) int {
	hadKeys := c.ClientDCID != nil
	packets, undecryptable := c.Packets, c.Undecryptable
	dir := c.datagram(b)
	switch {
	case dir == Unknown && !hadKeys && c.ClientDCID == nil && len(c.pending) < maxPending:
		// Counted when read again.
		c.Packets, c.Undecryptable = packets, undecryptable
		c.pending = append(c.pending, append([]byte(nil), b...))
	case !hadKeys && c.ClientDCID != nil && len(c.pending) > 0:
		// The keys just became known: read what waited for them.
		pending := c.pending
		c.pending = nil
		for _, p := range pending {
			c.datagram(p)
		}
	}
	return dir
}

func (c *Conn) datagram(b []byte) int {
	dir := Unknown
	for len(b) > 0 && b[0]&0x80 != 0 {
		h, err := ParseHeader(b)
		if err != nil {
			c.Packets++
			c.Undecryptable++
			break
		}
		if h.Type != TypeInitial {
			if h.Type == TypeRetry || h.End <= 0 || h.End > len(b) {
				break
			}
			b = b[h.End:]
			continue
		}
		c.Packets++
		if d := c.initial(b, h); d != Unknown {
			dir = d
		}
		if h.End > len(b) {
			break
		}
		b = b[h.End:]
	}
	return dir
}

// Footprint is the memory the connection holds, in bytes (keys aside).
func (c *Conn) Footprint() int {
	n := c.Crypto[0].Footprint() + c.Crypto[1].Footprint() + cap(c.scratch)
	for _, p := range c.pending {
		n += cap(p)
	}
	return n
}

// Gaps reports whether either CRYPTO stream misses bytes before its end
// or lost bytes beyond its limit.
func (c *Conn) Gaps() bool {
	for _, s := range c.Crypto {
		if gap, _ := s.Gaps(); gap || s.Overflow > 0 {
			return true
		}
	}
	return false
}

// keysFor returns the Initial keys of version v from ClientDCID, deriving
// them once: a server may answer a v1 client in v2 (RFC 9368), both
// sides still keyed by the client's first DCID.
func (c *Conn) keysFor(v uint32) *keyset {
	for i := range c.keys {
		if c.keys[i].client != nil && c.keys[i].version == v {
			return &c.keys[i]
		}
	}
	ck, sk, err := InitialKeys(v, c.ClientDCID)
	if err != nil {
		return nil
	}
	slot := &c.keys[0]
	if slot.client != nil {
		slot = &c.keys[1]
	}
	*slot = keyset{version: v, client: ck, server: sk}
	return slot
}

// open tries keys k on an Initial of direction dir and feeds its frames.
func (c *Conn) open(k *Keys, dir int, b []byte, h Header) bool {
	payload, pn, err := k.Open(c.scratch, b, h, c.largest[dir])
	if err != nil {
		return false
	}
	c.largest[dir] = max(c.largest[dir], int64(pn))
	c.Version = h.Version
	c.frames(dir, payload)
	return true
}

// initial decrypts one Initial packet and feeds its CRYPTO frames.
func (c *Conn) initial(b []byte, h Header) int {
	if cap(c.scratch) < len(b) {
		c.scratch = make([]byte, 0, len(b))
	}
	if c.ClientDCID != nil {
		// Both sides keep the keys of the client's first DCID, even once
		// the client sends to the server's connection ID (RFC 9001 5.2).
		if ks := c.keysFor(h.Version); ks != nil {
			first, second, d1, d2 := ks.client, ks.server, FromClient, FromServer
			if !bytes.Equal(h.DCID, c.ClientDCID) {
				// Likelier the server's (to the client's SCID).
				first, second, d1, d2 = ks.server, ks.client, FromServer, FromClient
			}
			if c.open(first, d1, b, h) {
				return d1
			}
			if c.open(second, d2, b, h) {
				return d2
			}
		}
	}
	// A client's first Initial, or one after a Retry (a new DCID): keys
	// from its own DCID.
	if len(h.DCID) >= 1 && !bytes.Equal(h.DCID, c.ClientDCID) {
		if ck, sk, err := InitialKeys(h.Version, h.DCID); err == nil {
			if payload, pn, err := ck.Open(c.scratch, b, h, -1); err == nil {
				c.ClientDCID = append(c.ClientDCID[:0], h.DCID...)
				c.keys = [2]keyset{{version: h.Version, client: ck, server: sk}}
				c.largest = [2]int64{int64(pn), -1}
				c.Version = h.Version
				c.frames(FromClient, payload)
				return FromClient
			}
		}
	}
	c.Undecryptable++
	return Unknown
}

func (c *Conn) frames(dir int, payload []byte) {
	c.Decrypted++
	closed, err := CryptoFrames(payload, func(off uint64, data []byte) {
		c.Crypto[dir].Add(uint32(off), data)
	})
	if err != nil {
		c.BadFrames++
	}
	c.Closed = c.Closed || closed
}

// Hellos calls fn for each complete handshake message of a direction's
// CRYPTO stream, in order: the ClientHello (and a second one after a
// HelloRetryRequest) from the client; the ServerHello or HelloRetryRequest
// and, after a retry, the real ServerHello from the server.
func (c *Conn) Hellos(dir int, fn func(tlswire.Message)) {
	tlswire.Messages(c.Crypto[dir].Contiguous(), fn)
}
