package sensor

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
)

const corpus = "../testdata/corpus"

// collector is a pipeline that keeps copies of every event.
type collector struct {
	mu  sync.Mutex
	evs []datapath.Event
	// onEvent, when set, runs in the worker for each event (tests use it
	// to write verdicts like the analysis will).
	onEvent func(ev *datapath.Event)
}

func (c *collector) NewShard(int) datapath.Shard { return &collectorShard{c} }

type collectorShard struct{ c *collector }

func (s *collectorShard) Handle(ev *datapath.Event) {
	if s.c.onEvent != nil {
		s.c.onEvent(ev)
	}
	cp := *ev
	cp.Frame = append([]byte(nil), ev.Frame...)
	off := len(ev.Frame) - len(ev.Payload)
	if len(ev.Payload) > 0 {
		off = bytes.Index(ev.Frame, ev.Payload)
	}
	cp.Payload = cp.Frame[off : off+len(ev.Payload)]
	s.c.mu.Lock()
	s.c.evs = append(s.c.evs, cp)
	s.c.mu.Unlock()
}
func (s *collectorShard) Tick(time.Time) {}
func (s *collectorShard) Close()         {}

func replayFiles(t *testing.T, cfg *config.Config, col *collector, files ...string) ReplayStats {
	t.Helper()
	testutil.RequireBPF(t)
	if cfg == nil {
		c := config.Default()
		cfg = &c
	}
	r, err := NewReplayer(cfg, col)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := r.File(f); err != nil {
			t.Fatal(err)
		}
	}
	st, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func readTruth(t *testing.T, name string) testutil.Truth {
	return testutil.ReadTruth(t, filepath.Join(corpus, name+".truth.json"))
}

// flowPayload reads a capture with gopacket (independently of our reader
// and of the data plane) and sums TCP payload per (server port, direction),
// also counting payload-carrying packets.
func flowPayload(t *testing.T, path string) (bytesByDir map[string]int, pkts map[string]int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	bytesByDir, pkts = map[string]int{}, map[string]int{}
	src := gopacket.NewPacketSource(r, r.LinkType())
	for p := range src.Packets() {
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || len(tcp.Payload) == 0 {
			continue
		}
		k := "c2s"
		if tcp.SrcPort < tcp.DstPort {
			k = "s2c"
		}
		bytesByDir[k] += len(tcp.Payload)
		pkts[k]++
	}
	return bytesByDir, pkts
}

// Every TLS capture of the corpus: the ClientHello and the ServerHello
// arrive whole, the handshake ends with a flagged event, and the events are
// a small part of the flow's packets.
func TestPrivilegedReplayCorpusTLS(t *testing.T) {
	for _, name := range []string{"tls_curl13", "tls_curl12", "tls_go_pq", "tls_openssl_nosni"} {
		t.Run(name, func(t *testing.T) {
			tr := readTruth(t, name)
			col := &collector{}
			path := filepath.Join(corpus, name+".pcap")
			st := replayFiles(t, nil, col, path)
			_, pkts := flowPayload(t, path)
			var c2s, s2c []byte
			done := false
			for _, ev := range col.evs {
				if ev.Class != datapath.ClassTLS {
					t.Fatalf("class %v in a TLS capture", ev.Class)
				}
				if ev.Client().Port() != uint16(tr.TLS[0].ClientPort) || ev.Server().Port() != uint16(tr.TLS[0].ServerPort) {
					t.Fatalf("endpoints %v -> %v, truth %d -> %d", ev.Client(), ev.Server(), tr.TLS[0].ClientPort, tr.TLS[0].ServerPort)
				}
				if ev.FromClient() {
					c2s = append(c2s, ev.Payload...)
				} else {
					s2c = append(s2c, ev.Payload...)
				}
				done = done || ev.Flags&datapath.FlagHSDone != 0
			}
			for _, d := range []struct {
				name string
				b    []byte
				typ  byte
			}{{"ClientHello", c2s, 1}, {"ServerHello", s2c, 2}} {
				if len(d.b) < 9 || d.b[0] != 22 || d.b[5] != d.typ {
					t.Fatalf("%s missing at the start of its direction", d.name)
				}
				rlen := int(binary.BigEndian.Uint16(d.b[3:]))
				if len(d.b) < 5+rlen {
					t.Errorf("%s record of %d bytes, only %d arrived", d.name, rlen, len(d.b)-5)
				}
			}
			if tr.TLS[0].SNI != "" && !bytes.Contains(c2s, []byte(tr.TLS[0].SNI)) {
				t.Errorf("SNI %q not in the emitted ClientHello", tr.TLS[0].SNI)
			}
			if !done {
				t.Error("no event ended the handshake")
			}
			total := pkts["c2s"] + pkts["s2c"]
			if len(col.evs) >= total {
				t.Errorf("%d events for %d payload packets: packets after the handshake were emitted", len(col.evs), total)
			}
			if st.Emitted.Handshakes.Events != uint64(len(col.evs)) || st.Events != uint64(len(col.evs)) || st.Flows != 1 {
				t.Errorf("stats %+v vs %d events", st, len(col.evs))
			}
		})
	}
}

