// Helpers of the pipeline tests: the corpus's packets as data-plane
// events, its truth, a run through one shard, and fields of the events
// written.

package handshake

import (
	"bufio"
	"bytes"
	stdjson "encoding/json"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
)

const corpus = "../../testdata/corpus/"

// packetEvents turns the TCP payload packets of a capture into TLS-class
// events the way the data plane would emit them, without BPF: direction
// from the truth's client port.
func packetEvents(t testing.TB, name string, clientPort uint16) []datapath.Event {
	t.Helper()
	f, err := os.Open(corpus + name + ".pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var evs []datapath.Event
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		ip, ok4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok || !ok4 || len(tcp.Payload) == 0 {
			continue
		}
		ev := datapath.Event{Class: datapath.ClassTLS, Proto: datapath.ProtoTCP, Time: ci.Timestamp, Interface: "test",
			Src:      netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SrcIP.To4())), uint16(tcp.SrcPort)),
			Dst:      netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(tcp.DstPort)),
			Seq:      tcp.Seq,
			Ack:      tcp.Ack,
			Payload:  append([]byte(nil), tcp.Payload...),
			TCPFlags: 0x18,
		}
		ev.PayloadLen = len(ev.Payload)
		if uint16(tcp.SrcPort) == clientPort {
			ev.Flags |= datapath.FlagFromClient
		}
		evs = append(evs, ev)
	}
	return evs
}

func readTruth(t testing.TB, name string) testutil.Truth {
	return testutil.ReadTruth(t, corpus+name+".truth.json")
}

// run feeds events through one shard and returns the events written.
func run(t *testing.T, evs []datapath.Event, cfg Config) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	out := ndjson.NewNDJSON(&buf)
	p := New(cfg, out)
	sh := p.NewShard(0)
	for i := range evs {
		sh.Handle(&evs[i])
	}
	sh.Close()
	out.Flush()
	var got []map[string]any
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := stdjson.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		got = append(got, m)
	}
	return got
}

func field(m map[string]any, path string) any {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func readHex(t testing.TB, name string) []byte {
	return testutil.ReadHex(t, "../../testdata/quic/"+name)
}
