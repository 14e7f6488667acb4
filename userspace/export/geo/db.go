package geo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/rs/zerolog"
)

// Table is the config table Open names its errors under.
const Table = "enrich"

// DB answers Lookup from the configured databases and replaces a database
// whose file changed. It is safe for concurrent use; the nil *DB answers
// nothing.
type DB struct {
	log   zerolog.Logger
	every time.Duration
	kick  chan struct{} // a fault asks Run for an immediate check

	// mu guards the sources' running databases: lookups hold it for
	// reading, a swap and Close for writing, so a database is unmapped
	// only when no lookup can still read it.
	mu     sync.RWMutex
	closed bool
	city   *source // nil when not configured
	asn    *source

	reloadMu sync.Mutex // serialises Reload

	lookups, skipped, hits, errs, faults atomic.Uint64
}

// source is one configured file.
type source struct {
	kind kind
	key  string // "enrich.geoip_city"
	path string

	cur *handle // guarded by DB.mu

	// Guarded by DB.reloadMu. loaded is the file as it was before cur
	// was opened; tried is a file that failed to load, not tried again
	// until it changes.
	loaded, tried stamp

	hits, reloads, failures atomic.Uint64
	lastErr                 atomic.Pointer[string]
}

// handle is one opened database.
type handle struct {
	r        *maxminddb.Reader
	dbType   string
	build    uint64
	ipv4Only bool
	loadedAt time.Time
	faulted  atomic.Bool // a read faulted: the file was truncated under the mapping
}

// Open loads the databases s names; with none it returns a DB that
// answers nothing. Call Run to follow changes of the files, and Close at
// the end.
func Open(s Settings, log zerolog.Logger) (*DB, error) {
	d := &DB{log: log, every: time.Duration(s.ReloadCheck), kick: make(chan struct{}, 1)}
	if d.every <= 0 {
		d.every = time.Duration(DefaultReloadCheck)
	}
	for _, f := range s.files() {
		if f.path == "" {
			continue
		}
		src := &source{kind: f.kind, key: Table + "." + f.kind.field(), path: f.path}
		src.loaded = statFile(f.path)
		h, err := load(f.path, f.kind, Table)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("%s: %w", src.key, err)
		}
		src.cur = h
		if f.kind == kindCity {
			d.city = src
		} else {
			d.asn = src
		}
		d.logLoaded(src, h, "geoip database loaded")
	}
	return d, nil
}