// The file captures: every payload byte of the watched flow reaches
// userspace while the flow is NEW (no analysis yet to steer it), in both
// directions.
func TestPrivilegedReplayCorpusStreams(t *testing.T) {
	for _, name := range []string{"http_exe", "http_keepalive", "http_gzip_chunked", "smtp_attach"} {
		t.Run(name, func(t *testing.T) {
			col := &collector{}
			path := filepath.Join(corpus, name+".pcap")
			st := replayFiles(t, nil, col, path)
			want, _ := flowPayload(t, path)
			got := map[string]int{}
			syn, fin := false, false
			for _, ev := range col.evs {
				if ev.Class != datapath.ClassStream {
					t.Fatalf("class %v in a file capture", ev.Class)
				}
				if !ev.Complete() {
					t.Fatalf("incomplete payload %d/%d", len(ev.Payload), ev.PayloadLen)
				}
				k := "s2c"
				if ev.FromClient() {
					k = "c2s"
				}
				got[k] += len(ev.Payload)
				syn = syn || ev.TCPFlags&datapath.TCPSyn != 0
				fin = fin || ev.TCPFlags&datapath.TCPFin != 0
			}
			if got["c2s"] != want["c2s"] || got["s2c"] != want["s2c"] {
				t.Errorf("payload bytes emitted %v, in the capture %v", got, want)
			}
			if !syn || !fin {
				t.Errorf("SYN %v FIN %v: control packets of a watched flow must be emitted", syn, fin)
			}
			if st.RingbufDrops != 0 || st.BadRecords != 0 {
				t.Errorf("drops: %+v", st)
			}
		})
	}
}

// tls_curl13 followed by a bulk download on the same connection: what
// crosses to userspace stays under 1% of the capture.
func TestPrivilegedBulkAfterHandshakeStaysInKernel(t *testing.T) {
	testutil.RequireBPF(t)
	path := filepath.Join(t.TempDir(), "tls_bulk.pcap")
	capBytes := writeBulkCapture(t, filepath.Join(corpus, "tls_curl13.pcap"), path, 8<<20)
	col := &collector{}
	st := replayFiles(t, nil, col, path)
	emitted := st.Emitted.Handshakes.Bytes + st.Emitted.Streams.Bytes
	ratio := float64(emitted) / float64(capBytes)
	t.Logf("capture %d bytes, emitted %d bytes (%.4f%%), %d events", capBytes, emitted, 100*ratio, len(col.evs))
	if ratio > 0.01 {
		t.Errorf("emitted %.3f%% of the capture, want at most 1%%", 100*ratio)
	}
	if st.Bytes != uint64(capBytes) {
		t.Errorf("the data plane saw %d bytes, the capture has %d", st.Bytes, capBytes)
	}
}

// pcapOut writes Ethernet frames to a new pcap file and counts their bytes.
type pcapOut struct {
	t     *testing.T
	f     *os.File
	w     *pcapgo.Writer
	total int
}

