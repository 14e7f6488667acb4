package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

const corpusPcap = "../../../testdata/corpus/tls_curl13.pcap"

func readAll(t *testing.T, r *Reader) []Packet {
	t.Helper()
	var out []Packet
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Frame = append([]byte(nil), p.Frame...)
		out = append(out, p)
	}
}

// Our reader and gopacket's agree on every packet of a corpus capture.
func TestPcapMatchesGopacket(t *testing.T) {
	r, err := Open(corpusPcap)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)

	f, _ := os.Open(corpusPcap)
	defer f.Close()
	gr, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, err := gr.ReadPacketData()
		if err == io.EOF {
			if i != len(got) {
				t.Fatalf("%d packets, gopacket %d", len(got), i)
			}
			return
		}
		if !bytes.Equal(got[i].Frame, data) || !got[i].Time.Equal(ci.Timestamp) || got[i].OrigLen != ci.Length {
			t.Fatalf("packet %d differs", i)
		}
	}
}

// pcapng written by gopacket (another implementation) reads back with
// interface names, nanosecond times and mixed link types.
func TestPcapng(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth7", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	frame := testutil.Pkt{Sport: 1, Dport: 443, Flags: "PA", Payload: []byte("hi")}.Frame()
	ts := time.Unix(1700000000, 123456789)
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame), InterfaceIndex: 0}, frame); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame) - 14, Length: len(frame) - 14, InterfaceIndex: raw}, frame[14:]); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	pkts := readAll(t, r)
	if len(pkts) != 2 {
		t.Fatalf("%d packets", len(pkts))
	}
	if pkts[0].Interface != "eth7" || pkts[1].Interface != "tun0" {
		t.Errorf("interfaces %q %q", pkts[0].Interface, pkts[1].Interface)
	}
	if !pkts[0].Time.Equal(ts) {
		t.Errorf("time %v, want %v", pkts[0].Time, ts)
	}
	if !bytes.Equal(pkts[0].Frame, frame) || !bytes.Equal(pkts[1].Frame[12:], frame[12:]) {
		t.Error("frames differ after normalisation")
	}
}

func TestLinkTypesBecomeEthernet(t *testing.T) {
	frame := testutil.Pkt{V6: true, Sport: 1, Dport: 443, Flags: "PA", Payload: []byte("x")}.Frame()
	ip := frame[14:]
	sll := append(make([]byte, 14), 0x86, 0xdd)
	sll = append(sll, ip...)
	sll2 := append([]byte{0x86, 0xdd}, make([]byte, 18)...)
	sll2 = append(sll2, ip...)
	null := append([]byte{30, 0, 0, 0}, ip...) // AF_INET6 on BSD, little-endian
	loop := append([]byte{0, 0, 0, 24}, ip...)
	for _, tc := range []struct {
		name string
		link int
		data []byte
	}{{"ethernet", linkEthernet, frame}, {"sll", linkSLL, sll}, {"sll2", linkSLL2, sll2}, {"raw", linkRaw, ip},
		{"ipv6", linkIPv6, ip}, {"null", linkNull, null}, {"loop", linkLoop, loop}} {
		got, err := ToEthernet(nil, tc.link, tc.data)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if binary.BigEndian.Uint16(got[12:]) != 0x86dd || !bytes.Equal(got[14:], ip) {
			t.Errorf("%s: not the IPv6 packet behind an Ethernet header", tc.name)
		}
	}
	if _, err := ToEthernet(nil, 147, frame); !errors.Is(err, ErrUnsupportedLink) {
		t.Errorf("unknown link type: %v", err)
	}
}

func TestHostileHeaders(t *testing.T) {
	hdr := func(snap, capLen uint32) []byte {
		b := make([]byte, 24+16)
		binary.LittleEndian.PutUint32(b[0:], 0xa1b2c3d4)
		binary.LittleEndian.PutUint16(b[4:], 2)
		binary.LittleEndian.PutUint16(b[6:], 4)
		binary.LittleEndian.PutUint32(b[16:], snap)
		binary.LittleEndian.PutUint32(b[20:], 1)
		binary.LittleEndian.PutUint32(b[24+8:], capLen)
		binary.LittleEndian.PutUint32(b[24+12:], capLen)
		return b
	}
	// A 4 GiB packet claim must fail cleanly, without allocating it.
	r, err := NewReader(bytes.NewReader(hdr(0xffffffff, 0xfffffff0)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("huge packet: %v", err)
	}
	// A file cut in the middle of a packet ends cleanly.
	b := append(hdr(65535, 100), make([]byte, 50)...)
	r, _ = NewReader(bytes.NewReader(b))
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("truncated file: %v", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte("GIF89a......"))); err == nil {
		t.Error("a GIF opened as a capture")
	}
}

