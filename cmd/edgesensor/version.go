package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/edgesensor/edgesensor/bpf"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func cmdVersion(stdout io.Writer) error {
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
	fmt.Fprintf(stdout, "edgesensor %s (commit %s%s, %s, %s/%s, bpf object %s)\n",
		version, commit, dirty, runtime.Version(), runtime.GOOS, runtime.GOARCH, hex.EncodeToString(sum[:6]))
	return nil
}
