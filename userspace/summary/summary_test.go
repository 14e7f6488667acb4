package summary

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/capture"
	"github.com/edgesensor/edgesensor/userspace/output"
)

func TestLineIsECSJSONWithClientAsSource(t *testing.T) {
	ev := capture.Event{
		Time:       time.Date(2026, 11, 25, 12, 0, 0, 5000, time.UTC),
		Interface:  `eth"0`,
		Class:      capture.ClassTLS,
		Flags:      capture.FlagFlowNew | capture.FlagHSDone, // server -> client
		Proto:      capture.ProtoTCP,
		TCPFlags:   capture.TCPAck | capture.TCPPsh,
		Src:        netip.MustParseAddrPort("[2001:db8::1]:443"),
		Dst:        netip.MustParseAddrPort("[2001:db8::2]:50000"),
		Seq:        4000000000,
		VLAN:       [2]uint16{10, 20},
		Lost:       3,
		FrameLen:   1514,
		Frame:      make([]byte, 1514),
		PayloadLen: 1448,
	}
	line := AppendEvent(nil, &ev)
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	get := func(path ...string) any {
		var v any = m
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v
	}
	checks := map[string][2]any{
		"source.ip":             {get("source", "ip"), "2001:db8::2"},
		"source.port":           {get("source", "port"), 50000.0},
		"destination.port":      {get("destination", "port"), 443.0},
		"interface":             {get("observer", "ingress", "interface", "name"), `eth"0`},
		"dataset":               {get("event", "dataset"), Dataset},
		"direction":             {get("edgesensor", "packet", "direction"), "to_client"},
		"class":                 {get("edgesensor", "packet", "class"), "tls"},
		"tcp_flags":             {get("edgesensor", "packet", "tcp_flags"), "PA"},
		"tcp_seq":               {get("edgesensor", "packet", "tcp_seq"), 4000000000.0},
		"@timestamp":            {m["@timestamp"], "2026-11-25T12:00:00.000005Z"},
		"network.transport":     {get("network", "transport"), "tcp"},
		"payload_bytes":         {get("edgesensor", "packet", "payload_bytes"), 1448.0},
		"edgesensor.lost_bytes": {get("edgesensor", "packet", "lost_before"), 3.0},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
	flags := get("edgesensor", "packet", "flags").([]any)
	if len(flags) != 2 || flags[0] != "flow_new" || flags[1] != "handshake_done" {
		t.Errorf("flags %v", flags)
	}
}

func TestPipelineWritesEveryEvent(t *testing.T) {
	var buf bytes.Buffer
	out := output.NewNDJSON(&buf)
	p := New(out)
	shards := []capture.Shard{p.NewShard(0), p.NewShard(1)}
	ev := capture.Event{Class: capture.ClassQUIC, Proto: capture.ProtoUDP,
		Src: netip.MustParseAddrPort("10.0.0.1:5000"), Dst: netip.MustParseAddrPort("10.0.0.2:443"), Flags: capture.FlagFromClient}
	for i := 0; i < 100; i++ {
		shards[i%2].Handle(&ev)
	}
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 100 {
		t.Errorf("%d lines, want 100", n)
	}
	if bytes.Contains(buf.Bytes(), []byte("tcp_seq")) {
		t.Error("UDP event carries TCP fields")
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := capture.Event{Class: capture.ClassStream, Proto: capture.ProtoTCP, Time: time.Now(),
		Src: netip.MustParseAddrPort("10.0.0.1:5000"), Dst: netip.MustParseAddrPort("10.0.0.2:80"), Interface: "eth0"}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], &ev)
	}
}

func TestJSONStringEscaping(t *testing.T) {
	for _, in := range []string{"plain", `q"uote\\`, "ctl\x01\x1f\x7f", "bad\xffutf8", "ünïcode", "\u2028"} {
		b := AppendJSONString(nil, in)
		var out string
		if err := json.Unmarshal(b, &out); err != nil {
			t.Errorf("%q: %s is not a JSON string: %v", in, b, err)
			continue
		}
		if utf8.ValidString(in) && out != in {
			t.Errorf("%q came back as %q", in, out)
		}
	}
}
