//go:build unix

package anon

import (
	"io/fs"
	"syscall"
)

// fileOwner is the uid owning the file, when the platform says.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// fileIdentity is the device and inode, so a key file replaced by rename is
// noticed even when its size and mtime match the old one.
func fileIdentity(fi fs.FileInfo) (dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Dev), uint64(st.Ino)
}