// Lookup answers what the databases know of addr: nil for what they do
// not (a miss, an address that is private, loopback, link-local,
// multicast or otherwise reserved, a record that does not decode).
// IPv4-mapped IPv6 addresses are looked up as IPv4. The answers are the
// caller's: they share no memory with the databases.
func (d *DB) Lookup(addr netip.Addr) (g *Geo, as *AS) {
	if d == nil {
		return nil, nil
	}
	d.lookups.Add(1)
	addr = addr.Unmap().WithZone("")
	if !global(addr) {
		d.skipped.Add(1)
		return nil, nil
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.city != nil {
		if g = d.lookupCity(d.city.cur, addr); g != nil {
			d.city.hits.Add(1)
		}
	}
	if d.asn != nil {
		if as = d.lookupASN(d.asn.cur, addr); as != nil {
			d.asn.hits.Add(1)
		}
	}
	if g != nil || as != nil {
		d.hits.Add(1)
	}
	return g, as
}

// usable says whether h is there to ask about addr.
func usable(h *handle, addr netip.Addr) bool {
	return h != nil && !h.faulted.Load() && !(h.ipv4Only && addr.Is6())
}

// lookupCity and lookupASN decode addr's record of h. A read that faults
// (the mapped file was truncated in place) answers nil instead of
// crashing the sensor. The record is allocated only when one is found.
func (d *DB) lookupCity(h *handle, addr netip.Addr) *Geo {
	return lookupIn(d, h, addr, (*cityRecord).geo)
}

func (d *DB) lookupASN(h *handle, addr netip.Addr) *AS {
	return lookupIn(d, h, addr, (*asnRecord).answer)
}

// lookupIn decodes addr's record of h as an R and answers from it.
func lookupIn[R, A any](d *DB, h *handle, addr netip.Addr, answer func(*R) *A) *A {
	if !usable(h, addr) {
		return nil
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer d.fault(h)
	res := h.r.Lookup(addr)
	if !d.found(res) {
		return nil
	}
	rec := new(R)
	if err := res.Decode(rec); err != nil {
		d.errs.Add(1)
		return nil
	}
	return answer(rec)
}

func (d *DB) found(res maxminddb.Result) bool {
	if res.Found() {
		return true
	}
	if res.Err() != nil {
		d.errs.Add(1)
	}
	return false
}

// fault recovers from a memory fault of a lookup in h (and only from
// that), marks h unusable and asks for a reload.
func (d *DB) fault(h *handle) {
	e := recover()
	if e == nil {
		return
	}
	if _, ok := e.(interface{ Addr() uintptr }); !ok {
		panic(e)
	}
	d.faults.Add(1)
	if h.faulted.CompareAndSwap(false, true) {
		d.log.Error().Str("database", h.dbType).Str("fault", fmt.Sprint(e)).
			Msg("geoip database changed under its mapping (rewritten in place?); its lookups answer nothing until it is reloaded. Replace the file by rename")
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// Run checks the files every reload_check (and at once after a fault)
// and reloads those that changed, until ctx is done or the DB is closed.
func (d *DB) Run(ctx context.Context) {
	if d == nil || (d.city == nil && d.asn == nil) {
		return
	}
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.kick:
		}
		if err := d.Reload(); errors.Is(err, errClosed) {
			return
		} // other errors are logged and counted
	}
}

var errClosed = errors.New("geo: database closed")

// Reload loads anew each file whose identity (device, inode), size,
// mtime or ctime differs from the loaded one's, or whose database
// faulted, and swaps it in. A file that does not open, verify or fit its
// key keeps the running database; it is logged and counted, and tried
// again only once it changes. The error names the files that failed.
func (d *DB) Reload() error {
	if d == nil {
		return nil
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	var errs []error
	for _, s := range []*source{d.city, d.asn} {
		if s == nil {
			continue
		}
		if err := d.reload(s); err != nil {
			if errors.Is(err, errClosed) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *DB) reload(s *source) error {
	d.mu.RLock()
	closed, cur := d.closed, s.cur
	d.mu.RUnlock()
	if closed {
		return errClosed
	}
	st := statFile(s.path)
	if st == s.tried || (st == s.loaded && cur != nil && !cur.faulted.Load()) {
		return nil
	}
	h, err := load(s.path, s.kind, Table)
	if err != nil {
		s.tried = st
		s.failures.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		d.log.Warn().Err(err).Str("key", s.key).Str("path", s.path).
			Msg("geoip database not reloaded; the running one stays")
		return fmt.Errorf("%s: %w", s.key, err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		h.r.Close()
		return errClosed
	}
	old := s.cur
	s.cur = h
	d.mu.Unlock()
	// No lookup holds old now: each took the read lock the swap waited
	// for, and later ones see h.
	if old != nil {
		old.r.Close()
	}
	s.loaded, s.tried = st, stamp{}
	s.reloads.Add(1)
	s.lastErr.Store(nil)
	d.logLoaded(s, h, "geoip database reloaded")
	return nil
}

// Close unmaps the databases; later lookups answer nothing.
func (d *DB) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	var errs []error
	for _, s := range []*source{d.city, d.asn} {
		if s != nil && s.cur != nil {
			errs = append(errs, s.cur.r.Close())
			s.cur = nil
		}
	}
	return errors.Join(errs...)
}

func (d *DB) logLoaded(s *source, h *handle, msg string) {
	d.log.Info().Str("key", s.key).Str("path", s.path).Str("type", h.dbType).
		Time("built", time.Unix(int64(h.build), 0).UTC()).Msg(msg)
}

// Stats are the DB's counters since Open.
type Stats struct {
	Lookups uint64 // Lookup calls
	Skipped uint64 // of them, addresses not looked up: private, reserved, invalid
	Hits    uint64 // of them, answered with a Geo or an AS
	Errors  uint64 // records that did not decode (answered nil)
	Faults  uint64 // reads that faulted on a file truncated in place (answered nil)
	// Reloads and ReloadFailures are the sums of the files'.
	Reloads        uint64
	ReloadFailures uint64
	Files          []FileStats // geoip_city, then geoip_asn, as configured
}

// FileStats describe one configured database.
type FileStats struct {
	Key            string    // "enrich.geoip_city"
	Path           string    // as configured
	DatabaseType   string    // of the running database: "GeoLite2-City"
	BuildEpoch     uint64    // its build time, Unix seconds
	LoadedAt       time.Time // when it was loaded
	Hits           uint64    // lookups it answered
	Reloads        uint64    // changed files swapped in
	ReloadFailures uint64    // changed files that did not load
	LastError      string    // of the last failed reload; "" once one succeeds
}

// Stats reads the counters.
func (d *DB) Stats() Stats {
	if d == nil {
		return Stats{}
	}
	st := Stats{
		Lookups: d.lookups.Load(),
		Skipped: d.skipped.Load(),
		Hits:    d.hits.Load(),
		Errors:  d.errs.Load(),
		Faults:  d.faults.Load(),
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, s := range []*source{d.city, d.asn} {
		if s == nil {
			continue
		}
		f := FileStats{
			Key:            s.key,
			Path:           s.path,
			Hits:           s.hits.Load(),
			Reloads:        s.reloads.Load(),
			ReloadFailures: s.failures.Load(),
		}
		if h := s.cur; h != nil {
			f.DatabaseType, f.BuildEpoch, f.LoadedAt = h.dbType, h.build, h.loadedAt
		}
		if e := s.lastErr.Load(); e != nil {
			f.LastError = *e
		}
		st.Reloads += f.Reloads
		st.ReloadFailures += f.ReloadFailures
		st.Files = append(st.Files, f)
	}
	return st
}

// kind is what a key takes: a City or Country database, or an ASN one.
type kind uint8

const (
	kindCity kind = iota
	kindASN
)

func (k kind) field() string {
	if k == kindCity {
		return "geoip_city"
	}
	return "geoip_asn"
}

func (k kind) what() string {
	if k == kindCity {
		return "a City or Country database"
	}
	return "an ASN database"
}

func (k kind) example() string {
	if k == kindCity {
		return "GeoLite2-City.mmdb"
	}
	return "GeoLite2-ASN.mmdb"
}

func (k kind) other() kind { return 1 - k }

// fits says whether a database_type is k's: "GeoLite2-City",
// "GeoIP2-Country", "GeoIP2-Enterprise", "DBIP-City-Lite" for a City,
// "GeoLite2-ASN", "GeoIP2-ISP", "DBIP-ASN-Lite" for an ASN key.
func (k kind) fits(dbType string) bool {
	t := strings.ToLower(dbType)
	if k == kindCity {
		return strings.Contains(t, "city") || strings.Contains(t, "country") || strings.Contains(t, "enterprise")
	}
	return strings.Contains(t, "asn") || strings.Contains(t, "isp")
}

// load opens path and checks it as k's database: the type first (the
// clearer error), then the whole file. table names the keys in the fix.
func load(path string, k kind, table string) (*handle, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		if _, ok := errors.AsType[*fs.PathError](err); !ok {
			err = fmt.Errorf("%s: %w (want a MaxMind DB file, %s)", path, err, k.example())
		}
		return nil, err
	}
	md := r.Metadata
	if !k.fits(md.DatabaseType) {
		r.Close()
		if k.other().fits(md.DatabaseType) {
			return nil, fmt.Errorf("%s is %s (database_type %q), not %s; give it as %s.%s, and here %s (%s)",
				path, k.other().what(), md.DatabaseType, k.what(), table, k.other().field(), k.what(), k.example())
		}
		return nil, fmt.Errorf("%s has database_type %q, which is not %s; give %s (%s)",
			path, md.DatabaseType, k.what(), k.what(), k.example())
	}
	// No full Verify: it walks every record (seconds of CPU and hundreds
	// of MB of garbage for a City database, at every start and reload),
	// and buys little, since the reader checks every offset it follows:
	// a corrupt record is a lookup error, counted, never a crash. The
	// metadata and the first records are checked instead.
	if err := probe(r, k); err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w; give %s with MaxMind's schema (%s)", path, err, k.what(), k.example())
	}
	return &handle{
		r:        r,
		dbType:   md.DatabaseType,
		build:    uint64(md.BuildEpoch),
		ipv4Only: md.IPVersion == 4,
		loadedAt: time.Now(),
	}, nil
}

// probeRecords is how many records probe reads.
const probeRecords = 16

// probe reads the first records as k's: a database of another schema
// (flat fields, other names) would answer nothing, or an error at every
// lookup.
func probe(r *maxminddb.Reader, k kind) error {
	n, answers := 0, 0
	for res := range r.Networks(maxminddb.SkipEmptyValues()) {
		if err := res.Err(); err != nil {
			return err
		}
		var err error
		var answered bool
		if k == kindCity {
			rec := new(cityRecord)
			err, answered = res.Decode(rec), rec.geo() != nil
		} else {
			rec := new(asnRecord)
			err, answered = res.Decode(rec), rec.answer() != nil
		}
		if err != nil {
			return fmt.Errorf("the record of %s does not read as %s: %w", res.Prefix(), k.what(), err)
		}
		if answered {
			answers++
		}
		if n++; n == probeRecords {
			break
		}
	}
	if n > 0 && answers == 0 {
		return fmt.Errorf("none of its first %d records has a field of %s", n, k.what())
	}
	return nil
}
