package feed

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func snapshot(v uint64, add ...Entry) *Message {
	return &Message{Format: Format, Kind: KindSnapshot, Version: v, Issued: t0, Expires: t0.Add(time.Hour), Add: add}
}

func delta(base uint64, add []Entry, remove ...Key) *Message {
	return &Message{Format: Format, Kind: KindDelta, Version: base + 1, Base: base, Issued: t0, Expires: t0.Add(time.Hour), Add: add, Remove: remove}
}

var (
	hashA = Entry{Key: Key{"sha256", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}, Level: 10, Source: "cloud"}
	ipB   = Entry{Key: Key{"ip", "198.51.100.7"}, Level: 9, Source: "cloud", Expires: t0.Add(24 * time.Hour)}
	nameC = Entry{Key: Key{"domain", "bad.example"}, Level: 8, Source: "partner"}
)

func sign(t testing.TB, priv ed25519.PrivateKey, m *Message) []byte {
	t.Helper()
	raw, err := Sign(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A snapshot and deltas in turn build the state; each is checked before
// anything of it is used.
func TestApplyInTurn(t *testing.T) {
	pub, priv := testKey(1)
	var s *State
	for _, m := range []*Message{snapshot(5, hashA, ipB), delta(5, []Entry{nameC}, ipB.Key), delta(6, nil, hashA.Key)} {
		got, err := Open(pub, sign(t, priv, m), t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("version %d: %v", m.Version, err)
		}
		if s, err = s.Apply(got); err != nil {
			t.Fatalf("version %d: %v", m.Version, err)
		}
	}
	want := map[Key]Entry{nameC.Key: nameC}
	if s.Version != 7 || !reflect.DeepEqual(s.Entries, want) {
		t.Fatalf("state %d %v, want 7 %v", s.Version, s.Entries, want)
	}
	if a := s.Age(t0.Add(time.Minute)); a != time.Minute {
		t.Errorf("age %v", a)
	}
}

// Every way a message can be wrong is refused with its reason, and the
// state stays as it was.
func TestRefused(t *testing.T) {
	pub, priv := testKey(1)
	other, otherPriv := testKey(2)
	good := sign(t, priv, snapshot(5, hashA, ipB))
	m, err := Open(pub, good, t0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := (*State)(nil).Apply(m)
	if err != nil {
		t.Fatal(err)
	}
	open := func(pub ed25519.PublicKey, raw []byte, now time.Time) error {
		m, err := Open(pub, raw, now)
		if err != nil {
			return err
		}
		_, err = s.Apply(m)
		return err
	}
	for _, c := range []struct {
		name string
		pub  ed25519.PublicKey
		raw  []byte
		now  time.Time
		want error
	}{
		{"another key's signature", pub, sign(t, otherPriv, snapshot(6, hashA)), t0, ErrSignature},
		{"the wrong pinned key", other, sign(t, priv, snapshot(6, hashA)), t0, ErrSignature},
		{"truncated", pub, good[:len(good)/2], t0, ErrMalformed},
		{"empty", pub, nil, t0, ErrMalformed},
		{"expired", pub, sign(t, priv, snapshot(6, hashA)), t0.Add(time.Hour), ErrExpired},
		{"the same snapshot again", pub, good, t0, ErrVersion},
		{"an older snapshot", pub, sign(t, priv, snapshot(4, hashA)), t0, ErrVersion},
		{"a delta from another version", pub, sign(t, priv, delta(4, []Entry{nameC})), t0, ErrVersion},
		{"a delta skipping one", pub, sign(t, priv, delta(6, []Entry{nameC})), t0, ErrVersion},
		{"a delta of two versions", pub, sign(t, priv, &Message{Format: Format, Kind: KindDelta, Version: 7, Base: 5, Issued: t0, Expires: t0.Add(time.Hour)}), t0, ErrMalformed},
		{"another format", pub, sign(t, priv, &Message{Format: "edgesensor-feed/2", Kind: KindSnapshot, Version: 6, Issued: t0, Expires: t0.Add(time.Hour)}), t0, ErrMalformed},
		{"an unknown kind of entry", pub, sign(t, priv, snapshot(6, Entry{Key: Key{"url", "http://x"}, Level: 9})), t0, ErrMalformed},
		{"a level out of range", pub, sign(t, priv, snapshot(6, Entry{Key: Key{"ip", "192.0.2.1"}, Level: 11})), t0, ErrMalformed},
		{"a snapshot removing", pub, sign(t, priv, &Message{Format: Format, Kind: KindSnapshot, Version: 6, Issued: t0, Expires: t0.Add(time.Hour), Remove: []Key{hashA.Key}}), t0, ErrMalformed},
		{"no expiry", pub, sign(t, priv, &Message{Format: Format, Kind: KindSnapshot, Version: 6, Issued: t0}), t0, ErrMalformed},
		{"data after the envelope", pub, append(append([]byte(nil), good...), []byte(` {}`)...), t0, ErrMalformed},
	} {
		err := open(c.pub, c.raw, c.now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if s.Version != 5 || len(s.Entries) != 2 {
		t.Errorf("the state changed: %d %v", s.Version, s.Entries)
	}
}

// No single flipped byte of a signed message gets a different message
// in: each is refused, or decodes to exactly the message signed (JSON
// field names match whatever their case).
func TestEveryFlippedByteRefused(t *testing.T) {
	pub, priv := testKey(1)
	m := delta(5, []Entry{hashA, nameC}, ipB.Key)
	raw := sign(t, priv, m)
	want, err := Open(pub, raw, t0)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for i := range raw {
		for _, bit := range []byte{0x01, 0x20, 0x80} {
			b := append([]byte(nil), raw...)
			b[i] ^= bit
			got, err := Open(pub, b, t0)
			if err != nil {
				continue
			}
			accepted++
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("byte %d ^ %#x: accepted as a different message: %+v", i, bit, got)
			}
		}
	}
	t.Logf("%d bytes × 3 flips: %d accepted, all the message signed", len(raw), accepted)
}

// The store gives back the last good feed after a restart, and drops a
// saved delta that no longer verifies along with those after it.
func TestStore(t *testing.T) {
	pub, priv := testKey(1)
	dir := t.TempDir()
	st := &Store{Dir: dir, Pub: pub}
	var s *State
	for _, m := range []*Message{snapshot(5, hashA), delta(5, []Entry{ipB}), delta(6, []Entry{nameC})} {
		raw := sign(t, priv, m)
		got, err := Open(pub, raw, t0)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = s.Apply(got); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(got, raw); err != nil {
			t.Fatal(err)
		}
	}
	// Offline long after: expired messages of its own still load.
	loaded, err := st.Load()
	if err != nil || !reflect.DeepEqual(loaded, s) {
		t.Fatalf("loaded %+v, %v; want %+v", loaded, err, s)
	}
	// A saved delta corrupted on disk: the state before it, and it goes.
	last := filepath.Join(dir, "delta-00000000000000000007.feed")
	b, _ := os.ReadFile(last)
	b[len(b)/2] ^= 1
	os.WriteFile(last, b, 0o600)
	loaded, err = st.Load()
	if err == nil || loaded == nil || loaded.Version != 6 {
		t.Fatalf("corrupt delta: %+v, %v; want version 6 and an error", loaded, err)
	}
	if _, err := os.Stat(last); !os.IsNotExist(err) {
		t.Errorf("the corrupt delta is still there")
	}
	// A snapshot replaces the deltas.
	raw := sign(t, priv, snapshot(9, nameC))
	m, _ := Open(pub, raw, t0)
	if err := st.Save(m, raw); err != nil {
		t.Fatal(err)
	}
	if n := st.Deltas(); n != 0 {
		t.Errorf("%d deltas after a snapshot", n)
	}
	if loaded, err = st.Load(); err != nil || loaded.Version != 9 || len(loaded.Entries) != 1 {
		t.Errorf("after the new snapshot: %+v, %v", loaded, err)
	}
	// A store signed by another key loads nothing.
	other, _ := testKey(2)
	if _, err := (&Store{Dir: dir, Pub: other}).Load(); !errors.Is(err, ErrSignature) {
		t.Errorf("another key's store: %v", err)
	}
}

// The envelope and message decoders never panic and never accept what
// was not signed.
func FuzzOpen(f *testing.F) {
	pub, priv := testKey(1)
	for _, m := range []*Message{snapshot(5, hashA, ipB), delta(5, []Entry{nameC}, ipB.Key)} {
		raw, _ := Sign(priv, m)
		f.Add(raw)
	}
	f.Add([]byte(`{"payload":"","sig":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Open(pub, raw, t0)
		if err != nil {
			return
		}
		if err := m.check(); err != nil {
			t.Fatalf("accepted a message that does not check: %v", err)
		}
		var env envelope
		if strictDecode(raw, &env) != nil || !ed25519.Verify(pub, env.Payload, env.Sig) {
			t.Fatal("accepted without a valid signature")
		}
		var s *State
		s.Apply(m)
	})
}

// Keys written by GenerateKey load back as a working pair; a key of
// another type or a missing file is an error naming the file.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "feed.key"), filepath.Join(dir, "feed.pub")
	if err := GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	sk, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	raw := sign(t, sk, snapshot(1, hashA))
	if _, err := Open(pk, raw, t0); err != nil {
		t.Errorf("a message signed with the generated key: %v", err)
	}
	if _, err := LoadPublicKey(priv); err == nil {
		t.Error("a private key read as the public one")
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file read")
	}
}
