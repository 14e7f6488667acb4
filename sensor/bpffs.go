package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const bpffsRoot = "/sys/fs/bpf"

// isBPFFS reports whether path lies on a bpf filesystem.
func isBPFFS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return uint32(st.Type) == unix.BPF_FS_MAGIC
}

// EnsureBPFFS makes sure pinPath is a directory on a bpf filesystem,
// mounting bpffs at /sys/fs/bpf (or at pinPath itself when it lies
// elsewhere) if it is missing.
func EnsureBPFFS(pinPath string) error {
	existing := pinPath
	for existing != "/" {
		if _, err := os.Stat(existing); err == nil {
			break
		}
		existing = filepath.Dir(existing)
	}
	if !isBPFFS(existing) {
		mnt := pinPath
		if pinPath == bpffsRoot || strings.HasPrefix(pinPath, bpffsRoot+"/") {
			mnt = bpffsRoot
		}
		if err := os.MkdirAll(mnt, 0o700); err != nil {
			return fmt.Errorf("creating bpffs mount point %s: %w", mnt, err)
		}
		if err := unix.Mount("bpf", mnt, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mounting bpffs at %s: %w", mnt, privilegeHint(err))
		}
	}
	if err := os.MkdirAll(filepath.Join(pinPath, "links"), 0o700); err != nil {
		return fmt.Errorf("creating pin directory %s: %w", pinPath, err)
	}
	if !isBPFFS(pinPath) {
		return fmt.Errorf("pin path %s is not on a bpf filesystem", pinPath)
	}
	return nil
}
