package files

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
	"math/rand"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/testutil"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/ndjson"
	"github.com/edgesensor/edgesensor/userspace/files/filehash"
	"github.com/edgesensor/edgesensor/userspace/packet/csum"
)

const benchSize = 64 << 20

// benchBody is a PE-looking file of random bytes: a candidate, so all of
// it is hashed and spooled.
func benchBody() []byte {
	b := make([]byte, benchSize)
	rand.New(rand.NewSource(1)).Read(b)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00\x64\x86")
	return b
}

func benchConn(body []byte) testutil.TCPConn {
	return testutil.TCPConn{
		Client:   netip.MustParseAddrPort("10.0.0.1:40000"),
		Server:   netip.MustParseAddrPort("10.0.0.2:80"),
		ToServer: []byte("GET /big.exe HTTP/1.1\r\nHost: bench\r\n\r\n"),
		ToClient: append([]byte("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...),
	}
}

// BenchmarkLargeFile: one 64 MiB download through the whole file path
// (checksums verified, reassembly and the receiver model, HTTP, typing,
// SHA-256 + SHA-1 + MD5, spool write, PE metadata, event), in 1448-byte
// segments. Compare with BenchmarkSHA256, BenchmarkMD5,
// BenchmarkThreeHashes (the standard library's three one after the
// other) and BenchmarkFusedHashes on the same bytes.
func BenchmarkLargeFile(b *testing.B) {
	c := benchConn(benchBody())
	segs := withFrames(c, segments(c, 1448))
	cfg := defaultTestConfig()
	cfg.Files.SpoolDir = filepath.Join(b.TempDir(), "spool")
	fc := cfg.pipelineConfig(nil)
	checks := datapath.NewChecksums(datapath.ChecksumsVerify)
	fc.Checksums = checks
	p, err := New(fc, ndjson.NewNDJSON(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh := p.NewShard(0)
		feed(sh, c, segs, time.Unix(1700000000, 0))
		sh.Close()
	}
	b.StopTimer()
	if p.Stats.Files.Load() != uint64(b.N) || p.Stats.Incomplete.Load() != 0 {
		b.Fatalf("files %d incomplete %d", p.Stats.Files.Load(), p.Stats.Incomplete.Load())
	}
	n := map[string]uint64{}
	checks.Counts(n)
	if n["checksum_full"] < uint64(len(segs)*b.N) || n["checksum_dropped"] != 0 {
		b.Fatalf("checksums: %v for %d segments", n, len(segs)*b.N)
	}
}

// withFrames gives each segment its Ethernet/IPv4/TCP frame with correct
// checksums, as the data plane hands them over. The SYNs ask for window
// scaling (shift 14): the client of the benchmark sends no ACKs while it
// downloads, and its first window must cover the whole body.
func withFrames(c testutil.TCPConn, segs []seg) []seg {
	for i := range segs {
		s := &segs[i]
		src, dst := c.Server, c.Client
		if s.fromClient {
			src, dst = c.Client, c.Server
		}
		var opts []byte
		if s.flags&datapath.TCPSyn != 0 {
			opts = []byte{1, 3, 3, 14}
		}
		thLen := 20 + len(opts)
		f := make([]byte, 34+thLen+len(s.payload))
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:34]
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(ip[2:], uint16(20+thLen+len(s.payload)))
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		binary.BigEndian.PutUint16(ip[10:], csum.IPv4Header(ip))
		th := f[34:]
		binary.BigEndian.PutUint16(th[0:], src.Port())
		binary.BigEndian.PutUint16(th[2:], dst.Port())
		binary.BigEndian.PutUint32(th[4:], s.seq)
		binary.BigEndian.PutUint32(th[8:], s.ack)
		th[12], th[13] = byte(thLen/4)<<4, s.flags
		binary.BigEndian.PutUint16(th[14:], 65535)
		copy(th[20:], opts)
		copy(th[thLen:], s.payload)
		binary.BigEndian.PutUint16(th[16:], csum.Checksum(th, csum.Pseudo(src.Addr(), dst.Addr(), 6, len(th))))
		s.frame, s.payload = f, th[thLen:]
	}
	return segs
}

// hashSegments writes the bench body to a fresh hash in 1448-byte
// segments, as the file path does, and sums it.
func hashSegments(b *testing.B, start func() (write func([]byte), sum func())) {
	body := benchBody()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		write, sum := start()
		for off := 0; off < len(body); off += 1448 {
			write(body[off:min(off+1448, len(body))])
		}
		sum()
	}
}

// stdHashes starts the standard library's hashes, one after the other.
func stdHashes(news ...func() hash.Hash) func() (func([]byte), func()) {
	return func() (func([]byte), func()) {
		hs := make([]hash.Hash, len(news))
		for i, n := range news {
			hs[i] = n()
		}
		return func(p []byte) {
				for _, h := range hs {
					h.Write(p)
				}
			}, func() {
				for _, h := range hs {
					h.Sum(nil)
				}
			}
	}
}

func BenchmarkSHA256(b *testing.B) { hashSegments(b, stdHashes(sha256.New)) }

// BenchmarkThreeHashes: the standard library's three, one after the other.
func BenchmarkThreeHashes(b *testing.B) { hashSegments(b, stdHashes(sha256.New, sha1.New, md5.New)) }

// BenchmarkFusedHashes: the three digests as the file path computes them
// (userspace/files/filehash: one fused pass where the CPU has the SHA
// extensions), on the same bytes and segments.
func BenchmarkFusedHashes(b *testing.B) {
	hashSegments(b, func() (func([]byte), func()) {
		h := filehash.New(true, true)
		return func(p []byte) { h.Write(p) }, func() { h.Sum() }
	})
}

// BenchmarkMD5: MD5 alone, the slowest of the three on x86 (no CPU
// extension for it): the floor of any pass that computes all three.
func BenchmarkMD5(b *testing.B) { hashSegments(b, stdHashes(md5.New)) }

// BenchmarkNonCandidate: a 64 MiB body that is not a candidate (random
// bytes named .mp4) costs reassembly and HTTP framing only; its rest is
// skipped once typed.
func BenchmarkNonCandidate(b *testing.B) {
	body := benchBody()
	copy(body, "\x00\x00\x00\x18ftypmp42")
	c := benchConn(body)
	segs := segments(c, 1448)
	p, _, _ := newPipeline(b, nil, nil)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh := p.NewShard(0)
		feed(sh, c, segs, time.Unix(1700000000, 0))
		sh.Close()
	}
}

