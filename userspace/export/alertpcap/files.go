package alertpcap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// File names: <UTC time>_<community id>.pcapng, the time of the alert
// with nanoseconds, the community id made safe for a file name ('/' to
// '_', '+' to '-', ':' dropped). Two captures with the same name get
// "_2", "_3"... before the extension. Files in the directory named
// otherwise are not the keeper's: never counted, never deleted.
const (
	timeLayout = "20060102T150405.000000000Z"
	fileExt    = ".pcapng"
	tmpPrefix  = ".alertpcap-"
	tmpSuffix  = ".tmp"
	maxIDChars = 64 // of the community id in a name
)

// Log field names.
const (
	logPath    = "path"
	logFlow    = "flow"
	logPackets = "packets"
	logBytes   = "bytes"
	logFiles   = "files"
)

// fileStore is the directory of pcapng files under its quota. Its lock
// also serializes captures, which are rare: Observe never takes it.
type fileStore struct {
	mu      sync.Mutex
	dir     string
	quota   int64
	log     zerolog.Logger
	files   []diskFile          // oldest first
	names   map[string]struct{} // of files
	disk    int64               // sum of files' sizes
	scratch []byte              // the file being made, reused

	written, evicted, errors uint64
}

// diskFile is a file of the store.
type diskFile struct {
	name string
	size int64
}

// open scans dir: the keeper's files count against the quota in order of
// modification (oldest first), temporary files a crash left are removed,
// and files beyond a quota lowered since are deleted now.
func (s *fileStore) open(dir string, quota int64, log zerolog.Logger) error {
	s.dir, s.quota, s.log = filepath.Clean(dir), quota, log
	s.names = make(map[string]struct{})
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("scanning capture directory: %w", err)
	}
	type found struct {
		diskFile
		mtime time.Time
	}
	var fl []found
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) && strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Warn().Err(err).Str(logPath, name).Msg("removing a temporary capture file")
			}
			continue
		}
		if !e.Type().IsRegular() || !isCaptureName(name) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		fl = append(fl, found{diskFile{name, fi.Size()}, fi.ModTime()})
	}
	sort.Slice(fl, func(i, j int) bool {
		if !fl[i].mtime.Equal(fl[j].mtime) {
			return fl[i].mtime.Before(fl[j].mtime)
		}
		return fl[i].name < fl[j].name
	})
	for _, f := range fl {
		s.files = append(s.files, f.diskFile)
		s.names[f.name] = struct{}{}
		s.disk += f.size
	}
	if len(fl) > 0 {
		log.Debug().Int(logFiles, len(fl)).Int64(logBytes, s.disk).Msg("capture files found at start")
	}
	if err := s.makeRoom(0); err != nil {
		return err
	}
	return nil
}

// isCaptureName says whether name is one the store gives its files.
func isCaptureName(name string) bool {
	if len(name) < len(timeLayout)+1+len(fileExt) || !strings.HasSuffix(name, fileExt) || name[len(timeLayout)] != '_' {
		return false
	}
	_, err := time.Parse(timeLayout, name[:len(timeLayout)])
	return err == nil
}

// fileID makes a community id safe for a file name: '/' becomes '_',
// '+' becomes '-', ':' and anything else outside [A-Za-z0-9=_-] is
// dropped (the id comes from the caller: no path may come of it).
func fileID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id) && b.Len() < maxIDChars; i++ {
		switch c := id[i]; {
		case c == '/':
			b.WriteByte('_')
		case c == '+':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '=', c == '_', c == '-':
			b.WriteByte(c)
		}
	}
	return b.String()
}

// makeRoom deletes the oldest files until size more bytes fit the quota.
// A file that cannot be deleted stops it: the bound holds, the new file
// is not written.
func (s *fileStore) makeRoom(size int64) error {
	for len(s.files) > 0 && s.disk+size > s.quota {
		f := s.files[0]
		err := os.Remove(filepath.Join(s.dir, f.name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting the oldest capture to stay under the quota: %w", err)
		}
		s.files = s.files[1:]
		delete(s.names, f.name)
		s.disk -= f.size
		if err == nil {
			s.evicted++
		}
	}
	return nil
}

// freeName returns base+ext, or base_N+ext, whichever is not taken.
func (s *fileStore) freeName(base string) string {
	name := base + fileExt
	for n := 2; ; n++ {
		if _, ok := s.names[name]; !ok {
			if _, err := os.Lstat(filepath.Join(s.dir, name)); errors.Is(err, fs.ErrNotExist) {
				return name
			}
		}
		name = base + "_" + strconv.Itoa(n) + fileExt
	}
}

// write makes room, writes data to a temporary file, syncs it and renames
// it into place, so no reader sees half a file; it returns the path.
func (s *fileStore) write(base string, data []byte) (string, error) {
	size := int64(len(data))
	if size > s.quota {
		return "", fmt.Errorf("a file of %d bytes exceeds the quota of %d bytes; raise capture_on_alert.quota", size, s.quota)
	}
	if err := s.makeRoom(size); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(s.dir, tmpPrefix+"*"+tmpSuffix) // mode 0600
	if err != nil {
		return "", fmt.Errorf("creating capture file: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	name := s.freeName(base)
	path := filepath.Join(s.dir, name)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("writing capture file %s: %w", path, err)
	}
	s.files = append(s.files, diskFile{name, size})
	s.names[name] = struct{}{}
	s.disk += size
	s.written++
	return path, nil
}

// has says whether the store holds the file at path.
func (s *fileStore) has(path string) bool {
	if filepath.Dir(path) != s.dir {
		return false
	}
	_, ok := s.names[filepath.Base(path)]
	return ok
}

func (s *fileStore) stats(st *Stats) {
	s.mu.Lock()
	st.FilesWritten = s.written
	st.FilesEvicted = s.evicted
	st.FilesOnDisk = uint64(len(s.files))
	st.BytesOnDisk = uint64(s.disk)
	st.WriteErrors = s.errors
	s.mu.Unlock()
}
