package feed

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// t0 is the feed's clock in the tests; far ahead of the wall clock, which
// lookups of addresses read to honour expiry at once.
var t0 = time.Date(2099, 12, 7, 10, 0, 0, 0, time.UTC)

func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func snapshot(v uint64, add ...Entry) *Message {
	return &Message{Header: Header{Kind: KindSnapshot, Version: v, Issued: t0, Expires: t0.Add(time.Hour)}, Add: add}
}

func delta(base uint64, add []Entry, remove ...Key) *Message {
	return &Message{Header: Header{Kind: KindDelta, Version: base + 1, Base: base, Issued: t0, Expires: t0.Add(time.Hour)}, Add: add, Remove: remove}
}

const shaA = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

var (
	hashA = Entry{Key: Key{"sha256", shaA}, Level: 10, Source: "cloud"}
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

// newFeed is a feed in force in a layer that a Set consults.
func newFeed(pub ed25519.PublicKey, dir string) (*Feed, *intel.Set) {
	f := &Feed{Layer: intel.NewLayer(), Pub: pub}
	if dir != "" {
		f.Store = &Store{Dir: dir}
	}
	r, _ := intel.NewReloaderFeed(nil, f.Layer)
	return f, r.Current()
}

// listed is what the feed holds of the three test values, as lookups
// see it: "kind=level@source" for each found.
func listed(s *intel.Set) string {
	var out []string
	if h, ok := s.Hash(shaA, "", ""); ok {
		out = append(out, fmt.Sprintf("sha256=%d@%s", h.Level, h.Source))
	}
	if h, ok := s.IP(netip.MustParseAddr("198.51.100.7")); ok {
		out = append(out, fmt.Sprintf("ip=%d@%s", h.Level, h.Source))
	}
	if h, ok := s.Domain("www.bad.example"); ok {
		out = append(out, fmt.Sprintf("domain=%d@%s", h.Level, h.Source))
	}
	return strings.Join(out, " ")
}

// A snapshot and deltas in turn build the feed; each is checked before
// anything of it is used.
func TestAcceptInTurn(t *testing.T) {
	pub, priv := testKey(1)
	f, set := newFeed(pub, "")
	steps := []struct {
		m    *Message
		want string
	}{
		{snapshot(5, hashA, ipB), "sha256=10@feed:cloud ip=9@feed:cloud"},
		{delta(5, []Entry{nameC}, ipB.Key), "sha256=10@feed:cloud domain=8@feed:partner"},
		{delta(6, []Entry{{Key: hashA.Key, Level: 4, Source: "cloud"}}), "sha256=4@feed:cloud domain=8@feed:partner"},
		{delta(7, nil, hashA.Key), "domain=8@feed:partner"},
	}
	for _, s := range steps {
		if _, err := f.Accept(sign(t, priv, s.m), t0.Add(time.Minute)); err != nil {
			t.Fatalf("version %d: %v", s.m.Version, err)
		}
		if got := listed(set); got != s.want {
			t.Errorf("after version %d: %q, want %q", s.m.Version, got, s.want)
		}
	}
	if f.Version() != 8 {
		t.Errorf("version %d", f.Version())
	}
	if a := f.Age(t0.Add(time.Minute)); a != time.Minute {
		t.Errorf("age %v", a)
	}
}

// Every way a message can be wrong is refused with its reason, and the
// feed stays as it was.
func TestRefused(t *testing.T) {
	pub, priv := testKey(1)
	other, otherPriv := testKey(2)
	good := sign(t, priv, snapshot(5, hashA, ipB))
	f, set := newFeed(pub, "")
	if _, err := f.Accept(good, t0); err != nil {
		t.Fatal(err)
	}
	before, gen := listed(set), f.Layer.Gen()
	goodDelta := sign(t, priv, delta(5, []Entry{nameC}, ipB.Key))
	// A signed message whose payload is rewritten by hand, re-signed:
	// what the parser refuses even from the right key.
	resign := func(m *Message, edit func(string) string) []byte {
		raw := sign(t, priv, m)
		nl := bytes.IndexByte(raw, '\n')
		payload := []byte(edit(string(raw[nl+1:])))
		return append([]byte(Format+" "+b64(ed25519.Sign(priv, payload))+"\n"), payload...)
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
		{"a flipped byte", pub, flip(goodDelta, len(goodDelta)-10), t0, ErrSignature},
		{"a truncated delta", pub, goodDelta[:len(goodDelta)-20], t0, ErrSignature},
		{"a delta cut at a line, re-signed", pub, resign(delta(5, []Entry{nameC, hashA}), func(p string) string { return p[:strings.LastIndex(p[:len(p)-1], "\n")+1] }), t0, ErrMalformed},
		{"empty", pub, nil, t0, ErrMalformed},
		{"no signature line", pub, []byte("edgesensor-feed/1\n{}"), t0, ErrMalformed},
		{"expired", pub, sign(t, priv, snapshot(6, hashA)), t0.Add(time.Hour), ErrExpired},
		{"the same snapshot again (no deltas kept to replace)", pub, good, t0, ErrVersion},
		{"an older snapshot", pub, sign(t, priv, snapshot(4, hashA)), t0, ErrVersion},
		{"a delta from another version", pub, sign(t, priv, delta(4, []Entry{nameC})), t0, ErrVersion},
		{"a delta skipping one", pub, sign(t, priv, delta(6, []Entry{nameC})), t0, ErrVersion},
		{"a delta of two versions", pub, sign(t, priv, &Message{Header: Header{Kind: KindDelta, Version: 7, Base: 5, Issued: t0, Expires: t0.Add(time.Hour)}}), t0, ErrMalformed},
		{"another format", pub, resign(snapshot(6, hashA), func(p string) string { return strings.Replace(p, Format, "edgesensor-feed/2", 1) }), t0, ErrMalformed},
		{"an unknown kind of entry", pub, sign(t, priv, snapshot(6, Entry{Key: Key{"url", "http://x"}, Level: 9, Source: "x"})), t0, ErrMalformed},
		{"a bad hash", pub, sign(t, priv, snapshot(6, Entry{Key: Key{"sha256", "abc"}, Level: 9, Source: "x"})), t0, ErrMalformed},
		{"a level out of range", pub, sign(t, priv, snapshot(6, Entry{Key: Key{"ip", "192.0.2.1"}, Level: 11, Source: "x"})), t0, ErrMalformed},
		{"a source out of range", pub, resign(snapshot(6, hashA), func(p string) string { return strings.Replace(p, " 10 0\n", " 10 1\n", 1) }), t0, ErrMalformed},
		{"a snapshot removing", pub, sign(t, priv, &Message{Header: Header{Kind: KindSnapshot, Version: 6, Issued: t0, Expires: t0.Add(time.Hour)}, Remove: []Key{hashA.Key}}), t0, ErrMalformed},
		{"no expiry", pub, sign(t, priv, &Message{Header: Header{Kind: KindSnapshot, Version: 6, Issued: t0}}), t0, ErrMalformed},
		{"an unknown header field", pub, resign(snapshot(6, hashA), func(p string) string { return strings.Replace(p, `{"format"`, `{"x":1,"format"`, 1) }), t0, ErrMalformed},
		{"more entries than announced", pub, resign(snapshot(6, hashA), func(p string) string { return p + "+ domain x.example 5 0\n" }), t0, ErrMalformed},
		{"no end of line", pub, resign(snapshot(6, hashA), func(p string) string { return p[:len(p)-1] }), t0, ErrMalformed},
		{"a double space", pub, resign(snapshot(6, hashA), func(p string) string { return strings.Replace(p, "+ sha256 ", "+ sha256  ", 1) }), t0, ErrMalformed},
		{"data after the message", pub, append(append([]byte(nil), good...), " {}"...), t0, ErrSignature},
	} {
		f.Pub = c.pub
		_, err := f.Accept(c.raw, c.now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if got := listed(set); got != before || f.Version() != 5 || f.Layer.Gen() != gen {
		t.Errorf("the feed changed: %q version %d gen %d", got, f.Version(), f.Layer.Gen())
	}
}

func flip(b []byte, i int) []byte {
	b = append([]byte(nil), b...)
	b[i] ^= 1
	return b
}

// No single flipped bit of a signed message gets anything in.
func TestEveryFlippedByteRefused(t *testing.T) {
	pub, priv := testKey(1)
	raw := sign(t, priv, delta(5, []Entry{hashA, nameC}, ipB.Key))
	if _, err := Open(pub, raw, t0); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x20, 0x80} {
			b := append([]byte(nil), raw...)
			b[i] ^= bit
			if _, err := Open(pub, b, t0); err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, bit)
			}
		}
	}
}

