package geo

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
	"github.com/rs/zerolog"
)

var london = netip.MustParseAddr("81.2.69.142")
var telstra = netip.MustParseAddr("1.128.0.1")

func cityName(t *testing.T, d *DB) string {
	t.Helper()
	g, _ := d.Lookup(london)
	if g == nil {
		return ""
	}
	return g.CityName
}

func orgName(t *testing.T, d *DB) string {
	t.Helper()
	_, as := d.Lookup(telstra)
	if as == nil || as.Organization == nil {
		return ""
	}
	return as.Organization.Name
}

// A file replaced by rename is loaded at the next check; an unchanged
// one is not.
func TestReloadRename(t *testing.T) {
	d, city, asn := fixture(t)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Reloads != 0 {
		t.Fatalf("unchanged files reloaded: %+v", st)
	}
	citySpec(2).write(t, city)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := cityName(t, d); got != "London v2" {
		t.Errorf("city %q after the rename", got)
	}
	if got := orgName(t, d); got != "Telstra Pty Ltd" {
		t.Errorf("org %q: the ASN database changed", got)
	}
	asnSpec(3).write(t, asn)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := orgName(t, d); got != "Telstra v3" {
		t.Errorf("org %q after the rename", got)
	}
	st := d.Stats()
	if st.Reloads != 2 || st.ReloadFailures != 0 || len(st.Files) != 2 {
		t.Fatalf("%+v", st)
	}
	if f := st.Files[0]; f.Key != "enrich.geoip_city" || f.DatabaseType != "GeoLite2-City" || f.BuildEpoch != 1700000002 || f.Reloads != 1 {
		t.Errorf("city %+v", f)
	}
	if f := st.Files[1]; f.Key != "enrich.geoip_asn" || f.BuildEpoch != 1700000003 || f.Reloads != 1 || f.Hits == 0 {
		t.Errorf("asn %+v", f)
	}
}

// A file rewritten in place (same inode) is loaded at the next check,
// also when its size did not change.
func TestReloadOverwriteInPlace(t *testing.T) {
	d, city, _ := fixture(t)
	ino := statFile(city).ino
	overwrite(t, city, citySpec(2).encode(t))
	bumpMtime(t, city, time.Second)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := cityName(t, d); got != "London v2" {
		t.Errorf("city %q after the rewrite", got)
	}
	// Version 3 is as long as version 2.
	v3 := citySpec(3).encode(t)
	if fi, _ := os.Stat(city); fi.Size() != int64(len(v3)) {
		t.Fatalf("sizes differ: %d, %d", fi.Size(), len(v3))
	}
	overwrite(t, city, v3)
	bumpMtime(t, city, 2*time.Second)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := cityName(t, d); got != "London v3" {
		t.Errorf("city %q after a rewrite of the same size", got)
	}
	// The same size and the mtime kept (cp -p): the ctime tells.
	fi, _ := os.Stat(city)
	overwrite(t, city, citySpec(4).encode(t))
	if err := os.Chtimes(city, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := cityName(t, d); got != "London v4" {
		t.Errorf("city %q after a rewrite keeping size and mtime", got)
	}
	if statFile(city).ino != ino {
		t.Fatal("the rewrite made a new file")
	}
	if st := d.Stats(); st.Reloads != 3 || st.Faults != 0 {
		t.Errorf("%+v", st)
	}
}

// A changed file that does not load keeps the running database, is
// counted once (not at every check), and is tried again when it changes.
func TestReloadBadFileKeepsOld(t *testing.T) {
	d, city, asn := fixture(t)
	good := citySpec(2).encode(t)
	for _, tc := range []struct {
		name, want string
		data       []byte
		remove     bool
	}{
		{name: "garbage", data: []byte("not a database at all"), want: "invalid MaxMind DB file"},
		{name: "empty", data: []byte{}, want: "file is empty"},
		{name: "truncated", data: good[:len(good)/2], want: "invalid MaxMind DB file"},
		// The tree intact, the data section overwritten: only Verify finds it.
		{name: "corrupt data", data: corruptData(good), want: "unexpected end of database"},
		{name: "ASN database as geoip_city", data: asnSpec(2).encode(t), want: "give it as enrich.geoip_asn"},
		{name: "missing", remove: true, want: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := d.Stats()
			if tc.remove {
				if err := os.Remove(city); err != nil {
					t.Fatal(err)
				}
			} else {
				replace(t, city, tc.data)
			}
			err := d.Reload()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "enrich.geoip_city: ") {
				t.Errorf("Reload: %v, want enrich.geoip_city: ...%s", err, tc.want)
			}
			if got := cityName(t, d); got != "London" {
				t.Errorf("city %q: the running database did not stay", got)
			}
			if err := d.Reload(); err != nil {
				t.Errorf("the same bad file again: %v", err)
			}
			st := d.Stats()
			if st.ReloadFailures != before.ReloadFailures+1 || st.Reloads != 0 {
				t.Errorf("stats %+v", st)
			}
			if f := st.Files[0]; !strings.Contains(f.LastError, tc.want) || f.BuildEpoch != 1700000001 {
				t.Errorf("file stats %+v", f)
			}
		})
	}
	// Fixed: loaded.
	citySpec(2).write(t, city)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := cityName(t, d); got != "London v2" {
		t.Errorf("city %q after the fix", got)
	}
	if f := d.Stats().Files[0]; f.LastError != "" || f.Reloads != 1 {
		t.Errorf("%+v", f)
	}
	// The ASN side is checked alike.
	citySpec(2).write(t, asn)
	if err := d.Reload(); err == nil || !strings.Contains(err.Error(), "enrich.geoip_asn: ") || !strings.Contains(err.Error(), "give it as enrich.geoip_city") {
		t.Errorf("a City database as geoip_asn: %v", err)
	}
	if got := orgName(t, d); got != "Telstra Pty Ltd" {
		t.Errorf("org %q", got)
	}
}