var _ = datapath.ClassStream

// BenchmarkLargeFileSHA256Only: the same download with files.hashes =
// ["sha256"], against BenchmarkSHA256 alone.
func BenchmarkLargeFileSHA256Only(b *testing.B) {
	c := benchConn(benchBody())
	segs := segments(c, 1448)
	p, _, _ := newPipeline(b, func(c *testConfig) { c.Files.Hashes = []string{"sha256"} }, nil)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh := p.NewShard(0)
		feed(sh, c, segs, time.Unix(1700000000, 0))
		sh.Close()
	}
}

// BenchmarkFlowTable: the flow table full (files.max_flows 4096, one
// shard), half of it connections that carried data, under a flood of
// SYNs from new clients. Each op is one SYN (a new half-open flow, the
// oldest half-open one evicted for it) and one segment of data on an
// established flow (moved to the newest end of the active list): the
// cost of the activity lists and what a flow allocates.
func BenchmarkFlowTable(b *testing.B) {
	const flows, active = 4096, 2048
	p, _, _ := newPipeline(b, func(c *testConfig) {
		c.Files.MaxFlows = flows
		c.Sensor.Workers = 1
	}, nil)
	sh := p.NewShard(0)
	s := sh.(*shard)
	server := netip.MustParseAddrPort("10.0.0.2:80")
	client := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff))
	}
	t0 := time.Unix(1700000000, 0)
	ev := datapath.Event{Time: t0, Interface: "eth1", Class: datapath.ClassStream, Proto: datapath.ProtoTCP}
	send := func(src, dst netip.AddrPort, fromClient bool, flags uint8, seq, ack uint32, payload []byte) {
		ev.Src, ev.Dst, ev.TCPFlags, ev.Seq, ev.Ack, ev.Payload, ev.PayloadLen = src, dst, flags, seq, ack, payload, len(payload)
		ev.Flags = 0
		if fromClient {
			ev.Flags = datapath.FlagFromClient
		}
		ev.Time = ev.Time.Add(time.Microsecond)
		sh.Handle(&ev)
	}
	req := []byte("GET /x HTTP/1.1\r\nX-Pad: ")
	next := make([]uint32, active) // each established flow's next client sequence number
	for i := range active {
		c := client(i)
		send(c, server, true, datapath.TCPSyn, isnC, 0, nil)
		send(server, c, false, datapath.TCPSyn|datapath.TCPAck, isnS, isnC+1, nil)
		send(c, server, true, datapath.TCPAck|datapath.TCPPsh, isnC+1, isnS+1, req)
		next[i] = isnC + 1 + uint32(len(req))
	}
	for i := active; i < flows; i++ {
		send(client(i), server, true, datapath.TCPSyn, isnC, 0, nil)
	}
	if len(s.flows) != flows || s.active.Len() != active {
		b.Fatalf("%d flows, %d active", len(s.flows), s.active.Len())
	}
	pad := []byte("a")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		send(client(flows+i%(1<<20)), server, true, datapath.TCPSyn, isnC, 0, nil)
		j := i % active
		send(client(j), server, true, datapath.TCPAck|datapath.TCPPsh, next[j], isnS+1, pad)
		next[j]++
	}
	b.StopTimer()
	if len(s.flows) != flows || s.active.Len() != active || p.Stats.FlowsEvicted.Load() != 0 {
		b.Fatalf("%d flows, %d active, %d established evicted", len(s.flows), s.active.Len(), p.Stats.FlowsEvicted.Load())
	}
}