func newPcapOut(t *testing.T, path string) *pcapOut {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return &pcapOut{t: t, f: f, w: w}
}

func (o *pcapOut) write(frame []byte, ts time.Time) {
	if err := o.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
		o.t.Fatal(err)
	}
	o.total += len(frame)
}

// writeBulkCapture copies src and appends n bytes of server application
// data records (and the client's ACKs) continuing its TLS connection.
func writeBulkCapture(t *testing.T, src, dst string, n int) int {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out := newPcapOut(t, dst)
	write := out.write
	var last gopacket.Packet
	var srvSeq, cliSeq uint32
	var ts time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.FIN {
			break // keep the connection open for the bulk part
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			end := tcp.Seq + uint32(len(tcp.Payload))
			if tcp.SrcPort == 443 {
				srvSeq = end
				last = p
			} else {
				cliSeq = end
			}
		}
		write(data, ci.Timestamp)
		ts = ci.Timestamp
	}
	eth := *last.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := *last.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := *last.Layer(layers.LayerTypeTCP).(*layers.TCP)
	rec := testutil.AppData(1400)
	for sent := 0; sent < n; sent += len(rec) {
		ts = ts.Add(10 * time.Microsecond)
		tcp.Seq, tcp.Ack, tcp.PSH = srvSeq, cliSeq, false
		buf := gopacket.NewSerializeBuffer()
		ipc, tcpc := ip, tcp
		tcpc.SetNetworkLayerForChecksum(&ipc)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&eth, &ipc, &tcpc, gopacket.Payload(rec)); err != nil {
			t.Fatal(err)
		}
		write(buf.Bytes(), ts)
		srvSeq += uint32(len(rec))
		if (sent/len(rec))%2 == 1 { // the client ACKs every other segment
			ack := testutil.Pkt{Src: ipc.DstIP.String(), Dst: ipc.SrcIP.String(), Sport: uint16(tcp.DstPort), Dport: 443,
				Seq: cliSeq, Ack: srvSeq, Flags: "A"}
			write(ack.Frame(), ts)
		}
	}
	return out.total
}

// A keep-alive HTTP flow whose 8 MB non-candidate body is skipped by a
// verdict (written from the pipeline, as the analysis will) emits under 2%
// of its bytes; the next response on the connection is emitted again.
func TestPrivilegedSkipKeepsBodyInKernel(t *testing.T) {
	testutil.RequireBPF(t)
	const body = 8 << 20
	path := filepath.Join(t.TempDir(), "keepalive_skip.pcap")
	capBytes := writeKeepAlive(t, path, body)

	c := config.Default()
	var vw *VerdictWriter
	col := &collector{}
	col.onEvent = func(ev *datapath.Event) {
		// A minimal classifier: a response header with Content-Length
		// on a video gets the body skipped.
		p := ev.Payload
		if ev.FromClient() || !bytes.HasPrefix(p, []byte("HTTP/1.1 200")) || !bytes.Contains(p, []byte("video/mp4")) {
			return
		}
		i := bytes.Index(p, []byte("Content-Length: "))
		j := bytes.Index(p, []byte("\r\n\r\n"))
		n, _ := strconv.Atoi(string(p[i+16 : i+16+bytes.IndexByte(p[i+16:], '\r')]))
		hdr := uint32(j + 4)
		// The part of the body in this packet was emitted; skip the rest.
		if err := vw.Skip(ev.Flow(), true, ev.Seq+uint32(len(p)), uint32(n)-(uint32(len(p))-hdr), 0); err != nil {
			t.Error(err)
		}
	}
	r, err := NewReplayer(&c, col)
	if err != nil {
		t.Fatal(err)
	}
	vw = r.Verdicts()
	if err := r.File(path); err != nil {
		t.Fatal(err)
	}
	st, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(st.Emitted.Streams.Bytes) / float64(capBytes)
	t.Logf("capture %d bytes, emitted %d (%.3f%%), skipped %d payload bytes", capBytes, st.Emitted.Streams.Bytes, 100*ratio, st.Counters["stream_skipped_bytes"])
	if ratio >= 0.02 {
		t.Errorf("emitted %.2f%% of the flow, want under 2%%", 100*ratio)
	}
	second := false
	for _, ev := range col.evs {
		if bytes.Contains(ev.Payload, []byte("GET /second")) {
			second = true
		}
	}
	if !second || st.Counters["stream_skipped_bytes"] < body*9/10 {
		t.Errorf("second request seen %v, skipped %d", second, st.Counters["stream_skipped_bytes"])
	}
}

