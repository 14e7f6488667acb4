package craft

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// The flood cases are as big as FloodSize says.
func TestFloodSizes(t *testing.T) {
	fs := FloodSize{SYNs: 300, HalfOpen: 40, HeaderConns: 7, HeaderBytes: 5000, OOOConns: 6, OOOPieces: 33}
	count := func(name string, f func(tcp *layers.TCP) bool) int {
		c, _ := Lookup(name)
		ps, _ := build(t, c, Options{Seed: 1, Flood: fs})
		n := 0
		for _, p := range ps {
			pk := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
			if tcp, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && f(tcp) {
				n++
			}
		}
		return n
	}
	syn := func(tcp *layers.TCP) bool { return tcp.SYN && !tcp.ACK }
	for _, c := range []struct {
		name string
		f    func(*layers.TCP) bool
		want int
	}{
		{"flood_syn", syn, fs.SYNs + 1},
		{"flood_halfopen_tls", func(tcp *layers.TCP) bool {
			return len(tcp.Payload) > 5 && tcp.Payload[0] == 22 && tcp.Payload[5] == 1
		}, fs.HalfOpen + 1},
		{"flood_headers", syn, fs.HeaderConns + 1},
		{"flood_headers", func(tcp *layers.TCP) bool { return string(tcp.Payload[:min(len(tcp.Payload), 11)]) == "GET /flood/" }, fs.HeaderConns},
		{"flood_ooo_bytes", func(tcp *layers.TCP) bool { return len(tcp.Payload) == 1 }, fs.OOOConns * fs.OOOPieces},
	} {
		if got := count(c.name, c.f); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// countSink counts what a case writes.
type countSink struct{ packets, bytes int }

func (s *countSink) WritePacket(p Packet) error {
	s.packets++
	s.bytes += len(p.Data)
	return nil
}

// BenchmarkFloods builds the floods at issue 13's sizes (what a flood
// benchmark of the sensor replays), without writing them anywhere.
func BenchmarkFloods(b *testing.B) {
	for _, c := range Cases() {
		if !c.Flood {
			continue
		}
		b.Run(c.Name, func(b *testing.B) {
			var s countSink
			for i := 0; i < b.N; i++ {
				s = countSink{}
				if _, err := c.Build(corpus(b), Options{Seed: 1, Flood: FullFloods()}, &s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.packets), "packets/op")
			b.ReportMetric(float64(s.bytes)/1e6, "MB/op")
		})
	}
}
