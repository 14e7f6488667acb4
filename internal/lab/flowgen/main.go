// Command flowgen writes a capture of many concurrent HTTP downloads, for
// measuring the file pipeline's memory with `edgesensor replay`: every
// flow opens first, then the flows send their segments round-robin, so
// all of them are open at once.
//
//	flowgen -flows 10000 -size 16384 -o /tmp/flows.pcap
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func main() {
	flows := flag.Int("flows", 10000, "concurrent HTTP downloads")
	size := flag.Int("size", 16384, "bytes per downloaded file")
	mss := flag.Int("mss", 1448, "payload bytes per segment")
	out := flag.String("o", "flows.pcap", "output capture")
	flag.Parse()
	if err := run(*flows, *size, *mss, *out); err != nil {
		fmt.Fprintln(os.Stderr, "flowgen:", err)
		os.Exit(1)
	}
}

type flow struct {
	cport      uint16
	client     net.IP
	cseq, sseq uint32
	resp       []byte
	off        int
}

func run(n, size, mss int, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return err
	}
	server := net.IPv4(10, 9, 0, 1).To4()
	ts := time.Unix(1700000000, 0)
	write := func(fl *flow, toServer bool, flags string, seq, ack uint32, payload []byte) error {
		ts = ts.Add(time.Microsecond)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: fl.client, DstIP: server}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(fl.cport), DstPort: 80, Seq: seq, Ack: ack, Window: 65535}
		if !toServer {
			ip.SrcIP, ip.DstIP = server, fl.client
			tcp.SrcPort, tcp.DstPort = 80, layers.TCPPort(fl.cport)
		}
		for _, c := range flags {
			switch c {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'P':
				tcp.PSH = true
			}
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			return err
		}
		b := buf.Bytes()
		return w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, b)
	}
	rng := rand.New(rand.NewSource(1))
	fs := make([]*flow, n)
	for i := range fs {
		body := make([]byte, size)
		rng.Read(body)
		copy(body, "MZ")
		binary.LittleEndian.PutUint32(body[0x3c:], 0x80)
		fl := &flow{
			cport:  uint16(1024 + i%60000),
			client: net.IPv4(10, 8, byte(i/60000), 1).To4(),
			cseq:   rng.Uint32(), sseq: rng.Uint32(),
			resp: append([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "+
				strconv.Itoa(size)+"\r\n\r\n"), body...),
		}
		fs[i] = fl
		req := []byte("GET /file" + strconv.Itoa(i) + ".exe HTTP/1.1\r\nHost: flows.test\r\n\r\n")
		steps := []error{
			write(fl, true, "S", fl.cseq, 0, nil),
			write(fl, false, "SA", fl.sseq, fl.cseq+1, nil),
			write(fl, true, "AP", fl.cseq+1, fl.sseq+1, req),
		}
		for _, err := range steps {
			if err != nil {
				return err
			}
		}
		fl.cseq += 1 + uint32(len(req))
		fl.sseq++
	}
	for open := n; open > 0; {
		open = 0
		for _, fl := range fs {
			if fl.off >= len(fl.resp) {
				continue
			}
			end := min(fl.off+mss, len(fl.resp))
			if err := write(fl, false, "AP", fl.sseq+uint32(fl.off), fl.cseq, fl.resp[fl.off:end]); err != nil {
				return err
			}
			fl.off = end
			if fl.off < len(fl.resp) {
				open++
			}
		}
	}
	for _, fl := range fs {
		end := fl.sseq + uint32(len(fl.resp))
		if err := write(fl, false, "FA", end, fl.cseq, nil); err != nil {
			return err
		}
		if err := write(fl, true, "FA", fl.cseq, end+1, nil); err != nil {
			return err
		}
	}
	return bw.Flush()
}
