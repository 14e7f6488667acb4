// Command hsreplay loads the sensor with TLS handshakes faster than real
// clients and servers can make them on a small machine: it takes one
// handshake from a lab capture and sends n copies, each with its own
// client address and port, on an interface through an AF_PACKET socket
// at a given rate. Frames go to a destination MAC nobody owns, so XDP on
// the peer sees them and the stack then drops them: nothing is forwarded
// and no server answers.
//
//	ip netns exec CLIENT hsreplay -pcap hs.pcap -server 10.0.2.2:443 -iface veth0 -n 30000 -rate 10000
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgesensor/edgesensor/internal/lab/wire"
)

func main() {
	pcap := flag.String("pcap", "", "capture holding a TLS handshake")
	server := flag.String("server", "", "server address:port of the handshake")
	iface := flag.String("iface", "", "interface to send on")
	n := flag.Int("n", 10000, "handshakes to send")
	rate := flag.Float64("rate", 0, "handshakes per second (0: as fast as possible)")
	dstMAC := flag.String("dst-mac", "02:00:00:00:00:ee", "destination MAC of every frame (empty: as captured)")
	flag.Parse()
	if err := run(*pcap, *server, *iface, *dstMAC, *n, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "hsreplay:", err)
		os.Exit(1)
	}
}

// template is one frame of the handshake and where its per-copy fields are.
type template struct {
	frame            []byte
	ipCsum, tcpCsum  int // offsets of the IPv4 header and TCP checksums
	clientIP, client int // offsets of the client address's low 16 bits and the client port
}

func run(pcap, server, iface, dstMAC string, n int, rate float64) error {
	srv, err := netip.ParseAddrPort(server)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	segs, err := wire.Handshake(pcap, srv, nil)
	if err != nil {
		return err
	}
	var mac net.HardwareAddr
	if dstMAC != "" {
		if mac, err = net.ParseMAC(dstMAC); err != nil {
			return fmt.Errorf("-dst-mac: %w", err)
		}
	}
	var tmpl []template
	for _, s := range segs {
		frames, err := s.Frames(1024, nil)
		if err != nil {
			return err
		}
		for _, f := range frames {
			if mac != nil {
				copy(f[0:6], mac)
			}
			const ip, tcp = 14, 14 + 20
			t := template{frame: f, ipCsum: ip + 10, tcpCsum: tcp + 16, clientIP: ip + 12 + 2, client: tcp}
			if !s.FromClient {
				t.clientIP, t.client = ip+16+2, tcp+2
			}
			tmpl = append(tmpl, t)
		}
	}

	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return fmt.Errorf("opening packet socket: %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}

	buf := make([]byte, 2048)
	start := time.Now()
	frames, errs := 0, 0
	for i := 0; i < n; i++ {
		if rate > 0 {
			// Pace by the schedule, not by sleeps: a late copy is sent at once.
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		// Each copy is its own flow: client port 1024..65023, and the
		// client address's low 16 bits moved on every 64000 copies.
		port, hi := uint16(1024+i%64000), uint16(i/64000)
		for _, t := range tmpl {
			f := buf[:len(t.frame)]
			copy(f, t.frame)
			oldIP := binary.BigEndian.Uint16(f[t.clientIP:])
			newIP := oldIP + hi
			patch(f, t.clientIP, newIP, t.ipCsum, t.tcpCsum)
			patch(f, t.client, port, t.tcpCsum)
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				errs++
				continue
			}
			frames++
		}
	}
	el := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"handshakes": n, "frames_per_handshake": len(tmpl), "frames": frames, "send_errors": errs,
		"seconds": el, "per_second": float64(n) / el,
	})
}

// patch writes a 16-bit field and updates the checksums that cover it
// incrementally (RFC 1624, eqn. 3).
func patch(f []byte, off int, v uint16, csums ...int) {
	old := binary.BigEndian.Uint16(f[off:])
	binary.BigEndian.PutUint16(f[off:], v)
	for _, c := range csums {
		sum := uint32(^binary.BigEndian.Uint16(f[c:])) + uint32(^old) + uint32(v)
		sum = sum&0xffff + sum>>16
		sum = sum&0xffff + sum>>16
		binary.BigEndian.PutUint16(f[c:], ^uint16(sum))
	}
}
