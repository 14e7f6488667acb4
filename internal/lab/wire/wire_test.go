package wire

import (
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func sum16(b []byte, sum uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// checksumsOK verifies the IPv4 and TCP checksums of a frame whose IPv4
// header starts at ip and has no options.
func checksumsOK(t *testing.T, f []byte, ip int) {
	t.Helper()
	if fold(sum16(f[ip:ip+20], 0)) != 0xffff {
		t.Errorf("IPv4 header checksum wrong")
	}
	tcp := f[ip+20:]
	pseudo := sum16(f[ip+12:ip+20], uint32(6)+uint32(len(tcp)))
	if fold(sum16(tcp, pseudo)) != 0xffff {
		t.Errorf("TCP checksum wrong")
	}
}

func TestFramesCutTagAndRenumber(t *testing.T) {
	payload := make([]byte, 3000)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, tc := range []struct {
		name string
		tags []uint16
		from bool
	}{{"untagged client", nil, true}, {"802.1Q server", []uint16{100}, false}, {"QinQ client", []uint16{200, 300}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := Synthetic(payload, tc.from).Frames(61000, tc.tags)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != 3 {
				t.Fatalf("%d frames for 3000 bytes", len(frames))
			}
			var got []byte
			for i, f := range frames {
				p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
				var ids []uint16
				for _, l := range p.Layers() {
					if q, ok := l.(*layers.Dot1Q); ok {
						ids = append(ids, q.VLANIdentifier)
					}
				}
				if len(ids) != len(tc.tags) || len(ids) > 0 && ids[0] != tc.tags[0] {
					t.Errorf("frame %d: tags %v, want %v", i, ids, tc.tags)
				}
				if len(tc.tags) == 2 && binary.BigEndian.Uint16(f[12:]) != 0x88a8 {
					t.Errorf("outer TPID %#x", binary.BigEndian.Uint16(f[12:]))
				}
				tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if port := tcp.SrcPort; !tc.from {
					port = tcp.DstPort
					if tcp.SrcPort != 443 || port != 61000 {
						t.Errorf("ports %d -> %d", tcp.SrcPort, tcp.DstPort)
					}
				} else if port != 61000 || tcp.DstPort != 443 {
					t.Errorf("ports %d -> %d", tcp.SrcPort, tcp.DstPort)
				}
				if tcp.Seq != 1000+uint32(len(got)) {
					t.Errorf("frame %d: seq %d", i, tcp.Seq)
				}
				got = append(got, tcp.Payload...)
				checksumsOK(t, f, 14+4*len(tc.tags))
			}
			if string(got) != string(payload) {
				t.Error("payload not reassembled from the frames")
			}
		})
	}
}
