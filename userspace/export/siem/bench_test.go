package siem

import (
	"io"
	"testing"
	"time"
)

func BenchmarkFormatCEF(b *testing.B) {
	line := []byte(fileLine)
	f := fieldsOf(fileLine)
	var dst []byte
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		dst = appendCEF(dst[:0], f, "sensor1")
	}
}

func BenchmarkFormatRFC5424(b *testing.B) {
	line := []byte(fileLine)
	f := fieldsOf(fileLine)
	var dst []byte
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		dst = appendRFC5424(dst[:0], &testHeader, f, line)
	}
}

// BenchmarkFanoutWrite is the cost on the analysis side: filtering,
// copying and queueing for two sinks writing to io.Discard.
func BenchmarkFanoutWrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfgs []SinkConfig
	}{
		{"nofilter", []SinkConfig{
			{Name: "json", Type: "stdout", Writer: io.Discard},
			{Name: "cef", Type: "stdout", Format: "cef", Writer: io.Discard},
		}},
		{"filtered", []SinkConfig{
			{Name: "json", Type: "stdout", Writer: io.Discard},
			{Name: "cef", Type: "stdout", Format: "cef", Writer: io.Discard, MinScore: 7, Datasets: []string{"edgesensor.file"}},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := New(bc.cfgs, nop)
			if err != nil {
				b.Fatal(err)
			}
			r := rec([]byte(fileLine))
			b.SetBytes(int64(len(r.Line)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f.Write(r)
				}
			})
			b.StopTimer()
			_ = f.Close(10 * time.Second)
			var sent, dropped uint64
			for _, s := range f.Stats() {
				sent += s.Sent
				dropped += s.Dropped
			}
			b.ReportMetric(float64(dropped)/float64(sent+dropped), "dropped/line")
		})
	}
}
