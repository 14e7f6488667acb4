// Package craft builds adversarial captures from the reference corpus:
// each case takes a clean connection (a download, a TLS handshake, a
// mail), cuts its byte streams into packets again with an attack
// applied (decoy segments, overlaps, odd splits, fragments, tunnels,
// floods), and writes a pcap with the truth a sensor must report.
//
// Every case is built so that a Linux receiver gets exactly the
// original bytes, so its truth is the truth of its source; where a case
// says so, the honest answer is an incomplete or conflicting file. Each
// case's comment says what a Linux receiver does with the attack and
// why the truth is what it is.
//
// Nothing here uses the sensor's packages: streams are read from the
// corpus with a small in-order reader (source.go), and the fingerprints
// of hellos a case makes up are computed from their specifications
// (fingerprint.go).
package craft

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// FloodSize sets how big the flood cases are.
type FloodSize struct {
	SYNs        int // flood_syn: spoofed SYNs
	HalfOpen    int // flood_halfopen_tls: ClientHellos never answered
	HeaderConns int // flood_headers: connections with unfinished headers
	HeaderBytes int // flood_headers: bytes of header per direction
	OOOConns    int // flood_ooo_bytes: connections of 1-byte pieces
	OOOPieces   int // flood_ooo_bytes: pieces per connection
}

// FullFloods are the sizes issue 13 asks for.
func FullFloods() FloodSize {
	return FloodSize{SYNs: 100_000, HalfOpen: 50_000, HeaderConns: 3_000, HeaderBytes: 100 << 10,
		OOOConns: 1_000, OOOPieces: 1_000}
}

// SmallFloods are sizes for unit tests.
func SmallFloods() FloodSize {
	return FloodSize{SYNs: 500, HalfOpen: 100, HeaderConns: 20, HeaderBytes: 8 << 10, OOOConns: 10, OOOPieces: 50}
}

// Options set how a case is built.
type Options struct {
	Seed  uint64 // the same seed gives the same bytes
	Flood FloodSize
}

// Case is one crafted capture.
type Case struct {
	Name  string
	What  string // the attack, one line
	Flood bool   // big; built at test time, never committed
	build func(b *builder) error
}

// builder is what a case function gets: the corpus, a seeded random
// source, the capture to write and the truth to fill.
type builder struct {
	corpus *Corpus
	opt    Options
	rng    *rand.Rand
	cap    *Capture
	truth  Truth
}

// seedOf mixes the seed with the case name, so cases differ from each
// other and each depends on the seed alone.
func seedOf(seed uint64, name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h ^ seed
}

// Build writes the case's packets to sink and returns its truth.
func (c Case) Build(corpus *Corpus, opt Options, sink Sink) (Truth, error) {
	step := time.Millisecond
	if c.Flood {
		step = 10 * time.Microsecond
	}
	b := &builder{corpus: corpus, opt: opt, cap: NewCapture(sink, step),
		rng: rand.New(rand.NewPCG(seedOf(opt.Seed, c.Name), 0x63726166))}
	b.truth = Truth{Pcap: c.Name + ".pcap", Case: c.What, TLS: []TLSTruth{}, Files: []FileTruth{}, NotFiles: []FileTruth{}}
	if err := c.build(b); err != nil {
		return Truth{}, fmt.Errorf("building %s: %w", c.Name, err)
	}
	if err := b.cap.Err(); err != nil {
		return Truth{}, fmt.Errorf("building %s: %w", c.Name, err)
	}
	return b.truth, nil
}

// WritePcap builds the case as a pcap on w.
func (c Case) WritePcap(corpus *Corpus, opt Options, w io.Writer) (Truth, error) {
	sink, err := NewPcapSink(w)
	if err != nil {
		return Truth{}, err
	}
	return c.Build(corpus, opt, sink)
}

// WriteFiles writes dir/NAME.pcap and dir/NAME.truth.json.
func (c Case) WriteFiles(corpus *Corpus, opt Options, dir string) (Truth, error) {
	f, err := os.Create(filepath.Join(dir, c.Name+".pcap"))
	if err != nil {
		return Truth{}, fmt.Errorf("writing case: %w", err)
	}
	tr, err := c.WritePcap(corpus, opt, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing case: %w", cerr)
	}
	if err != nil {
		return Truth{}, err
	}
	j, err := json.MarshalIndent(tr, "", " ")
	if err != nil {
		return Truth{}, fmt.Errorf("writing truth: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, c.Name+".truth.json"), append(j, '\n'), 0o644); err != nil {
		return Truth{}, fmt.Errorf("writing truth: %w", err)
	}
	return tr, nil
}

// Cases lists every case in a fixed order.
func Cases() []Case {
	var all []Case
	all = append(all, tcpCases()...)
	all = append(all, tlsCases()...)
	all = append(all, fragCases()...)
	all = append(all, encapCases()...)
	all = append(all, floodCases()...)
	return all
}

// Select returns the cases whose name matches re.
func Select(re *regexp.Regexp) []Case {
	var out []Case
	for _, c := range Cases() {
		if re.MatchString(c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// Lookup returns the case NAME.
func Lookup(name string) (Case, bool) {
	for _, c := range Cases() {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// connFor is a connection with the endpoints of st, fresh ISNs, window
// scale 7 on both sides and the case's framing.
func (b *builder) connFor(st *Stream, w Wire) *Conn {
	return NewConn(w, b.connConfig(st))
}

func (b *builder) connConfig(st *Stream) ConnConfig {
	return ConnConfig{Client: st.Client, Server: st.Server, ISN: [2]uint32{b.rng.Uint32(), b.rng.Uint32()},
		MSS: 1448, WScale: [2]uint8{7, 7}}
}

// source loads a corpus capture's first connection and starts the truth
// from the capture's truth.
func (b *builder) source(name string) (*Stream, error) {
	st, src, err := b.corpus.stream(name)
	if err != nil {
		return nil, err
	}
	b.addTruth(src.Truth)
	return st, nil
}

// addTruth adds a source's handshakes and files to the case's truth.
func (b *builder) addTruth(t Truth) {
	b.truth.TLS = append(b.truth.TLS, t.TLS...)
	b.truth.Files = append(b.truth.Files, t.Files...)
	b.truth.NotFiles = append(b.truth.NotFiles, t.NotFiles...)
}

// counter asks for a non-zero replay counter.
func (b *builder) counter(name string) {
	if b.truth.Counters == nil {
		b.truth.Counters = map[string]string{}
	}
	b.truth.Counters[name] = ">0"
}

// finish reports a connection's error.
func finish(cs ...*Conn) error {
	for _, c := range cs {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}
