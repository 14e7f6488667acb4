// Command corpusmix writes a big corpus-like capture for measuring
// `edgesensor replay` beside other tools: every capture of the reference
// corpus (TLS handshakes, HTTP and SMTP downloads) copied n times, each
// copy on its own addresses and started a little after the previous one,
// merged in time order so that the copies' flows interleave as on a
// router. Each packet keeps its timing relative to its own capture, so
// every flow behaves as it did when captured.
//
//	corpusmix -copies 8 -o /tmp/mix.pcap
//
// Copy i of a capture adds i<<8 to every IPv4 address (and to the low 32
// bits of every IPv6 one), both directions alike, and writes the
// checksums so that one that was right stays right and a partial one (a
// sender's offload: the corpus was captured so) stays partial.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
	"github.com/edgesensor/edgesensor/userspace/packet/pcapfile"
)

func main() {
	copies := flag.Int("copies", 8, "copies of every capture")
	gap := flag.Duration("gap", 2*time.Millisecond, "start of one copy to the start of the next")
	dir := flag.String("corpus", "testdata/corpus", "directory of the captures (*.pcap, *.pcapng)")
	out := flag.String("o", "mix.pcap", "output capture")
	flag.Parse()
	if err := run(*dir, *copies, *gap, *out); err != nil {
		fmt.Fprintln(os.Stderr, "corpusmix:", err)
		os.Exit(1)
	}
}

type packet struct {
	ts    time.Time
	frame []byte
}

func run(dir string, copies int, gap time.Duration, out string) error {
	if copies < 1 || copies*64 > 1<<24 {
		return fmt.Errorf("-copies %d: want 1 to %d", copies, 1<<18)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no capture in %s", dir)
	}
	sort.Strings(paths)
	var all []packet
	base := time.Unix(1700000000, 0)
	for j, p := range paths {
		pkts, err := read(p)
		if err != nil {
			return err
		}
		for k := range copies {
			idx := uint32(j*copies + k + 1)
			start := base.Add(time.Duration(idx) * gap)
			for _, pk := range pkts {
				f := append([]byte(nil), pk.frame...)
				shift(f, idx<<8)
				all = append(all, packet{ts: start.Add(pk.ts.Sub(pkts[0].ts)), frame: f})
			}
		}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].ts.Before(all[b].ts) })
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for _, pk := range all {
		ci := gopacket.CaptureInfo{Timestamp: pk.ts, CaptureLength: len(pk.frame), Length: len(pk.frame)}
		if err := w.WritePacket(ci, pk.frame); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func read(path string) ([]packet, error) {
	r, err := pcapfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var pkts []packet
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return pkts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pkts = append(pkts, packet{ts: p.Time, frame: append([]byte(nil), p.Frame...)})
	}
}

// shift adds d to both addresses of f's IP packet (to the low 32 bits of
// IPv6 ones) and writes the checksums that cover them as they were: the
// IPv4 header checksum right if it was; the TCP or UDP one right if it
// was, partial (only the pseudo-header sum, left by a sender's checksum
// offload: the corpus was captured so) if it was, wrong if it was. It
// leaves alone, and reports false for, a frame decap does not parse, a
// tunnelled frame and a fragment.
func shift(f []byte, d uint32) bool {
	var fr decap.Frame
	if decap.Parse(f, &fr) != nil || fr.Tunnels() > 0 || fr.Fragment || fr.Truncated || fr.L3End > len(f) {
		return false
	}
	l4 := fr.Proto == 6 || fr.Proto == 17
	var before csum.Status
	if l4 {
		before = csum.L4(fr.Src, fr.Dst, fr.Proto, f[fr.L4:fr.L3End])
	}
	ipOK := fr.Family == 4 && csum.IPv4HeaderValid(f[fr.L3:fr.L4])
	src, dst := fr.L3+12, fr.L3+16
	if fr.Family == 6 {
		src, dst = fr.L3+20, fr.L3+36
	}
	for _, o := range []int{src, dst} {
		binary.BigEndian.PutUint32(f[o:], binary.BigEndian.Uint32(f[o:])+d)
	}
	if ipOK {
		binary.BigEndian.PutUint16(f[fr.L3+10:], csum.IPv4Header(f[fr.L3:fr.L4]))
	}
	if !l4 || before == csum.Invalid {
		return true
	}
	field := fr.L4 + 16
	if fr.Proto == 17 {
		field = fr.L4 + 6
	}
	if field+2 > fr.L3End || binary.BigEndian.Uint16(f[field:]) == 0 {
		return true // no checksum at all stays so
	}
	pseudo := csum.Pseudo(addr(f, src, fr.Family), addr(f, dst, fr.Family), fr.Proto, fr.L3End-fr.L4)
	v := ^csum.Checksum(nil, pseudo) // partial: the pseudo-header sum
	if before == csum.Valid {
		binary.BigEndian.PutUint16(f[field:], 0)
		v = csum.Checksum(f[fr.L4:fr.L3End], pseudo)
	}
	binary.BigEndian.PutUint16(f[field:], v)
	return true
}

// addr reads the address whose last 4 bytes are at f[off:].
func addr(f []byte, off int, family uint8) netip.Addr {
	if family == 4 {
		return netip.AddrFrom4([4]byte(f[off : off+4]))
	}
	return netip.AddrFrom16([16]byte(f[off-12 : off+4]))
}
