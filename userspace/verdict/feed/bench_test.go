package feed

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// bigSnapshot is a signed snapshot of n SHA-256 values and p IPv4
// prefixes (/24 and addresses), as a large cloud feed would be.
func bigSnapshot(b testing.TB, priv ed25519.PrivateKey, version uint64, n, p int) []byte {
	m := snapshot(version)
	m.Issued, m.Expires = time.Now(), time.Now().Add(time.Hour)
	m.Add = make([]Entry, 0, n+p)
	var sum [32]byte
	for i := range n {
		binary.BigEndian.PutUint64(sum[:], uint64(i)*0x9e3779b97f4a7c15)
		m.Add = append(m.Add, Entry{Key: Key{"sha256", hex.EncodeToString(sum[:])}, Level: 1 + i%10, Source: "edgecloud"})
	}
	for i := range p {
		v := fmt.Sprintf("10.%d.%d.0/24", i>>8&0xff, i&0xff)
		if i%2 == 1 {
			v = fmt.Sprintf("172.%d.%d.%d", 16+i>>16&0xf, i>>8&0xff, i&0xff)
		}
		m.Add = append(m.Add, Entry{Key: Key{"ip", v}, Level: 9, Source: "c2"})
	}
	return sign(b, priv, m)
}

// A snapshot of 1,000,000 hashes and 100,000 prefixes: verified, parsed
// and put in force (Accept), and the heap it keeps once in force
// (MB-held) and at most during the load (MB-peak, sampled).
func BenchmarkFeedSnapshotMillion(b *testing.B) {
	pub, priv := testKey(1)
	raw := bigSnapshot(b, priv, 5, 1_000_000, 100_000)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		f := &Feed{Layer: intel.NewLayer(), Pub: pub}
		peak := samplePeak()
		b.StartTimer()
		if _, err := f.Accept(raw, time.Now()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p := peak()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "MB-held")
		b.ReportMetric(float64(p-before.HeapAlloc)/1e6, "MB-peak")
		b.ReportMetric(float64(len(raw))/1e6, "MB-message")
		runtime.KeepAlive(f)
		b.StartTimer()
	}
}

// samplePeak samples the heap every millisecond until the returned
// function is called, which gives the highest seen.
func samplePeak() func() uint64 {
	stop := make(chan struct{})
	res := make(chan uint64)
	go func() {
		var peak uint64
		var m runtime.MemStats
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-res }
}

// A delta of 10,000 entries (5,000 added, 5,000 removed) on top of that
// snapshot: verified, parsed and applied to the intel in force.
func BenchmarkFeedDelta10k(b *testing.B) {
	pub, priv := testKey(1)
	f := &Feed{Layer: intel.NewLayer(), Pub: pub}
	if _, err := f.Accept(bigSnapshot(b, priv, 5, 1_000_000, 100_000), time.Now()); err != nil {
		b.Fatal(err)
	}
	deltas := make([][]byte, b.N)
	for i := range deltas {
		m := delta(uint64(5+i), nil)
		m.Issued, m.Expires = time.Now(), time.Now().Add(time.Hour)
		var sum [32]byte
		for j := range 5000 {
			binary.BigEndian.PutUint64(sum[:], uint64(i*5000+j)*0x9e3779b97f4a7c15)
			m.Remove = append(m.Remove, Key{"sha256", hex.EncodeToString(sum[:])})
			binary.BigEndian.PutUint64(sum[8:], uint64(i*5000+j+1))
			m.Add = append(m.Add, Entry{Key: Key{"sha256", hex.EncodeToString(sum[:])}, Level: 10, Source: "edgecloud"})
		}
		deltas[i] = sign(b, priv, m)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.Accept(deltas[i], time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
