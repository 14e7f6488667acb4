package reassembly

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TestCorpus reassembles every direction of every connection of the
// corpus captures and compares with testutil's independent reassembly:
// in capture order with the peer's ACKs (no false gap), and with the
// segments of each direction shuffled locally (no ACKs then: shuffled,
// they would come before their data).
func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob("../../../testdata/corpus/*.pcap")
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := map[dirKey][]byte{}
			for _, c := range testutil.TCPConns(t, f) {
				want[dirKey{c.Client, c.Server}] = c.ToServer
				want[dirKey{c.Server, c.Client}] = c.ToClient
			}
			pkts := readTCP(t, f)
			for _, shuffle := range []bool{false, true} {
				got, st := reassemble(t, pkts, shuffle)
				for k, w := range want {
					if !bytes.Equal(got[k], w) {
						t.Errorf("shuffle %v, %s -> %s: %d bytes, want %d", shuffle, k.src, k.dst, len(got[k]), len(w))
					}
				}
				if st.Gaps != 0 || st.Delivered == 0 {
					t.Errorf("shuffle %v: %d gaps, %d bytes", shuffle, st.Gaps, st.Delivered)
				}
				if shuffle && st.OutOfOrder == 0 {
					t.Errorf("the shuffle reordered nothing")
				}
				t.Logf("shuffle %v: %d packets, %+v", shuffle, len(pkts), *st)
			}
		})
	}
}

type dirKey struct{ src, dst netip.AddrPort }

type tcpPkt struct {
	dir      dirKey
	seq, ack uint32
	syn, fin bool
	hasAck   bool
	payload  []byte
}

func readTCP(t *testing.T, path string) []tcpPkt {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []tcpPkt
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			continue
		}
		var sa, da netip.Addr
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			da, _ = netip.AddrFromSlice(ip.DstIP.To4())
		case *layers.IPv6:
			sa, _ = netip.AddrFromSlice(ip.SrcIP)
			da, _ = netip.AddrFromSlice(ip.DstIP)
		}
		out = append(out, tcpPkt{
			dir: dirKey{netip.AddrPortFrom(sa, uint16(tcp.SrcPort)), netip.AddrPortFrom(da, uint16(tcp.DstPort))},
			seq: tcp.Seq, ack: tcp.Ack, syn: tcp.SYN, fin: tcp.FIN, hasAck: tcp.ACK,
			payload: tcp.Payload,
		})
	}
	return out
}

type bufSink struct{ b []byte }

func (s *bufSink) Data(p []byte) int64 { s.b = append(s.b, p...); return 0 }
func (s *bufSink) Gap(int64)           {}

func reassemble(t *testing.T, pkts []tcpPkt, shuffle bool) (map[dirKey][]byte, *Stats) {
	st := new(Stats)
	streams := map[dirKey]*Stream{}
	sinks := map[dirKey]*bufSink{}
	stream := func(k dirKey) *Stream {
		if streams[k] == nil {
			streams[k] = new(Stream)
			streams[k].Init(nil, st, nil)
			sinks[k] = new(bufSink)
		}
		return streams[k]
	}
	if shuffle {
		// Keep the SYNs first (a stream starts at the first segment
		// seen when it has none); shuffle the rest within 8 packets.
		pkts = append([]tcpPkt(nil), pkts...)
		r := rand.New(rand.NewPCG(7, 8))
		for i := range pkts {
			j := min(len(pkts)-1, i+r.IntN(8))
			if !pkts[i].syn && !pkts[j].syn {
				pkts[i], pkts[j] = pkts[j], pkts[i]
			}
		}
	}
	for _, p := range pkts {
		s := stream(p.dir)
		s.Segment(p.seq, p.syn, p.fin, p.payload, sinks[p.dir])
		if p.hasAck && !shuffle {
			back := dirKey{p.dir.dst, p.dir.src}
			stream(back).Acked(p.ack, sinks[back])
		}
	}
	got := map[dirKey][]byte{}
	for k, s := range streams {
		s.Flush(sinks[k])
		got[k] = sinks[k].b
		checkHeld(t, s)
	}
	return got, st
}