// writeKeepAlive writes one HTTP keep-alive connection: a video response
// of bodyLen bytes, then a second request.
func writeKeepAlive(t *testing.T, dst string, bodyLen int) int {
	t.Helper()
	out := newPcapOut(t, dst)
	ts := time.Unix(1700000000, 0)
	write := func(p testutil.Pkt) {
		ts = ts.Add(20 * time.Microsecond)
		out.write(p.Frame(), ts)
	}
	cl := testutil.Pkt{Src: "10.1.0.1", Dst: "10.2.0.1", Sport: 45000, Dport: 80}
	sv := cl.Reply(0, 0, "", nil)
	cseq, sseq := uint32(100), uint32(9000)
	write(cl.With(cseq, "S", nil))
	write(sv.With(sseq, "SA", nil))
	cseq++
	sseq++
	req := []byte("GET /video.mp4 HTTP/1.1\r\nHost: lab\r\n\r\n")
	write(cl.With(cseq, "PA", req))
	cseq += uint32(len(req))
	hdr := []byte("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: " + strconv.Itoa(bodyLen) + "\r\n\r\n")
	resp := append(hdr, bytes.Repeat([]byte{0xab}, bodyLen)...)
	for off, n := 0, 0; off < len(resp); off += 1448 {
		end := min(off+1448, len(resp))
		write(sv.With(sseq, "A", resp[off:end]))
		sseq += uint32(end - off)
		if n++; n%2 == 0 {
			a := cl.With(cseq, "A", nil)
			a.Ack = sseq // what the client got: inside the skipped body
			write(a)
		}
	}
	req2 := []byte("GET /second HTTP/1.1\r\nHost: lab\r\n\r\n")
	write(cl.With(cseq, "PA", req2))
	cseq += uint32(len(req2))
	write(sv.With(sseq, "PA", []byte("HTTP/1.1 204 No Content\r\n\r\n")))
	write(cl.With(cseq, "FA", nil))
	return out.total
}

// Events carry the capture's time, and the interface name a pcapng file
// gives ("replay" when it gives none); replay has no ifindex.
func TestPrivilegedReplayEventsCarryCaptureTimeAndInterface(t *testing.T) {
	col := &collector{}
	replayFiles(t, nil, col, filepath.Join(corpus, "tls_curl12.pcap"))
	if len(col.evs) == 0 {
		t.Fatal("no events")
	}
	for _, ev := range col.evs {
		if ev.Time.Year() != 2026 || ev.Interface != "replay" {
			t.Fatalf("event time %v interface %q: want the capture's time and \"replay\"", ev.Time, ev.Interface)
		}
		if !strings.HasPrefix(ev.Client().Addr().String(), "10.200.0.") {
			t.Fatalf("client %v", ev.Client())
		}
	}
	// The same packets as pcapng from an interface named mirror0.
	path := filepath.Join(t.TempDir(), "named.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "mirror0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := os.Open(filepath.Join(corpus, "tls_curl12.pcap"))
	defer in.Close()
	r, _ := pcapgo.NewReader(in)
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		w.WritePacket(ci, data)
	}
	w.Flush()
	f.Close()
	named := &collector{}
	replayFiles(t, nil, named, path)
	if len(named.evs) != len(col.evs) {
		t.Fatalf("pcapng replay: %d events, pcap %d", len(named.evs), len(col.evs))
	}
	for i, ev := range named.evs {
		if ev.Interface != "mirror0" || !ev.Time.Equal(col.evs[i].Time) {
			t.Fatalf("pcapng event %d: interface %q time %v", i, ev.Interface, ev.Time)
		}
	}
}
