package anon

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/hkdf"
)

// MinKeySize is the least key material LoadKey accepts.
const MinKeySize = 32

// maxKeyFile bounds what LoadKey reads: a key file is tiny, anything large is
// a wrong path.
const maxKeyFile = 4096

// Purpose names what a derived sub-key is for. Each purpose gets an
// independent key, so pseudonyms of different fields cannot be joined.
type Purpose string

// Purposes the privacy policy derives keys for.
const (
	PurposeCryptoPAn Purpose = "cryptopan"
	PurposeHMACIP    Purpose = "hmac-ip"
	PurposeEmail     Purpose = "email"
	PurposeUser      Purpose = "user"
	PurposeHost      Purpose = "host"
	PurposeSNI       Purpose = "sni"
	PurposeName      Purpose = "name"
)

// hkdfInfoPrefix versions the derivation: changing it re-keys every purpose.
const hkdfInfoPrefix = "edgesensor/anon/v1/"

// Key is the anonymisation master key. Its String and GoString methods
// print only the ID, so a Key logged by mistake does not leak.
type Key struct {
	material []byte
	id       string
}

// NewKey wraps key material of at least MinKeySize bytes; it is copied.
func NewKey(material []byte) (*Key, error) {
	if len(material) < MinKeySize {
		return nil, fmt.Errorf("anon: key is %d bytes, need at least %d", len(material), MinKeySize)
	}
	m := bytes.Clone(material)
	sum := sha256.Sum256(m)
	return &Key{material: m, id: hex.EncodeToString(sum[:4])}, nil
}

// ID is the first 8 hex chars of SHA-256 of the key material: enough for
// the cloud to tell key rotations apart, useless for recovering the key.
func (k *Key) ID() string { return k.id }

// String implements fmt.Stringer without revealing the key.
func (k *Key) String() string { return "anon.Key(" + k.id + ")" }

// GoString keeps %#v from printing the key material.
func (k *Key) GoString() string { return k.String() }

// Equal reports whether both keys hold the same material.
func (k *Key) Equal(o *Key) bool {
	return k != nil && o != nil && bytes.Equal(k.material, o.material)
}

// SubKey derives the 32-byte key for purpose: HKDF-SHA256 with the key
// material as secret, no salt, and info "edgesensor/anon/v1/<purpose>".
func (k *Key) SubKey(p Purpose) []byte {
	out := make([]byte, 32)
	r := hkdf.New(sha256.New, k.material, nil, []byte(hkdfInfoPrefix+string(p)))
	if _, err := io.ReadFull(r, out); err != nil {
		// HKDF-SHA256 yields up to 8160 bytes; 32 cannot fail.
		panic("anon: hkdf: " + err.Error())
	}
	return out
}

// CryptoPAn builds a Crypto-PAn anonymiser on the PurposeCryptoPAn sub-key
// with the default cache. Build it once per key: the cache is per instance.
func (k *Key) CryptoPAn() (*CryptoPAn, error) {
	return NewCryptoPAn(k.SubKey(PurposeCryptoPAn))
}

// LoadKey reads a key file: 64 hex chars (surrounding whitespace allowed) or
// at least MinKeySize raw bytes. The file must be a regular file owned by the
// effective user and not accessible to group or others.
func LoadKey(path string) (*Key, error) {
	k, _, err := loadKey(path)
	return k, err
}

// loadKey also returns the file's identity from the same open descriptor,
// so a Keyring never pairs a key with another file's metadata.
func loadKey(path string) (*Key, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("anon: open key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("anon: stat key file: %w", err)
	}
	if err := checkKeyFile(path, fi); err != nil {
		return nil, fileStamp{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("anon: read key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fileStamp{}, fmt.Errorf("anon: key file %s is larger than %d bytes; is it the right file?", path, maxKeyFile)
	}
	material, err := parseKey(data)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("anon: key file %s: %w", path, err)
	}
	k, err := NewKey(material)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("anon: key file %s: %w", path, err)
	}
	return k, stampOf(fi), nil
}

func checkKeyFile(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("anon: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("anon: key file %s has mode %04o, readable or writable by group or others; fix with: chmod 600 %s", path, perm, path)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("anon: key file %s is owned by uid %d, not by this process (euid %d); fix with: chown %d %s", path, uid, os.Geteuid(), os.Geteuid(), path)
	}
	return nil
}

// parseKey accepts exactly 64 hex chars (whitespace-trimmed) or raw bytes.
// Text that is all hex but of another length is refused rather than taken
// as raw bytes: it is far more likely a truncated hex key than random data.
func parseKey(data []byte) ([]byte, error) {
	t := bytes.TrimSpace(data)
	if len(t) > 0 && isHex(t) {
		if len(t) != 2*MinKeySize {
			return nil, fmt.Errorf("hex key has %d chars, want %d", len(t), 2*MinKeySize)
		}
		k := make([]byte, MinKeySize)
		if _, err := hex.Decode(k, t); err != nil {
			return nil, fmt.Errorf("decode hex key: %w", err)
		}
		return k, nil
	}
	if len(data) < MinKeySize {
		return nil, fmt.Errorf("key is %d bytes, need 64 hex chars or at least %d raw bytes", len(data), MinKeySize)
	}
	return data, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// GenerateKeyFile writes a fresh random key as 64 hex chars and a newline,
// mode 0600. It refuses to overwrite an existing file (the error then
// matches fs.ErrExist), because replacing a key silently re-keys every
// pseudonym.
func GenerateKeyFile(path string) (err error) {
	var k [MinKeySize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return fmt.Errorf("anon: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("anon: create key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("anon: close key file %s: %w", path, cerr)
		}
		if err != nil {
			_ = os.Remove(path) // we created it, don't leave half a key
		}
	}()
	// The umask can only clear bits; set 0600 exactly so LoadKey can read it.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("anon: chmod key file %s: %w", path, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k[:]) + "\n"); err != nil {
		return fmt.Errorf("anon: write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("anon: sync key file %s: %w", path, err)
	}
	return nil
}

// fileStamp identifies a version of the key file cheaply, without reading
// it. The mode is included so a chmod that exposes the key is noticed (and
// refused) at the next Reload.
type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
	mode     fs.FileMode
}

func stampOf(fi fs.FileInfo) fileStamp {
	dev, ino := fileIdentity(fi)
	return fileStamp{dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode()}
}

// Keyring follows a key file across rotations. Readers call Current, which
// never blocks; a timer or SIGHUP handler calls Reload.
type Keyring struct {
	path  string
	cur   atomic.Pointer[Key]
	mu    sync.Mutex // serialises Reload
	stamp fileStamp
}

// OpenKeyring loads the key at path.
func OpenKeyring(path string) (*Keyring, error) {
	k, st, err := loadKey(path)
	if err != nil {
		return nil, err
	}
	r := &Keyring{path: path, stamp: st}
	r.cur.Store(k)
	return r, nil
}

// Current is the key in use.
func (r *Keyring) Current() *Key { return r.cur.Load() }

// Reload re-reads the key file if its inode, size, mtime or mode changed, and
// reports whether the key material changed (a rotation). On error the
// current key stays in use, so a botched rotation does not stop the sensor.
func (r *Keyring) Reload() (rotated bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err != nil {
		return false, fmt.Errorf("anon: stat key file: %w", err)
	}
	if stampOf(fi) == r.stamp {
		return false, nil
	}
	k, st, err := loadKey(r.path)
	if err != nil {
		return false, fmt.Errorf("anon: reload: %w", err)
	}
	r.stamp = st
	if k.Equal(r.cur.Load()) {
		return false, nil
	}
	r.cur.Store(k)
	return true, nil
}
