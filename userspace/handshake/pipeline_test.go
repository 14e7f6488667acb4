package handshake

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
)

// The corpus through the pipeline alone, in order, shuffled and with
// duplicates: the fingerprints are the truth every time.
func TestCorpusFingerprints(t *testing.T) {
	for _, name := range []string{"tls_curl13", "tls_curl12", "tls_go_pq", "tls_openssl_nosni"} {
		tr := readTruth(t, name)
		want := tr.TLS[0]
		base := packetEvents(t, name, uint16(want.ClientPort))
		rng := rand.New(rand.NewSource(7))
		variants := map[string][]datapath.Event{"in order": base}
		shuffled := append([]datapath.Event(nil), base...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		variants["shuffled"] = shuffled
		dup := append([]datapath.Event(nil), base...)
		dup = append(dup, base[:3]...)
		variants["duplicated"] = append(dup[3:], dup[:3]...)
		for vname, evs := range variants {
			got := run(t, evs, Config{})
			if len(got) != 1 {
				t.Fatalf("%s %s: %d events", name, vname, len(got))
			}
			e := got[0]
			checks := map[string][2]any{
				"tls.client.ja3":         {field(e, "tls.client.ja3"), want.JA3},
				"tls.client.ja4":         {field(e, "tls.client.ja4"), want.JA4},
				"tls.server.ja3s":        {field(e, "tls.server.ja3s"), want.JA3S},
				"source.port":            {field(e, "source.port"), float64(want.ClientPort)},
				"destination.port":       {field(e, "destination.port"), float64(want.ServerPort)},
				"edgesensor.tls.dataset": {field(e, "event.dataset"), Dataset},
			}
			sni := field(e, "tls.client.server_name")
			if want.SNI == "" {
				if sni != nil {
					t.Errorf("%s %s: server_name %v without SNI", name, vname, sni)
				}
			} else {
				checks["tls.client.server_name"] = [2]any{sni, want.SNI}
			}
			for k, c := range checks {
				if c[0] != c[1] {
					t.Errorf("%s %s: %s = %v, want %v", name, vname, k, c[0], c[1])
				}
			}
			if field(e, "edgesensor.tls.complete") != true {
				t.Errorf("%s %s: incomplete: %v", name, vname, field(e, "edgesensor.tls.missing"))
			}
		}
	}
}

// Only the ClientHello arrived: the event still comes, saying what is
// missing, after the idle time.
func TestPartialHandshakeTimesOut(t *testing.T) {
	tr := readTruth(t, "tls_curl12")
	evs := packetEvents(t, "tls_curl12", uint16(tr.TLS[0].ClientPort))[:1]
	var buf bytes.Buffer
	out := ndjson.NewNDJSON(&buf)
	p := New(Config{Idle: 10 * time.Second}, out)
	sh := p.NewShard(0)
	sh.Handle(&evs[0])
	sh.Tick(evs[0].Time.Add(5 * time.Second))
	out.Flush()
	if buf.Len() != 0 {
		t.Fatal("written before the idle time")
	}
	sh.Tick(evs[0].Time.Add(11 * time.Second))
	out.Flush()
	var e map[string]any
	if err := stdjson.Unmarshal(buf.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	miss, _ := field(e, "edgesensor.tls.missing").([]any)
	if field(e, "edgesensor.tls.end") != "timeout" || len(miss) != 1 || miss[0] != "server_hello" ||
		field(e, "tls.client.ja3") != tr.TLS[0].JA3 {
		t.Errorf("partial event: end %v missing %v", field(e, "edgesensor.tls.end"), miss)
	}
	if p.Stats.Events.Load() != 1 {
		t.Errorf("events counter %d", p.Stats.Events.Load())
	}
}

// A TLS 1.2 server flight without its certificate record (a segment
// lost): the event says the certificate is missing and that there was a gap.
func TestMissingCertificateSegment(t *testing.T) {
	tr := readTruth(t, "tls_curl12")
	evs := packetEvents(t, "tls_curl12", uint16(tr.TLS[0].ClientPort))
	// Cut the server's first flight (ServerHello, Certificate, ...) after
	// its first 100 bytes.
	for i := range evs {
		if !evs[i].FromClient() {
			p := evs[i].Payload
			cut := 5 + (int(p[3])<<8 | int(p[4])) // the ServerHello record only
			cut += 5 + 10                         // and a bit of the next
			evs[i].Payload = p[:cut]
			evs[i].PayloadLen = cut
			break
		}
	}
	got := run(t, evs, Config{})
	miss, _ := field(got[0], "edgesensor.tls.missing").([]any)
	if len(miss) != 1 || miss[0] != "certificate" || field(got[0], "edgesensor.tls.gaps") != true {
		t.Errorf("missing %v gaps %v", miss, field(got[0], "edgesensor.tls.gaps"))
	}
}

// A TLS 1.3 server segment past its first encrypted record lost (the
// data plane's ring was full) before the client finished: the analysis
// read everything it reads, so the event is whole, without gaps or
// lost_events; the data plane's lost count on later events does not flag
// it, its lost flag does. When the segment lost is the one that starts
// with the first encrypted record, only the data plane knew where the
// plaintext ended: its sealed mark on the server's later packets says so.
func TestLossPastTheEncryptedStartIsHarmless(t *testing.T) {
	tr := readTruth(t, "tls_curl13")
	evs := packetEvents(t, "tls_curl13", uint16(tr.TLS[0].ClientPort))
	// The server's first segment holds the ServerHello, ChangeCipherSpec
	// and the start of the first encrypted record: cut it into two
	// segments, and lose the second.
	cutAt := func(into int, sealed bool) []datapath.Event {
		var seg []datapath.Event
		for i := range evs {
			if evs[i].FromClient() {
				continue
			}
			p := evs[i].Payload
			cut := -1
			for off := 0; off+5 <= len(p); off += 5 + (int(p[off+3])<<8 | int(p[off+4])) {
				if p[off] == 23 {
					cut = off + into
					break
				}
			}
			if cut < 0 || cut >= len(p) {
				t.Fatalf("the server's first segment has no encrypted record to cut (at %d of %d)", cut, len(p))
			}
			head := evs[i]
			head.Payload, head.PayloadLen = p[:cut], cut
			seg = append(append(append(seg, evs[:i]...), head), evs[i+1:]...)
			for j := i + 1; j < len(seg); j++ {
				seg[j].Lost = 1
				if sealed && !seg[j].FromClient() {
					seg[j].State |= datapath.StateSealed
				}
			}
			return seg
		}
		t.Fatal("no server segment")
		return nil
	}
	for _, c := range []struct {
		name   string
		into   int  // where in the first encrypted record the segments part
		sealed bool // the data plane's mark on the server's later packets
		gaps   bool
	}{
		{"20 bytes into the record", 20, false, false},
		{"at the record's header, marked", 0, true, false},
		{"at the record's header, unmarked", 0, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := cutAt(c.into, c.sealed)
			got := run(t, seg, Config{})
			if len(got) != 1 {
				t.Fatalf("%d events, want 1", len(got))
			}
			e := got[0]
			if c.gaps {
				if field(e, "edgesensor.tls.gaps") != true {
					t.Errorf("a hole the data plane did not vouch for: gaps %v, want true", field(e, "edgesensor.tls.gaps"))
				}
				return
			}
			if field(e, "edgesensor.tls.complete") != true || field(e, "edgesensor.tls.gaps") != nil ||
				field(e, "edgesensor.tls.lost_events") != nil || field(e, "tls.client.ja4") != tr.TLS[0].JA4 ||
				field(e, "edgesensor.tls.end") != "finished" {
				t.Errorf("end %v complete %v gaps %v lost_events %v ja4 %v (want %s)", field(e, "edgesensor.tls.end"),
					field(e, "edgesensor.tls.complete"), field(e, "edgesensor.tls.gaps"), field(e, "edgesensor.tls.lost_events"),
					field(e, "tls.client.ja4"), tr.TLS[0].JA4)
			}
			for j := range seg {
				if seg[j].Lost > 0 {
					seg[j].Flags |= datapath.FlagLost
				}
			}
			// (The packets after the event, flagged, may start another:
			// the data plane says it lost what could be a new hello.)
			if got := run(t, seg, Config{}); len(got) == 0 || field(got[0], "edgesensor.tls.lost_events") != true {
				t.Errorf("the data plane's lost flag did not reach the event")
			}
		})
	}
}

// The hello gate's packets reach OnHeld after the analysis read them,
// with the flow's hello as OnClientHello was told it (judged then: the
// same shard read it first) and the gate's name, the hello's first
// sequence number; a server packet before the whole hello reaches it
// with none (it waits); a packet not held does not reach it.
func TestHeldPacketsFollowTheirHello(t *testing.T) {
	tr := readTruth(t, "tls_curl13")
	evs := packetEvents(t, "tls_curl13", uint16(tr.TLS[0].ClientPort))
	if !evs[0].FromClient() || len(evs[0].Payload) < 100 {
		t.Fatal("the capture does not start with the ClientHello")
	}
	// The hello in two segments, a held server packet between them (a
	// server racing its own client), and the server's flight held.
	first, second := evs[0], evs[0]
	first.Payload, first.PayloadLen = evs[0].Payload[:60], 60
	second.Payload, second.PayloadLen, second.Seq = evs[0].Payload[60:], len(evs[0].Payload)-60, evs[0].Seq+60
	early := datapath.Event{Class: datapath.ClassTLS, Proto: datapath.ProtoTCP, Time: evs[0].Time, Interface: "test",
		Src: evs[0].Dst, Dst: evs[0].Src, Seq: 77, Ack: evs[0].Seq, Payload: []byte{23, 3, 3, 0, 1, 0}, TCPFlags: 0x18,
		State: datapath.StateHeld}
	early.PayloadLen = len(early.Payload)
	held := -1
	seq := append([]datapath.Event{first, early, second}, evs[1:]...)
	for i := range seq {
		if i > 2 && !seq[i].FromClient() {
			seq[i].State |= datapath.StateHeld
			held = i
			break
		}
	}
	var order []string
	var out bytes.Buffer
	sink := ndjson.NewNDJSON(&out)
	p := New(Config{
		OnClientHello: func(h *Hello) { order = append(order, fmt.Sprintf("hello %s seq %d", h.SNI, h.Seq)) },
		OnHeld: func(ev *datapath.Event, judged *Hello) {
			if judged == nil {
				order = append(order, fmt.Sprintf("held %d bytes, unjudged", ev.PayloadLen))
				return
			}
			order = append(order, fmt.Sprintf("held %d bytes, judged %s seq %d", ev.PayloadLen, judged.SNI, judged.Seq))
		},
	}, sink)
	sh := p.NewShard(0)
	for i := range seq {
		sh.Handle(&seq[i])
	}
	sh.Close()
	sink.Flush()
	want := []string{
		"held 6 bytes, unjudged",
		fmt.Sprintf("hello %s seq %d", tr.TLS[0].SNI, evs[0].Seq),
		fmt.Sprintf("held %d bytes, judged %s seq %d", seq[held].PayloadLen, tr.TLS[0].SNI, evs[0].Seq),
	}
	if !slices.Equal(order, want) {
		t.Errorf("hooks called\n%q\nwant\n%q", order, want)
	}
	if !strings.Contains(out.String(), tr.TLS[0].JA3S) {
		t.Errorf("the held ServerHello was not read: no JA3S %s in %s", tr.TLS[0].JA3S, out.String())
	}
}

// A server that refuses the ClientHello sends a plaintext alert instead
// of a ServerHello: the event carries the alert.
func TestServerRefusalAlert(t *testing.T) {
	tr := readTruth(t, "tls_curl12")
	evs := packetEvents(t, "tls_curl12", uint16(tr.TLS[0].ClientPort))
	var kept []datapath.Event
	for _, ev := range evs {
		if ev.FromClient() {
			kept = append(kept, ev)
			break // the ClientHello
		}
	}
	for _, ev := range evs {
		if !ev.FromClient() {
			ev.Payload = []byte{21, 3, 3, 0, 2, 2, 120} // fatal no_application_protocol
			ev.PayloadLen = len(ev.Payload)
			kept = append(kept, ev)
			break
		}
	}
	got := run(t, kept, Config{})
	alerts, _ := field(got[0], "edgesensor.tls.alerts").([]any)
	if len(alerts) != 1 || alerts[0] != "no_application_protocol" || field(got[0], "tls.client.ja3") != tr.TLS[0].JA3 {
		t.Errorf("alerts %v", alerts)
	}
}

// QUIC: the RFC's client and server Initials, with the data plane's guess
// of the direction wrong: the keys put the client right, and the
// ClientHello gets a "q" JA4.
func TestQUICHandshakeEvent(t *testing.T) {
	cl := netip.MustParseAddrPort("192.0.2.10:50000")
	sv := netip.MustParseAddrPort("198.51.100.1:443")
	now := time.Unix(1700000000, 0)
	evs := []datapath.Event{
		// The server's Initial seen first and taken for the client.
		{Class: datapath.ClassQUIC, Proto: datapath.ProtoUDP, Src: sv, Dst: cl, Time: now, Flags: datapath.FlagFromClient | datapath.FlagFlowNew,
			Payload: readHex(t, "rfc9001-a3-server-initial.hex")},
		{Class: datapath.ClassQUIC, Proto: datapath.ProtoUDP, Src: cl, Dst: sv, Time: now.Add(time.Millisecond),
			Payload: readHex(t, "rfc9001-a2-client-initial.hex")},
	}
	for i := range evs {
		evs[i].PayloadLen = len(evs[i].Payload)
	}
	got := run(t, evs, Config{})
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	e := got[0]
	ja4, _ := field(e, "tls.client.ja4").(string)
	if !strings.HasPrefix(ja4, "q13d0") || field(e, "tls.client.server_name") != "example.com" {
		t.Errorf("ja4 %q sni %v", ja4, field(e, "tls.client.server_name"))
	}
	if field(e, "source.port") != float64(50000) || field(e, "network.transport") != "udp" || field(e, "network.protocol") != "quic" {
		t.Errorf("endpoints: %v -> %v", field(e, "source"), field(e, "destination"))
	}
	if field(e, "tls.cipher") != "TLS_AES_128_GCM_SHA256" || field(e, "edgesensor.tls.quic.version") != "1" {
		t.Errorf("cipher %v quic %v", field(e, "tls.cipher"), field(e, "edgesensor.tls.quic"))
	}
	// Without a server answer, the client's hello alone is written after
	// the quiet time.
	var buf bytes.Buffer
	out := ndjson.NewNDJSON(&buf)
	p := New(Config{}, out)
	sh := p.NewShard(0)
	alone := evs[1]
	alone.Flags |= datapath.FlagFlowNew
	sh.Handle(&alone)
	sh.Tick(now.Add(DefaultQUICQuiet + time.Second))
	out.Flush()
	if !strings.Contains(buf.String(), `"end":"server_silent"`) {
		t.Errorf("client-only QUIC: %s", buf.String())
	}
	// The client's later Initials (ACKs, retransmissions) come after the
	// event was written: they make no second one.
	buf.Reset()
	late := evs[1]
	sh.Handle(&late)
	sh.Tick(now.Add(time.Hour))
	out.Flush()
	if buf.Len() != 0 || p.Stats.LateDatagrams.Load() != 1 {
		t.Errorf("a late Initial made an event (%d late): %s", p.Stats.LateDatagrams.Load(), buf.String())
	}
}

// BenchmarkHandshakeEvent: the userspace cost of one whole TCP handshake,
// from the data plane's packet events to the JSON line written: stream
// reassembly, records, hellos (and the certificate for TLS 1.2),
// fingerprints, the event.
func BenchmarkHandshakeEvent(b *testing.B) {
	for _, name := range []string{"tls_curl13", "tls_curl12", "tls_go_pq"} {
		b.Run(name, func(b *testing.B) {
			tr := readTruth(b, name)
			evs := packetEvents(b, name, uint16(tr.TLS[0].ClientPort))
			evs[len(evs)-1].Flags |= datapath.FlagHSDone
			evs[len(evs)-1].State = 2
			out := ndjson.NewNDJSON(io.Discard)
			p := New(Config{}, out)
			sh := p.NewShard(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Each a new flow: a written handshake's late packets
				// start nothing.
				for j := range evs {
					evs[j].Zone = uint32(i)
					sh.Handle(&evs[j])
				}
			}
			b.StopTimer()
			if got := p.Stats.Events.Load(); got != uint64(b.N) {
				b.Fatalf("%d events for %d handshakes", got, b.N)
			}
		})
	}
}

// The fast encoder writes what encoding/json would, for every corpus
// event and for names with quotes, HTML and bytes that are not UTF-8.
func TestEventJSONMatchesEncodingJSON(t *testing.T) {
	var evs []*Event
	for _, name := range []string{"tls_curl13", "tls_curl12", "tls_go_pq", "tls_openssl_nosni"} {
		tr := readTruth(t, name)
		p := New(Config{Score: func(e *Event) { evs = append(evs, e) }}, ndjson.NewNDJSON(io.Discard))
		sh := p.NewShard(0).(*shard)
		in := packetEvents(t, name, uint16(tr.TLS[0].ClientPort))
		for i := range in {
			sh.Handle(&in[i])
		}
		sh.Close()
	}
	if len(evs) != 4 {
		t.Fatalf("%d events from 4 captures", len(evs))
	}
	odd := *evs[0]
	odd.TLS.Client = &TLSClient{ServerName: "a\"b<c>&d\xff\xfe\u2028e", SupportedCiphers: []string{}}
	evs = append(evs, &odd)
	for i, ev := range evs {
		want, err := stdjson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var sh shard
		got, err := sh.encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append(want, '\n')) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// Arbitrary packet events, both classes, any order: no panic, and every
// line written is one JSON object.
func FuzzPipeline(f *testing.F) {
	tr := readTruth(f, "tls_curl12")
	var seed []byte
	for _, ev := range packetEvents(f, "tls_curl12", uint16(tr.TLS[0].ClientPort)) {
		dir := byte(0)
		if ev.FromClient() {
			dir = 1
		}
		seed = append(seed, dir, byte(ev.Seq>>8), byte(ev.Seq), byte(len(ev.Payload)>>8), byte(len(ev.Payload)))
		seed = append(seed, ev.Payload...)
	}
	f.Add(seed)
	f.Add(append([]byte{0x83, 0, 0, 0x04, 0xb0}, readHex(f, "rfc9001-a2-client-initial.hex")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf bytes.Buffer
		out := ndjson.NewNDJSON(&buf)
		p := New(Config{MaxFlows: 4}, out)
		sh := p.NewShard(0)
		cl := netip.MustParseAddrPort("192.0.2.1:40000")
		sv := netip.MustParseAddrPort("198.51.100.1:443")
		now := time.Unix(1700000000, 0)
		for len(data) >= 5 {
			// flags byte: bit 0 from client, bit 1 QUIC, bit 2 HS done,
			// bit 3 flow new, bits 4-5 pick one of four client ports.
			fl, seq, n := data[0], uint32(data[1])<<8|uint32(data[2]), int(data[3])<<8|int(data[4])
			data = data[5:]
			n = min(n, len(data))
			ev := datapath.Event{Class: datapath.ClassTLS, Proto: datapath.ProtoTCP, Time: now, Interface: "fuzz",
				Src: netip.AddrPortFrom(cl.Addr(), cl.Port()+uint16(fl>>4&3)), Dst: sv, Seq: 1000 + seq,
				Payload: data[:n], PayloadLen: n, TCPFlags: 0x18}
			if fl&1 != 0 {
				ev.Flags |= datapath.FlagFromClient
			} else {
				ev.Src, ev.Dst = ev.Dst, ev.Src
			}
			if fl&2 != 0 {
				ev.Class, ev.Proto = datapath.ClassQUIC, datapath.ProtoUDP
			}
			if fl&4 != 0 {
				ev.Flags |= datapath.FlagHSDone
				ev.State = 2
			}
			if fl&8 != 0 {
				ev.Flags |= datapath.FlagFlowNew
			}
			sh.Handle(&ev)
			data = data[n:]
			now = now.Add(time.Second)
		}
		sh.Tick(now.Add(time.Hour))
		if s := sh.(*shard); len(s.flows) != 0 || s.activity.Len() != 0 || s.mem != 0 {
			t.Fatalf("after the idle time: %d flows, %d bytes accounted", len(s.flows), s.mem)
		}
		sh.Close()
		out.Flush()
		for _, line := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
			if len(line) > 0 && !stdjson.Valid(line) {
				t.Fatalf("not JSON: %s", line)
			}
		}
	})
}

// Every event carries its flow's community id under the configured
// seed, whichever side was taken for the client: for the TCP capture,
// the ids Wireshark 4.0 computes for it (seed 0 and 7); for QUIC, the
// UDP flow's.
func TestEventCommunityID(t *testing.T) {
	tr := readTruth(t, "tls_curl13")
	tcp := packetEvents(t, "tls_curl13", uint16(tr.TLS[0].ClientPort))
	for seed, want := range map[uint16]string{0: "1:ps5TxhTlxtCtaNRuxL4+qfgMjx8=", 7: "1:tstyhpzANRRzN95cy3chX4EIoO0="} {
		got := run(t, tcp, Config{CommunityIDSeed: seed})
		if len(got) != 1 || field(got[0], "network.community_id") != want {
			t.Errorf("tls_curl13 seed %d: community id %v, want %s", seed, field(got[0], "network.community_id"), want)
		}
	}
	cl := netip.MustParseAddrPort("[2001:db8::10]:50000")
	sv := netip.MustParseAddrPort("[2001:db8:1::1]:443")
	now := time.Unix(1700000000, 0)
	quic := []datapath.Event{
		// The server's Initial first, taken for the client's.
		{Class: datapath.ClassQUIC, Proto: datapath.ProtoUDP, Src: sv, Dst: cl, Time: now, Flags: datapath.FlagFromClient | datapath.FlagFlowNew,
			Payload: readHex(t, "rfc9001-a3-server-initial.hex")},
		{Class: datapath.ClassQUIC, Proto: datapath.ProtoUDP, Src: cl, Dst: sv, Time: now.Add(time.Millisecond),
			Payload: readHex(t, "rfc9001-a2-client-initial.hex")},
	}
	for i := range quic {
		quic[i].PayloadLen = len(quic[i].Payload)
	}
	got := run(t, quic, Config{CommunityIDSeed: 4242})
	want := communityid.String(4242, communityid.UDP, cl, sv)
	if len(got) != 1 || field(got[0], "network.community_id") != want || field(got[0], "source.port") != float64(50000) {
		t.Errorf("QUIC: community id %v, want %s (source %v)", field(got[0], "network.community_id"), want, field(got[0], "source"))
	}
}
