package anon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/hkdf"
)

const testHexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func writeKeyFile(t *testing.T, data string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "anon.key")
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is umasked
		t.Fatal(err)
	}
	return p
}

func TestLoadKeyFormats(t *testing.T) {
	seq := seqKey()
	raw40 := strings.Repeat("\x00\xffz", 14)[:40]
	tests := []struct {
		name, data string
		want       []byte // nil: expect error
		errHas     string
	}{
		{"hex", testHexKey, seq, ""},
		{"hex newline", testHexKey + "\n", seq, ""},
		{"hex spaces", "  \t" + strings.ToUpper(testHexKey) + " \r\n", seq, ""},
		{"raw 32", string(seq), seq, ""},
		{"raw 40", raw40, []byte(raw40), ""},
		{"short hex", testHexKey[:62] + "\n", nil, "hex key has 62 chars"},
		{"long hex", testHexKey + "00", nil, "hex key has 66 chars"},
		{"short raw", "not a key", nil, "need 64 hex chars"},
		{"empty", "", nil, "need 64 hex chars"},
		{"whitespace only", " \n", nil, "need 64 hex chars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeKeyFile(t, tt.data, 0o600)
			k, err := LoadKey(p)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), p) {
					t.Fatalf("LoadKey = %v, %v; want error naming %s and containing %q", k, err, p, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.material, tt.want) {
				t.Errorf("material = %x, want %x", k.material, tt.want)
			}
			sum := sha256.Sum256(tt.want)
			if want := hex.EncodeToString(sum[:])[:8]; k.ID() != want {
				t.Errorf("ID = %s, want %s", k.ID(), want)
			}
		})
	}
}

func TestLoadKeyPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602, 0o666, 0o610} {
		p := writeKeyFile(t, testHexKey, mode)
		_, err := LoadKey(p)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Errorf("mode %04o: err = %v, want one suggesting chmod 600 %s", mode, err, p)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if _, err := LoadKey(writeKeyFile(t, testHexKey, mode)); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
	if _, err := LoadKey(t.TempDir()); err == nil {
		t.Error("directory accepted as key file")
	}
	if _, err := LoadKey(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := writeKeyFile(t, strings.Repeat("x", maxKeyFile+1), 0o600)
	if _, err := LoadKey(big); err == nil {
		t.Error("oversized key file accepted")
	}
}

func TestLoadKeyOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	p := writeKeyFile(t, testHexKey, 0o600)
	if err := os.Chown(p, 65534, -1); err != nil {
		t.Skip("chown:", err)
	}
	_, err := LoadKey(p)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") || !strings.Contains(err.Error(), p) {
		t.Errorf("foreign owner: err = %v", err)
	}
}

func TestKeyDerivation(t *testing.T) {
	k, err := NewKey(seqKey())
	if err != nil {
		t.Fatal(err)
	}
	// Independent computation of the documented derivation.
	want := make([]byte, 32)
	r := hkdf.New(sha256.New, seqKey(), nil, []byte("edgesensor/anon/v1/email"))
	if _, err := r.Read(want); err != nil {
		t.Fatal(err)
	}
	if got := k.SubKey(PurposeEmail); !bytes.Equal(got, want) {
		t.Errorf("SubKey(email) = %x, want %x", got, want)
	}
	seen := map[string]Purpose{}
	for _, p := range []Purpose{PurposeCryptoPAn, PurposeHMACIP, PurposeEmail, PurposeUser, PurposeHost, PurposeSNI, PurposeName} {
		sk := string(k.SubKey(p))
		if q, dup := seen[sk]; dup {
			t.Errorf("purposes %s and %s share a key", p, q)
		}
		seen[sk] = p
		if bytes.Contains(k.SubKey(p), seqKey()[:8]) {
			t.Errorf("sub-key %s contains master material", p)
		}
	}
	if _, err := NewKey(make([]byte, 31)); err == nil {
		t.Error("31-byte key accepted")
	}
	if _, err := k.CryptoPAn(); err != nil {
		t.Error(err)
	}
}

func TestKeyDoesNotPrint(t *testing.T) {
	k, err := NewKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{k.String(), k.GoString()} {
		if strings.Contains(s, "0123456789") || !strings.Contains(s, k.ID()) {
			t.Errorf("printed key: %q", s)
		}
	}
}

func TestGenerateKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.key")
	if err := GenerateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	k1, err := LoadKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyFile(p); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwrite: err = %v, want fs.ErrExist", err)
	}
	k2, err := LoadKey(p)
	if err != nil || !k1.Equal(k2) {
		t.Errorf("refused overwrite still changed the key: %v", err)
	}
	p2 := filepath.Join(t.TempDir(), "other.key")
	if err := GenerateKeyFile(p2); err != nil {
		t.Fatal(err)
	}
	if k3, _ := LoadKey(p2); k3.Equal(k1) {
		t.Error("two generated keys are equal")
	}
}

func TestKeyringReload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if err := GenerateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	r, err := OpenKeyring(p)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Current()
	if rotated, err := r.Reload(); rotated || err != nil {
		t.Fatalf("unchanged file: rotated=%v err=%v", rotated, err)
	}
	// Touch without changing content: reloaded, but not a rotation.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	if rotated, err := r.Reload(); rotated || err != nil {
		t.Fatalf("touched file: rotated=%v err=%v", rotated, err)
	}
	// Rotate by atomic rename, the way an operator should.
	tmp := filepath.Join(dir, "k.new")
	if err := GenerateKeyFile(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if rotated, err := r.Reload(); !rotated || err != nil {
		t.Fatalf("rotated file: rotated=%v err=%v", rotated, err)
	}
	if r.Current().Equal(first) || r.Current().ID() == first.ID() {
		t.Error("Current did not change after rotation")
	}
	second := r.Current()
	// A broken replacement keeps the old key and reports the error.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if rotated, err := r.Reload(); rotated || err == nil {
		t.Fatalf("bad mode: rotated=%v err=%v", rotated, err)
	}
	if !r.Current().Equal(second) {
		t.Error("failed reload replaced the key")
	}
}
