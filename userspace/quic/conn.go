package quic

import (
	"bytes"

	"github.com/edgesensor/edgesensor/userspace/tlswire"
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
	Version    uint32
	ClientDCID []byte
	client     *Keys
	server     *Keys
	largest    [2]int64
	Crypto     [2]*tlswire.Stream
	scratch    []byte
	pending    [][]byte // datagrams that came before the keys did
	// Counters of what happened.
	Packets, Decrypted, Undecryptable, BadFrames int
	Closed                                       bool // a CONNECTION_CLOSE was seen
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
	hadKeys := c.client != nil
	packets, undecryptable := c.Packets, c.Undecryptable
	dir := c.datagram(b)
	switch {
	case dir == Unknown && !hadKeys && c.client == nil && len(c.pending) < maxPending:
		// Counted when read again.
		c.Packets, c.Undecryptable = packets, undecryptable
		c.pending = append(c.pending, append([]byte(nil), b...))
	case !hadKeys && c.client != nil && len(c.pending) > 0:
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

// initial decrypts one Initial packet and feeds its CRYPTO frames.
func (c *Conn) initial(b []byte, h Header) int {
	if cap(c.scratch) < len(b) {
		c.scratch = make([]byte, 0, len(b))
	}
	// A client Initial: keys from its own DCID (a Retry or a new client
	// makes a new DCID: follow it).
	if len(h.DCID) >= 1 {
		if c.client == nil || !bytes.Equal(h.DCID, c.ClientDCID) || c.Version != h.Version {
			if ck, sk, err := InitialKeys(h.Version, h.DCID); err == nil {
				if payload, pn, err := ck.Open(c.scratch, b, h, c.largest[FromClient]); err == nil {
					c.Version, c.client, c.server = h.Version, ck, sk
					c.ClientDCID = append(c.ClientDCID[:0], h.DCID...)
					c.largest[FromClient] = int64(pn)
					c.frames(FromClient, payload)
					return FromClient
				}
			}
		} else if payload, pn, err := c.client.Open(c.scratch, b, h, c.largest[FromClient]); err == nil {
			c.largest[FromClient] = max(c.largest[FromClient], int64(pn))
			c.frames(FromClient, payload)
			return FromClient
		}
	}
	if c.server != nil && h.Version == c.Version {
		if payload, pn, err := c.server.Open(c.scratch, b, h, c.largest[FromServer]); err == nil {
			c.largest[FromServer] = max(c.largest[FromServer], int64(pn))
			c.frames(FromServer, payload)
			return FromServer
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

// Hello returns the first handshake message of a direction's CRYPTO
// stream once it is complete (a ClientHello from the client, a
// ServerHello from the server).
func (c *Conn) Hello(dir int) (tlswire.Message, bool) {
	var m tlswire.Message
	found := false
	tlswire.Messages(c.Crypto[dir].Contiguous(), func(msg tlswire.Message) {
		if !found {
			m, found = msg, true
		}
	})
	return m, found
}
