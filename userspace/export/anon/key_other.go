//go:build !unix

package anon

import "io/fs"

// fileOwner is unknown off Unix; only the mode bits are checked there.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

// fileIdentity is unknown off Unix; size and mtime still detect rewrites.
func fileIdentity(fs.FileInfo) (dev, ino uint64) { return 0, 0 }
