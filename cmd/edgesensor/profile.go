package main

import (
	"flag"
	"fmt"
	"os"
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