// The store gives back the last good feed after a restart, and drops a
// saved delta that no longer verifies along with those after it.
func TestStore(t *testing.T) {
	pub, priv := testKey(1)
	dir := t.TempDir()
	f, set := newFeed(pub, dir)
	for _, m := range []*Message{snapshot(5, hashA), delta(5, []Entry{ipB}), delta(6, []Entry{nameC})} {
		if _, err := f.Accept(sign(t, priv, m), t0); err != nil {
			t.Fatal(err)
		}
	}
	want := listed(set)
	// Offline long after: expired messages of its own still load.
	g, gset := newFeed(pub, dir)
	if err := g.Restore(); err != nil || g.Version() != 7 || listed(gset) != want {
		t.Fatalf("restored version %d %q, %v; want 7 %q", g.Version(), listed(gset), err, want)
	}
	// A saved delta corrupted on disk: the feed before it, and it goes.
	last := filepath.Join(dir, "delta-00000000000000000007.feed")
	b, _ := os.ReadFile(last)
	os.WriteFile(last, flip(b, len(b)/2), 0o600)
	g, gset = newFeed(pub, dir)
	if err := g.Restore(); err == nil || g.Version() != 6 || listed(gset) != "sha256=10@feed:cloud ip=9@feed:cloud" {
		t.Fatalf("corrupt delta: version %d %q, %v; want 6 and an error", g.Version(), listed(gset), err)
	}
	if _, err := os.Stat(last); !os.IsNotExist(err) {
		t.Errorf("the corrupt delta is still there")
	}
	if g.KeptDeltas() != 1 {
		t.Errorf("kept deltas %d after the restore, want 1", g.KeptDeltas())
	}
	// The snapshot of the version in force, while deltas are kept: that
	// state (the sensor asks for it to replace them), taken.
	same := sign(t, priv, snapshot(6, hashA, ipB))
	if _, err := g.Accept(same, t0); err != nil || g.Version() != 6 || g.KeptDeltas() != 0 || listed(gset) != "sha256=10@feed:cloud ip=9@feed:cloud" {
		t.Errorf("the snapshot of the version in force: %v, kept %d, %q", err, g.KeptDeltas(), listed(gset))
	}
	if _, err := g.Accept(same, t0); !errors.Is(err, ErrVersion) {
		t.Errorf("that snapshot again, with no delta kept: %v", err)
	}
	// A snapshot replaces the deltas.
	if _, err := g.Accept(sign(t, priv, snapshot(9, nameC)), t0); err != nil {
		t.Fatal(err)
	}
	if n := g.Store.Deltas(); n != 0 || g.KeptDeltas() != 0 {
		t.Errorf("%d deltas (%d counted) after a snapshot", n, g.KeptDeltas())
	}
	h, hset := newFeed(pub, dir)
	if err := h.Restore(); err != nil || h.Version() != 9 || listed(hset) != "domain=8@feed:partner" {
		t.Errorf("after the new snapshot: %d %q, %v", h.Version(), listed(hset), err)
	}
	// A store signed by another key loads nothing.
	other, _ := testKey(2)
	k, kset := newFeed(other, dir)
	if err := k.Restore(); !errors.Is(err, ErrSignature) || listed(kset) != "" {
		t.Errorf("another key's store: %v %q", err, listed(kset))
	}
}

