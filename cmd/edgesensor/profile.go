package main

import "flag"

// profileFlag adds --cpuprofile: where the time of a run or replay goes,
// for `go tool pprof`, without rebuilding (daemon.StartCPUProfile).
func profileFlag(fs *flag.FlagSet) *string {
	return fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
}

// memProfileFlag adds --memprofile to replay: what the analysis holds
// once the last packet is in (daemon.WriteHeapProfile).
func memProfileFlag(fs *flag.FlagSet) *string {
	return fs.String("memprofile", "", "write a heap profile to this file after the last packet, before open flows are closed")
}
