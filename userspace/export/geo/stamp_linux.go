package geo

import (
	"os"
	"syscall"
)

// identity is the file's device, inode and ctime (Unix nanoseconds).
func identity(fi os.FileInfo) (dev, ino uint64, ctime int64) {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	return uint64(sys.Dev), sys.Ino, sys.Ctim.Nano()
}
