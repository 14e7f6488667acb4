package alertpcap

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// t0 is the capture time of the synthetic packets, with nanoseconds that
// a microsecond format would lose.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// testSettings are small enough for tests to reach every bound.
func testSettings(dir string) Settings {
	s := DefaultSettings()
	s.Enabled = true
	s.Dir = dir
	return s
}

func newKeeper(t testing.TB, s Settings) *Keeper {
	t.Helper()
	k, err := New(s, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pktEvent makes the event the data plane emits for p, received at ts on
// interface ifname.
func pktEvent(p testutil.Pkt, ts time.Time, ifname string, ifindex uint32) *datapath.Event {
	frame := p.Frame()
	src, dst := p.Endpoints()
	return &datapath.Event{
		Time: ts, Interface: ifname, Ifindex: ifindex,
		Class: datapath.ClassStream, Proto: p.Proto(),
		Src: src, Dst: dst, FrameLen: len(frame), Frame: frame,
	}
}

// flowPkt is a TCP packet of the test flow i (client 10.1.x.y:port ->
// 10.9.0.1:443) with a payload of n bytes tagged by seq.
func flowPkt(i int, seq uint32, n int) testutil.Pkt {
	payload := bytes.Repeat([]byte{byte(seq)}, n)
	return testutil.Pkt{
		Src: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String(), Dst: "10.9.0.1",
		Sport: uint16(30000 + i%30000), Dport: 443, Seq: seq, Flags: "PA", Payload: payload,
	}
}

// corpusEvents reads a corpus pcap as the data plane's events: the
// client's packets on ifC, the server's on ifS, each time stamp moved by
// i ns so that nanoseconds show.
func corpusEvents(t testing.TB, name, ifC, ifS string) (evs []*datapath.Event, client, server netip.AddrPort) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "testdata", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("packet %d: not TCP/IPv4", i+1)
		}
		sa, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		da, _ := netip.AddrFromSlice(ip.DstIP.To4())
		src, dst := netip.AddrPortFrom(sa, uint16(tcp.SrcPort)), netip.AddrPortFrom(da, uint16(tcp.DstPort))
		if i == 0 { // the SYN
			client, server = src, dst
		}
		ev := &datapath.Event{
			Time: ci.Timestamp.Add(time.Duration(i + 1)), Interface: ifS, Ifindex: 3,
			Class: datapath.ClassTLS, Proto: datapath.ProtoTCP, Src: src, Dst: dst,
			FrameLen: ci.Length, Frame: data,
		}
		if src == client {
			ev.Interface, ev.Ifindex, ev.Flags = ifC, 2, datapath.FlagFromClient
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		t.Fatalf("%s: no packets", name)
	}
	return evs, client, server
}

// ngPacket is a packet read back from a pcapng file.
type ngPacket struct {
	data  []byte
	ci    gopacket.CaptureInfo
	iface string
}

// readNg reads a pcapng file with gopacket's reader, an implementation
// independent of ours.
func readNg(t testing.TB, path string) []ngPacket {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []ngPacket
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		ifc, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ngPacket{append([]byte(nil), data...), ci, ifc.Name})
	}
	return out
}

// tool runs a Wireshark tool, skipping the test when it is not installed.
func tool(t testing.TB, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	cmd := exec.Command(path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "appears to be damaged") || strings.Contains(s, "isn't a capture file") {
		t.Fatalf("%s %s: %s", name, strings.Join(args, " "), s)
	}
	return string(out)
}

// dirBytes sums the sizes of the capture files in dir.
func dirBytes(t testing.TB, dir string) (files int, size int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !isCaptureName(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		files++
		size += fi.Size()
	}
	return files, size
}

func zeroLog() zerolog.Logger { return zerolog.Nop() }

// bigFlowSettings make files of about 270 KB: four of them pass the
// smallest quota.
func bigFlowSettings(dir string) Settings {
	s := testSettings(dir)
	s.FlowBytes, s.FlowPackets = 256<<10, 200
	return s
}

// writeBig observes 200 full-size packets of flow i and captures it.
func writeBig(t testing.TB, k *Keeper, i int) string {
	t.Helper()
	var ev *datapath.Event
	for seq := uint32(1); seq <= 200; seq++ {
		ev = pktEvent(flowPkt(i, seq, 1400), t0, "eth0", 2)
		k.Observe(ev)
	}
	p, err := k.Capture(EventKey(ev), t0.Add(time.Duration(i)*time.Second), "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
