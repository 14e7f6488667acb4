package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profileFlag adds --cpuprofile: where the time of a run or replay goes,
// for `go tool pprof`, without rebuilding.
func profileFlag(fs *flag.FlagSet) *string {
	return fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
}

// startProfile starts the CPU profile when path is set; stop writes it.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// memProfileFlag adds --memprofile to replay: what the analysis holds once
// the last packet is in (before the flows still open are closed), for
// `go tool pprof`.
func memProfileFlag(fs *flag.FlagSet) *string {
	return fs.String("memprofile", "", "write a heap profile to this file after the last packet, before open flows are closed")
}

// writeHeapProfile writes the live heap to path (nothing when path is "").
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	return nil
}
