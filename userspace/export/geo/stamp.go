package geo

import "os"

// stamp is what tells a changed file: another file renamed over it
// (device, inode), or a rewrite (size, mtime, and ctime, which a copy
// that keeps the mtime, cp -p or rsync -t, still changes). taken tells a
// stamp from the zero one.
type stamp struct {
	taken, exists      bool
	dev, ino           uint64
	size, mtime, ctime int64
}

func statFile(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{taken: true}
	}
	st := stamp{taken: true, exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	st.dev, st.ino, st.ctime = identity(fi)
	return st
}