// An entry's expiry: lookups of an address honour it at once, the sweep
// takes every kind off.
func TestEntryExpiry(t *testing.T) {
	pub, priv := testKey(1)
	f, set := newFeed(pub, "")
	soon := t0.Add(time.Minute).Truncate(time.Second)
	m := snapshot(5, Entry{Key: hashA.Key, Level: 9, Source: "cloud", Expires: soon}, nameC)
	if _, err := f.Accept(sign(t, priv, m), t0); err != nil {
		t.Fatal(err)
	}
	if got := listed(set); got != "sha256=9@feed:cloud domain=8@feed:partner" {
		t.Fatalf("%q", got)
	}
	if n := f.Layer.Expire(soon.Add(-time.Second)); n != 0 {
		t.Errorf("%d expired early", n)
	}
	if n := f.Layer.Expire(soon); n != 1 || listed(set) != "domain=8@feed:partner" {
		t.Errorf("expired %d, left %q", n, listed(set))
	}
	// The sweep takes an address off; a value listed again without an
	// expiry does not lapse with its old one.
	later := soon.Add(time.Minute)
	d := delta(5, []Entry{{Key: ipB.Key, Level: 9, Source: "cloud", Expires: later}, {Key: nameC.Key, Level: 8, Source: "partner", Expires: later}})
	if _, err := f.Accept(sign(t, priv, d), soon); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Accept(sign(t, priv, delta(6, []Entry{nameC})), soon); err != nil {
		t.Fatal(err)
	}
	if got := listed(set); got != "ip=9@feed:cloud domain=8@feed:partner" {
		t.Fatalf("before the second lapse: %q", got)
	}
	if n := f.Layer.Expire(later); n != 1 || listed(set) != "domain=8@feed:partner" {
		t.Errorf("the second lapse: expired %d, left %q", n, listed(set))
	}
}

