package sensor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const bpffsRoot = "/sys/fs/bpf"

// ErrPrivateMount reports pins that would not outlive the process.
var ErrPrivateMount = errors.New("bpffs is not mounted where the pins go")

// isBPFFS reports whether path lies on a bpf filesystem.
func isBPFFS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return uint32(st.Type) == unix.BPF_FS_MAGIC
}

// outlivesProcess reports whether pins under dir outlive this process.
// They do not when we run in a mount namespace of our own (as under `ip
// netns exec`, which remounts /sys, so bpffs had to be mounted afresh) and
// dir is not the bpffs that a longer-lived namespace sees at that path.
// The reference is init's namespace, or, where /proc/1 is off limits (a
// sandbox), our parent's.
func outlivesProcess(dir string) bool {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return true
	}
	for _, ref := range []string{"/proc/1", fmt.Sprintf("/proc/%d", os.Getppid())} {
		other, err := os.Readlink(ref + "/ns/mnt")
		if err != nil {
			continue
		}
		if other == self {
			return true
		}
		var ours, theirs unix.Stat_t
		if unix.Stat(dir, &ours) != nil || unix.Stat(filepath.Join(ref, "root", dir), &theirs) != nil {
			return false
		}
		return ours.Dev == theirs.Dev
	}
	return true
}

// EnsureBPFFS makes sure pinPath is a directory on a bpf filesystem,
// mounting bpffs at /sys/fs/bpf (or at pinPath itself when it lies
// elsewhere) if it is missing. It returns whether the pins will outlive
// this process (see outlivesProcess).
func EnsureBPFFS(pinPath string) (persistent bool, err error) {
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
			return false, fmt.Errorf("creating bpffs mount point %s: %w", mnt, err)
		}
		if err := unix.Mount("bpf", mnt, "bpf", 0, "mode=0700"); err != nil {
			return false, fmt.Errorf("mounting bpffs at %s (needs CAP_SYS_ADMIN, or mount it beforehand: "+
				"`mount -t bpf bpf %s`): %w", mnt, mnt, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(pinPath, "links"), 0o700); err != nil {
		return false, fmt.Errorf("creating pin directory %s: %w", pinPath, err)
	}
	if !isBPFFS(pinPath) {
		return false, fmt.Errorf("pin path %s is not on a bpf filesystem", pinPath)
	}
	return outlivesProcess(pinPath), nil
}

// LockPinPath takes an exclusive lock on the pin directory so that two
// sensors never share maps, links and ring buffers. The lock goes with the
// returned file.
func LockPinPath(pinPath string) (*os.File, error) {
	f, err := os.Open(pinPath)
	if err != nil {
		return nil, fmt.Errorf("opening pin directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another edgesensor is using %s (a running `edgesensor run`?): "+
				"stop it first (it detaches on SIGTERM), or give this one its own --pin-path", pinPath)
		}
		return nil, fmt.Errorf("locking pin directory: %w", err)
	}
	return f, nil
}
