package daemon

// This file holds the line `edgesensor version` prints: the build of the
// binary and of the XDP object in it.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/edgesensor/edgesensor/bpf"
)

// WriteVersion writes the version line: version (set at build time in
// package main), the VCS commit and whether the tree was modified, the Go
// toolchain and platform, and a hash of the embedded BPF object.
func WriteVersion(w io.Writer, version string) {
	commit, dirty := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	sum := sha256.Sum256(bpf.Object())
	fmt.Fprintf(w, "edgesensor %s (commit %s%s, %s, %s/%s, bpf object %s)\n",
		version, commit, dirty, runtime.Version(), runtime.GOOS, runtime.GOARCH, hex.EncodeToString(sum[:6]))
}
