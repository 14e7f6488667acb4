package config

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Diff lists the dotted keys whose values differ between a and b, sorted:
// what a reload changes. Array tables compare as a whole.
func Diff(a, b *Config) []string {
	var out []string
	var walk func(prefix string, x, y reflect.Value)
	walk = func(prefix string, x, y reflect.Value) {
		t := x.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			fx, fy := x.Field(i), y.Field(i)
			if fx.Kind() == reflect.Struct {
				walk(key+".", fx, fy)
				continue
			}
			if fmt.Sprint(fx.Interface()) != fmt.Sprint(fy.Interface()) {
				out = append(out, key)
			}
		}
	}
	walk("", reflect.ValueOf(*a), reflect.ValueOf(*b))
	sort.Strings(out)
	return out
}

// LiveKeys are the key prefixes a running sensor takes on a reload
// (SIGHUP); any other change needs a restart. [enrich] is not live: its
// databases are opened at start (a changed database file is reloaded by
// their own watcher, without a reload).
var LiveKeys = []string{"ports.", "intel.sources", "privacy.", "uplink.", "output.sinks", "enforcement."}

// notLive are keys under LiveKeys that still need a restart (sizes of
// what the data plane allocated at load, the feed set up at start, the
// lookup cache's bounds).
var notLive = []string{"enforcement.max_blocked_flows", "uplink.feed_key_file", "uplink.feed_dir",
	"uplink.cache_entries", "uplink.cache_ttl", "uplink.cache_ttl_unknown", "uplink.lookup_timeout"}

// SplitLive divides changed keys into those a reload applies and those
// that need a restart.
func SplitLive(changed []string) (live, restart []string) {
	for _, k := range changed {
		if slices.Contains(notLive, k) {
			restart = append(restart, k)
			continue
		}
		ok := false
		for _, p := range LiveKeys {
			if strings.HasPrefix(k, p) {
				ok = true
				break
			}
		}
		if ok {
			live = append(live, k)
		} else {
			restart = append(restart, k)
		}
	}
	return live, restart
}
