package daemon

import (
	"fmt"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/export/geo"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
)

// geoFamilies are the figures of [enrich]: the server addresses looked up
// for destination.geo and destination.as, what each database answered,
// and the state of the files (reloads, build time). Without databases
// they report nothing. They need no data plane (replay has none).
func geoFamilies(a *analysis) []metrics.Family {
	type emitFn = func(float64, ...string)
	// db reads the databases' figures, when there are databases.
	db := func(fn func(st *geo.Stats, emit emitFn)) func(emitFn) {
		return func(emit emitFn) {
			if a.geo != nil {
				st := a.geo.Stats()
				fn(&st, emit)
			}
		}
	}
	// files calls fn for each configured database, labelled by its key in
	// [enrich] (geoip_city, geoip_asn).
	files := func(fn func(f *geo.FileStats, database string, emit emitFn)) func(emitFn) {
		return db(func(st *geo.Stats, emit emitFn) {
			for i := range st.Files {
				f := &st.Files[i]
				fn(f, strings.TrimPrefix(f.Key, geo.Table+"."), emit)
			}
		})
	}
	return []metrics.Family{
		{Name: "enrich_lookups_total", Help: "Server addresses of edgesensor.tls and edgesensor.file events looked up in the [enrich] databases, by result: all; skipped (private, loopback, link-local or otherwise reserved: not looked up); answered (a geo or an as found); cached (answered from the cache of recent servers, found or not); error (a record that did not decode, or a read of a file rewritten in place: answered nothing).",
			Kind: metrics.Counter, Labels: []string{"result"},
			Read: db(func(st *geo.Stats, emit emitFn) {
				emit(float64(st.Lookups), "all")
				emit(float64(st.Skipped), "skipped")
				emit(float64(st.Hits), "answered")
				emit(float64(a.geoCache.Stats().Cached), "cached")
				emit(float64(st.Errors+st.Faults), "error")
			})},
		{Name: "enrich_hits_total", Help: "Lookups each [enrich] database answered (database: geoip_city, geoip_asn).",
			Kind: metrics.Counter, Labels: []string{"database"},
			Read: files(func(f *geo.FileStats, database string, emit emitFn) { emit(float64(f.Hits), database) })},
		{Name: "enrich_reloads_total", Help: "Changed [enrich] database files loaded and swapped in without a restart, per database.",
			Kind: metrics.Counter, Labels: []string{"database"},
			Read: files(func(f *geo.FileStats, database string, emit emitFn) { emit(float64(f.Reloads), database) })},
		{Name: "enrich_reload_failures_total", Help: "Changed [enrich] database files that did not load (not a MaxMind DB, corrupt, of the wrong type), per database: the running database stays, and the file is tried again once it changes.",
			Kind: metrics.Counter, Labels: []string{"database"},
			Read: files(func(f *geo.FileStats, database string, emit emitFn) { emit(float64(f.ReloadFailures), database) })},
		{Name: "enrich_reload_failing", Help: "1 while the last change of an [enrich] database file did not load (the log says why), 0 once one does.",
			Kind: metrics.Gauge, Labels: []string{"database"},
			Read: files(func(f *geo.FileStats, database string, emit emitFn) {
				v := 0.0
				if f.LastError != "" {
					v = 1
				}
				emit(v, database)
			})},
		{Name: "enrich_database_build_timestamp_seconds", Help: "When the running [enrich] database was built (its metadata's build epoch, Unix seconds), per database and database type: GeoLite2 databases are rebuilt weekly, so an old one says updates stopped.",
			Kind: metrics.Gauge, Labels: []string{"database", "type"},
			Read: files(func(f *geo.FileStats, database string, emit emitFn) {
				if f.DatabaseType != "" { // closed: none running
					emit(float64(f.BuildEpoch), database, f.DatabaseType)
				}
			})},
		{Name: "enrich_cache_entries", Help: fmt.Sprintf("Server addresses whose [enrich] answers are remembered now (the cache of recent servers; at most %d).", geo.DefaultCacheEntries),
			Kind: metrics.Gauge,
			Read: func(emit emitFn) {
				if a.geoCache != nil {
					emit(float64(a.geoCache.Stats().Entries))
				}
			}},
	}
}
