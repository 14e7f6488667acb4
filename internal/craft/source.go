package craft

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Turn is one run of bytes a side sent before the other side spoke: a
// request, a response, a TLS flight. Re-packetising turn by turn keeps
// the application's dialogue (a keep-alive client sends its second
// request only after the first response).
type Turn struct {
	Up   bool // client to server
	Data []byte
}

// Stream is one TCP connection of a corpus capture: its endpoints and
// its dialogue in order. The client is the sender of the SYN.
type Stream struct {
	Client, Server netip.AddrPort
	Turns          []Turn
}

// Bytes returns the whole byte stream of one direction.
func (s *Stream) Bytes(up bool) []byte {
	var b []byte
	for _, t := range s.Turns {
		if t.Up == up {
			b = append(b, t.Data...)
		}
	}
	return b
}

// Clone returns a copy whose turns can be changed without touching s.
func (s *Stream) Clone() *Stream {
	c := *s
	c.Turns = make([]Turn, len(s.Turns))
	for i, t := range s.Turns {
		c.Turns[i] = Turn{Up: t.Up, Data: append([]byte(nil), t.Data...)}
	}
	return &c
}

// Source is one corpus capture: its TCP connections and its truth.
type Source struct {
	Name    string
	Streams []*Stream
	Truth   Truth
}

// Corpus holds the reference captures a case is built from.
type Corpus struct {
	Dir     string
	sources map[string]*Source
	quic    map[string][]byte // testdata/quic hex files by base name
}

// Source returns the capture NAME (without .pcap).
func (c *Corpus) Source(name string) (*Source, error) {
	s, ok := c.sources[name]
	if !ok {
		return nil, fmt.Errorf("corpus %s: no capture %q", c.Dir, name)
	}
	return s, nil
}

// stream returns the first TCP connection of the capture NAME.
func (c *Corpus) stream(name string) (*Stream, *Source, error) {
	s, err := c.Source(name)
	if err != nil {
		return nil, nil, err
	}
	if len(s.Streams) == 0 {
		return nil, nil, fmt.Errorf("corpus %s: no TCP connection", name)
	}
	return s.Streams[0], s, nil
}

// QUIC returns the bytes of testdata/quic/NAME.hex.
func (c *Corpus) QUIC(name string) ([]byte, error) {
	b, ok := c.quic[name]
	if !ok {
		return nil, fmt.Errorf("testdata/quic: no %s.hex", name)
	}
	return b, nil
}

var (
	corpusMu    sync.Mutex
	corpusCache = map[string]*Corpus{}
)

// LoadCorpus reads every NAME.pcap with its NAME.truth.json in dir (the
// module's testdata/corpus) and the hex files of the sibling
// testdata/quic. Corpora are cached by directory: they are read-only.
func LoadCorpus(dir string) (*Corpus, error) {
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if c, ok := corpusCache[dir]; ok {
		return c, nil
	}
	pcaps, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil || len(pcaps) == 0 {
		return nil, fmt.Errorf("reading corpus %s: no captures", dir)
	}
	c := &Corpus{Dir: dir, sources: map[string]*Source{}, quic: map[string][]byte{}}
	for _, p := range pcaps {
		name := strings.TrimSuffix(filepath.Base(p), ".pcap")
		streams, err := readStreams(p)
		if err != nil {
			return nil, fmt.Errorf("reading corpus capture %s: %w", p, err)
		}
		src := &Source{Name: name, Streams: streams}
		tb, err := os.ReadFile(strings.TrimSuffix(p, ".pcap") + ".truth.json")
		if err != nil {
			return nil, fmt.Errorf("reading corpus truth: %w", err)
		}
		if err := json.Unmarshal(tb, &src.Truth); err != nil {
			return nil, fmt.Errorf("reading corpus truth of %s: %w", name, err)
		}
		c.sources[name] = src
	}
	hexes, _ := filepath.Glob(filepath.Join(dir, "..", "quic", "*.hex"))
	for _, h := range hexes {
		b, err := readHex(h)
		if err != nil {
			return nil, err
		}
		c.quic[strings.TrimSuffix(filepath.Base(h), ".hex")] = b
	}
	corpusCache[dir] = c
	return c, nil
}

// ModuleRoot finds the directory holding go.mod, upwards from the
// working directory, so that tests and the command find testdata/corpus
// wherever they run from.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("finding module root: no go.mod above the working directory")
		}
		dir = up
	}
}

// DefaultCorpus loads testdata/corpus of the module.
func DefaultCorpus() (*Corpus, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	return LoadCorpus(filepath.Join(root, "testdata", "corpus"))
}

// readStreams puts the TCP connections of a clean capture in order.
// A capture with a hole in a stream is refused: the corpus is clean, and
// a case built on a holed stream would carry a wrong truth.
func readStreams(path string) ([]*Stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, err
	}
	type half struct {
		isn  uint32
		syn  bool
		next uint32 // next offset expected
	}
	type conn struct {
		s     *Stream
		h     [2]half // [0] client to server
		order int
	}
	conns := map[[2]netip.AddrPort]*conn{}
	var out []*conn
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || p.NetworkLayer() == nil {
			continue
		}
		srcIP, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Src().Raw())
		dstIP, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Dst().Raw())
		src := netip.AddrPortFrom(srcIP, uint16(tcp.SrcPort))
		dst := netip.AddrPortFrom(dstIP, uint16(tcp.DstPort))
		c := conns[[2]netip.AddrPort{src, dst}]
		up := true
		if c == nil {
			c = conns[[2]netip.AddrPort{dst, src}]
			up = false
		}
		if tcp.SYN && !tcp.ACK {
			c = &conn{s: &Stream{Client: src, Server: dst}, order: len(out)}
			c.h[0] = half{isn: tcp.Seq, syn: true}
			conns[[2]netip.AddrPort{src, dst}] = c
			out = append(out, c)
			continue
		}
		if c == nil {
			continue // a connection whose SYN is not in the capture
		}
		d := 0
		if !up {
			d = 1
		}
		h := &c.h[d]
		if tcp.SYN {
			*h = half{isn: tcp.Seq, syn: true}
			continue
		}
		if !h.syn || len(tcp.Payload) == 0 {
			continue
		}
		off := tcp.Seq - h.isn - 1
		payload := tcp.Payload
		if int32(off-h.next) < 0 { // a retransmission: keep only what is new
			old := h.next - off
			if old >= uint32(len(payload)) {
				continue
			}
			payload = payload[old:]
			off = h.next
		}
		if off != h.next {
			return nil, fmt.Errorf("%v -> %v: hole at offset %d (segment at %d)", src, dst, h.next, off)
		}
		h.next += uint32(len(payload))
		ts := c.s.Turns
		if n := len(ts); n > 0 && ts[n-1].Up == up {
			ts[n-1].Data = append(ts[n-1].Data, payload...)
		} else {
			c.s.Turns = append(ts, Turn{Up: up, Data: append([]byte(nil), payload...)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	streams := make([]*Stream, 0, len(out))
	for _, c := range out {
		if len(c.s.Turns) > 0 {
			streams = append(streams, c.s)
		}
	}
	return streams, nil
}

func readHex(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	out, err := hex.DecodeString(string(bytes.Join(bytes.Fields(b), nil)))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}
