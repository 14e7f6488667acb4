package setting

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The path checks below change nothing: they ask, as the process's
// effective user and in its mount namespace (a systemd ExecStartPre runs
// in the service's), whether the sensor will be able to do what it does
// with the path at start.

// Readable checks that path opens for reading, as the sensor opens
// certificates, keys and intelligence files.
func Readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	f.Close()
	return nil
}

// CanCreateDir checks that dir is a directory the process may create
// files in, or that MkdirAll could make it: its nearest existing ancestor
// is such a directory.
func CanCreateDir(dir string) error {
	d := filepath.Clean(dir)
	for {
		fi, err := os.Stat(d)
		switch {
		case err == nil:
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			return writable(d, unix.W_OK|unix.X_OK)
		case !missing(err):
			return err
		}
		up := filepath.Dir(d)
		if up == d {
			return err
		}
		d = up
	}
}

// CanWriteFile checks that path is a file the process may append to, or
// that it could create it; mkdir says whether the sensor makes the
// missing directories above it first.
func CanWriteFile(path string, mkdir bool) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		return writable(path, unix.W_OK)
	case !missing(err):
		return err
	}
	dir := filepath.Dir(path)
	if mkdir {
		return CanCreateDir(dir)
	}
	fi, err = os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case err != nil && missing(err):
		return fmt.Errorf("directory %s does not exist (the sensor does not make it)", dir)
	case err != nil:
		return err
	}
	return writable(dir, unix.W_OK|unix.X_OK)
}

// missing: the path is not there, or a file stands where one of its
// directories should (looked for further up).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)
}

// writable asks the kernel with the effective ids (AT_EACCESS), so
// capabilities, ACLs and read-only mounts count as they will at start.
func writable(path string, mode uint32) error {
	if err := unix.Faccessat(unix.AT_FDCWD, path, mode, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("%s is not writable by uid %d: %w", path, os.Geteuid(), err)
	}
	return nil
}