// The decoder never panics and never accepts what was not signed.
func FuzzOpen(f *testing.F) {
	pub, priv := testKey(1)
	for _, m := range []*Message{snapshot(5, hashA, ipB), delta(5, []Entry{nameC}, ipB.Key)} {
		raw, _ := Sign(priv, m)
		f.Add(raw)
	}
	f.Add([]byte("edgesensor-feed/1 \n{}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := Open(pub, raw, t0); err != nil {
			return
		}
		if _, err := verify(pub, raw); err != nil {
			t.Fatal("accepted without a valid signature")
		}
	})
}

// The payload parser (what follows a good signature) never panics, and
// what it accepts has the entries its header announced.
func FuzzParse(f *testing.F) {
	_, priv := testKey(1)
	for _, m := range []*Message{snapshot(5, hashA, ipB, nameC), delta(5, []Entry{nameC}, ipB.Key, hashA.Key)} {
		raw, _ := Sign(priv, m)
		f.Add(raw[bytes.IndexByte(raw, '\n')+1:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := parse(payload)
		if err != nil {
			return
		}
		if a, r := m.Batch.Len(); a != m.Adds || r != m.Removes {
			t.Fatalf("%d adds %d removes, header %d %d", a, r, m.Adds, m.Removes)
		}
		l := intel.NewLayer()
		l.Apply(m.Batch)
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
	if _, err := Open(pk, sign(t, sk, snapshot(1, hashA)), t0); err != nil {
		t.Errorf("a message signed with the generated key: %v", err)
	}
	if _, err := LoadPublicKey(priv); err == nil {
		t.Error("a private key read as the public one")
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file read")
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