func TestResegment(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, v6 := range []bool{false, true} {
		big := testutil.Pkt{V6: v6, Sport: 443, Dport: 5000, Seq: 0xfffff000, Flags: "FPA", Payload: payload, VLANs: []uint16{7}}.Frame()
		var got []byte
		var n int
		var lastFlags, firstSeq byte
		_, err := Resegment(big, 1514, nil, func(f []byte) {
			n++
			if len(f) > 1514 {
				t.Errorf("piece of %d bytes", len(f))
			}
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if n == 1 {
				firstSeq = byte(tcp.Seq)
			}
			if want := uint32(0xfffff000) + uint32(len(got)); tcp.Seq != want {
				t.Errorf("piece %d seq %#x, want %#x", n, tcp.Seq, want)
			}
			got = append(got, tcp.Payload...)
			lastFlags = 0
			if tcp.FIN {
				lastFlags = 1
			}
			if tcp.FIN && len(got) != len(payload) {
				t.Error("FIN before the last piece")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) || n != 4 || lastFlags != 1 || firstSeq != 0 {
			t.Errorf("v6=%v: %d pieces, payload equal %v", v6, n, bytes.Equal(got, payload))
		}
	}
	if _, err := Resegment(testutil.Pkt{UDP: true, Sport: 1, Dport: 2, Payload: payload}.Frame(), 1514, nil, func([]byte) {}); !errors.Is(err, ErrNotSegmentable) {
		t.Errorf("UDP: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	if b, err := os.ReadFile(corpusPcap); err == nil {
		f.Add(b)
	}
	var ng bytes.Buffer
	w, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	fr := testutil.Pkt{Sport: 1, Dport: 2}.Frame()
	w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(fr), Length: len(fr)}, fr)
	w.Flush()
	f.Add(ng.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			p, err := r.Next()
			if err != nil {
				return
			}
			if len(p.Frame) > MaxPacket+14 {
				t.Fatalf("frame of %d bytes", len(p.Frame))
			}
		}
	})
}

func FuzzResegment(f *testing.F) {
	f.Add(testutil.Pkt{Sport: 443, Dport: 5000, Flags: "PA", Payload: make([]byte, 4000)}.Frame(), 1514)
	f.Add(testutil.Pkt{V6: true, Sport: 443, Dport: 5000, Flags: "PA", Payload: make([]byte, 4000)}.Frame(), 600)
	f.Fuzz(func(t *testing.T, frame []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		var got []byte
		hdr := -1
		frame = append([]byte(nil), frame...)
		_, err := Resegment(frame, max, nil, func(p []byte) {
			if len(p) > max {
				t.Fatalf("piece %d > %d", len(p), max)
			}
			pk := gopacket.NewPacket(p, layers.LayerTypeEthernet, gopacket.NoCopy)
			if tcp, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
				got = append(got, tcp.Payload...)
				hdr = len(p) - len(tcp.Payload)
			}
		})
		if err != nil || hdr < 0 {
			return
		}
		// What went in as payload (per an independent decoder) came out,
		// in order, byte for byte.
		in := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
		tcp, ok := in.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || in.ErrorLayer() != nil {
			return
		}
		if !bytes.Equal(got, tcp.Payload) {
			t.Fatalf("payload changed: %d bytes in, %d out", len(tcp.Payload), len(got))
		}
	})
}

func TestPcapngLimitsAndTime(t *testing.T) {
	le := binary.LittleEndian
	block := func(typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		b := le.AppendUint32(nil, typ)
		b = le.AppendUint32(b, uint32(12+len(body)))
		b = append(b, body...)
		return le.AppendUint32(b, uint32(12+len(body)))
	}
	shb := block(0x0a0d0d0a, []byte{0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	opt := func(code uint16, v []byte) []byte {
		b := le.AppendUint16(nil, code)
		b = le.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	idb := le.AppendUint16(nil, 1)
	idb = append(idb, 0, 0)
	idb = le.AppendUint32(idb, 0)
	idb = append(idb, opt(9, []byte{12})...)                 // picoseconds
	idb = append(idb, opt(14, le.AppendUint64(nil, 100))...) // +100 s
	idb = append(idb, opt(2, []byte("ev\x01il\"name"))...)   // hostile name
	idb = append(idb, 0, 0, 0, 0)
	frame := testutil.Pkt{Sport: 1, Dport: 2, Flags: "A", Payload: make([]byte, MaxPacket-54)}.Frame()
	ts := uint64(1_500_000_000_000) // 1.5 s in picoseconds
	epb := le.AppendUint32(nil, 0)
	epb = le.AppendUint32(epb, uint32(ts>>32))
	epb = le.AppendUint32(epb, uint32(ts))
	epb = le.AppendUint32(epb, uint32(len(frame)))
	epb = le.AppendUint32(epb, uint32(len(frame)))
	epb = append(epb, frame...)
	big := block(0x0bad, make([]byte, maxBlock+4096)) // an unknown block past the buffer limit: skipped
	file := append(append(append(append([]byte{}, shb...), block(1, idb)...), big...), block(6, epb)...)
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Next()
	if err != nil {
		t.Fatalf("a packet of exactly MaxPacket bytes after a big unknown block: %v", err)
	}
	if len(p.Frame) != MaxPacket || p.Time.Unix() != 101 || p.Time.Nanosecond() != 500000000 {
		t.Errorf("frame %d bytes at %v (want %d at 101.5s)", len(p.Frame), p.Time, MaxPacket)
	}
	if p.Interface != "ev\x01il\"name" {
		t.Errorf("interface %q", p.Interface)
	}
}