// corruptData overwrites the middle of the data section (between the
// tree and the metadata) with 0xff: a pointer far out of range.
func corruptData(db []byte) []byte {
	out := append([]byte(nil), db...)
	meta := strings.LastIndex(string(out), "\xAB\xCD\xEFMaxMind.com")
	for i := meta - 60; i < meta-20; i++ {
		out[i] = 0x3f // pointers (kind 1) of the largest size
	}
	return out
}

// Run checks at reload_check and swaps the changed file in.
func TestRunReloads(t *testing.T) {
	_, city, asn := fixture(t)
	d, err := Open(Settings{GeoIPCity: city, GeoIPASN: asn, ReloadCheck: setting.Duration(20 * time.Millisecond)}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	citySpec(2).write(t, city)
	deadline := time.Now().Add(5 * time.Second)
	for cityName(t, d) != "London v2" {
		if time.Now().After(deadline) {
			t.Fatal("Run did not reload")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Close ends Run too.
	d.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end after Close")
	}
	cancel()
}

// Lookups from several goroutines while the files are replaced, rewritten
// and broken: every answer is one of the versions, never a mix, a crash
// or a race.
func TestConcurrentLookupsDuringReloads(t *testing.T) {
	d, city, asn := fixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var answered atomic.Int64
	var bad atomic.Value
	for w := range 8 {
		wg.Go(func() {
			addrs := []netip.Addr{london, telstra, netip.MustParseAddr("2001:480::1"), netip.MustParseAddr("8.8.8.8")}
			for i := w; ctx.Err() == nil; i++ {
				g, as := d.Lookup(addrs[i%len(addrs)])
				switch a := addrs[i%len(addrs)]; a {
				case london:
					if g == nil || !strings.HasPrefix(g.CityName, "London") || g.Location == nil || g.RegionISOCode != "GB-WBK" {
						bad.Store("london: " + js(g))
					}
				case telstra:
					if as == nil || as.Number != 1221 || as.Organization == nil || !strings.HasPrefix(as.Organization.Name, "Telstra") {
						bad.Store("telstra: " + js(as))
					}
				}
				answered.Add(1)
				if i%64 == 0 {
					_ = d.Stats()
				}
			}
		})
	}
	for v := 2; v < 30; v++ {
		switch v % 3 {
		case 0:
			citySpec(v).write(t, city)
			asnSpec(v).write(t, asn)
		case 1:
			replace(t, city, []byte("broken"))
		case 2:
			citySpec(v).write(t, city)
		}
		_ = d.Reload()
	}
	// Some lookups ran against the last version.
	target := answered.Load() + 1000
	for answered.Load() < target {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Error(b)
	}
	st := d.Stats()
	if st.Reloads < 20 || st.ReloadFailures < 9 || st.Errors != 0 || st.Faults != 0 {
		t.Errorf("%+v", st)
	}
	t.Logf("%d lookups, %d reloads", st.Lookups, st.Reloads)
}

// A mapped file truncated in place faults the next read of it: the fault
// is caught (no crash), counted, the database answers nothing, and the
// next check loads the file once it is whole again.
func TestTruncatedInPlaceFaultIsCaught(t *testing.T) {
	d, city, _ := fixture(t)
	if err := os.Truncate(city, 0); err != nil {
		t.Fatal(err)
	}
	g, as := d.Lookup(london)
	if g != nil {
		t.Errorf("answered from a truncated file: %s", js(g))
	}
	if as == nil {
		t.Error("the ASN database, untouched, did not answer")
	}
	g, _ = d.Lookup(london) // no second fault: the database is set aside
	st := d.Stats()
	if st.Faults != 1 || g != nil {
		t.Fatalf("%+v", st)
	}
	select {
	case <-d.kick:
	default:
		t.Error("no check asked for")
	}
	// Still empty: the reload fails, the database stays set aside.
	if err := d.Reload(); err == nil {
		t.Error("an empty file loaded")
	}
	overwrite(t, city, citySpec(2).encode(t))
	bumpMtime(t, city, time.Second)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := cityName(t, d); got != "London v2" {
		t.Errorf("city %q after the rewrite", got)
	}
}

// Files rewritten in place (truncated, then written) under lookups: the
// answers in between may be missing, but nothing crashes, and the next
// check after the last rewrite loads it.
func TestOverwriteInPlaceUnderLookups(t *testing.T) {
	d, city, _ := fixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d.Lookup(london)
				d.Lookup(netip.MustParseAddr("2001:480::1"))
			}
		})
	}
	for v := 2; v < 40; v++ {
		overwrite(t, city, citySpec(v).encode(t))
		bumpMtime(t, city, time.Duration(v)*time.Second)
		if v%4 == 0 {
			_ = d.Reload() // may catch a half-written file: kept, tried again
		}
	}
	_ = d.Reload()
	cancel()
	wg.Wait()
	if got := cityName(t, d); got != "London v39" {
		t.Errorf("city %q after the last rewrite", got)
	}
	t.Logf("%+v", d.Stats())
}
