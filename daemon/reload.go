package daemon

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/siem"
	"github.com/edgesensor/edgesensor/userspace/verdict/intel"
)

// reload reads the config again and applies what can change live: ports,
// intel sources, privacy and uplink, SIEM sinks. A config that does not
// load or validate, or whose new parts cannot be built, is rejected as a
// whole and the running one stays.
func (rt *running) reload() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	log := rt.log
	if rt.opts.Reload == nil {
		log.Warn().Msg("reload: this sensor was started without a config file to read again")
		return
	}
	next, err := rt.opts.Reload()
	if err != nil {
		log.Error().Err(err).Msg("config not reloaded; the running one stays")
		return
	}
	changed := config.Diff(rt.cfg, next)
	if len(changed) == 0 {
		log.Info().Str("config_file", rt.opts.ConfigFile).Msg("reload: config unchanged")
		return
	}
	live, restart := config.SplitLive(changed)
	has := func(prefix string) bool {
		return slices.ContainsFunc(live, func(k string) bool { return strings.HasPrefix(k, prefix) })
	}
	// Build and check everything new before touching anything running.
	var ir *intel.Reloader
	if has("intel.") {
		if ir, err = loadIntel(next, rt.an.feed.layer()); err != nil {
			log.Error().Err(err).Msg("config not reloaded; the running one stays")
			return
		}
	}
	cloudChanged := has("privacy.") || has("uplink.")
	if cloudChanged && next.UplinkEnabled() {
		if _, err := Policy(next, false); err != nil {
			log.Error().Err(err).Msg("config not reloaded; the running one stays")
			return
		}
		if err := next.PreflightUplink(); err != nil {
			log.Error().Err(err).Msg("config not reloaded; the running one stays")
			return
		}
	}
	var sinks *siem.Fanout
	if has("output.sinks") {
		if sinks, err = openSinks(next, rt.opts.Stdout, log); err != nil {
			log.Error().Err(err).Msg("config not reloaded; the running one stays")
			return
		}
	}
	var failed []string
	notApplied := func(prefix string) {
		live = slices.DeleteFunc(live, func(k string) bool {
			if strings.HasPrefix(k, prefix) {
				failed = append(failed, k)
				return true
			}
			return false
		})
	}
	if has("ports.") {
		if err := rt.s.SetPorts(next.PortApps()); err != nil {
			log.Error().Err(err).Msg("reload: ports not changed")
			notApplied("ports.")
		} else {
			rt.an.files.SetPorts(next.PortApps())
			rt.cfg.Ports = next.Ports
		}
	}
	if has("output.sinks") {
		if old := rt.an.taps.sinks.Swap(sinks); old != nil {
			// The old sinks send what they hold, then go; what they could
			// not is said.
			rt.an.oldSinks.Add(1)
			go func() {
				defer rt.an.oldSinks.Done()
				if err := old.Close(5 * time.Second); err != nil {
					log.Warn().Err(err).Msg("reload: the replaced sinks did not send everything")
				}
				rt.an.taps.retire(old)
			}()
		}
		rt.cfg.Output.Sinks = next.Output.Sinks
	}
	if has("intel.") {
		rt.an.intel.Store(ir)
		rt.cfg.Intel.Sources = next.Intel.Sources
		if ir != nil {
			log.Info().Interface("entries", ir.Current().Counts()).Msg("intel loaded")
		}
	}
	if has("enforcement.") {
		// Enforcement is compiled into the program or not when it loads:
		// from "off" it takes a restart; to "off" it only stops acting.
		if e := rt.an.enf.Load(); e == nil {
			log.Warn().Msg("reload: enforcement was off at start; turning it on takes a restart")
			notApplied("enforcement.")
		} else if err := e.apply(next.Enforce); err != nil {
			log.Error().Err(err).Msg("reload: enforcement not changed")
			notApplied("enforcement.")
		} else {
			rt.cfg.Enforce = next.Enforce
			log.Info().Str("mode", next.Enforce.Mode).Int("threshold", next.Enforce.Threshold).Msg("enforcement changed")
		}
	}
	if cloudChanged {
		if err := rt.applyCloud(next, has("privacy.")); err != nil {
			log.Error().Err(err).Msg("reload: the new uplink did not start; the running privacy and uplink settings stay")
			notApplied("privacy.")
			notApplied("uplink.")
		}
	}
	if len(failed) > 0 {
		log.Warn().Strs("keys", failed).Msg("reload: these could not be applied; they keep their running values")
	}
	ev := log.Info().Strs("applied", live)
	if len(restart) > 0 {
		log.Warn().Strs("keys", restart).Msg("reload: these need a restart to apply; they keep their running values")
		ev = ev.Strs("need_restart", restart)
	}
	ev.Msg("config reloaded")
}

// watchIntel reloads the intelligence files when they change; a broken
// file keeps the previous set, and says so.
func (rt *running) watchIntel(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rt.checkKey()
		r := rt.an.intel.Load()
		if r == nil || !r.Changed() {
			continue
		}
		if err := r.Reload(); err != nil {
			rt.log.Warn().Err(err).Msg("intel not reloaded; the previous set stays")
			continue
		}
		rt.log.Info().Interface("entries", r.Current().Counts()).Msg("intel reloaded")
	}
}

// applyCloud moves the uplink to next's privacy and uplink settings:
// started, stopped (spool dropped: nothing may leave later either), or
// reconfigured in place (spool dropped when [privacy] changed: nothing
// leaves under settings no longer in force).
func (rt *running) applyCloud(next *config.Config, privacyChanged bool) error {
	c := rt.an.taps.cloud.Load()
	switch {
	case c == nil && next.UplinkEnabled():
		nc, err := startCloud(next, rt.an.out, rt.an.cloudIntel(), rt.log)
		if err != nil {
			return err
		}
		rt.an.taps.cloud.Store(nc)
	case c != nil && !next.UplinkEnabled():
		if err := c.close(true); err != nil {
			rt.log.Warn().Err(err).Msg("uplink: closing")
		}
		rt.an.retireCloud(c)
		rt.log.Info().Msg("cloud uplink off: nothing leaves the box")
	case c != nil:
		how := keepSpool
		if privacyChanged {
			how = newPolicy
		}
		if err := c.reconfigure(next, how); err != nil {
			return err
		}
	}
	rt.cfg.Privacy, rt.cfg.Uplink = next.Privacy, next.Uplink
	return nil
}

// checkKey rotates the anonymisation key when privacy.key_file holds a
// new one, and retries an uplink that should run but does not. A key file
// that does not load keeps the running key, and says so once.
func (rt *running) checkKey() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	c := rt.an.taps.cloud.Load()
	if c == nil {
		if rt.cfg.UplinkEnabled() {
			if err := rt.applyCloud(rt.cfg, false); err != nil {
				rt.logOnce("uplink: still not started", err)
			}
		}
		return
	}
	if c.broken() {
		if err := c.reconfigure(rt.cfg, keepSpool); err != nil {
			rt.logOnce("uplink: still not started", err)
		}
		return
	}
	if !rt.cfg.SharesRecords() {
		return // lookups and the feed only: no records, no key to rotate
	}
	k, err := anon.LoadKey(rt.cfg.Privacy.KeyFile)
	if err != nil {
		rt.logOnce("privacy.key_file: the running key stays", err)
		return
	}
	rt.keyErr = ""
	oldID := c.cur.Load().pol.KeyID()
	if k.ID() == oldID {
		return
	}
	if err := c.reconfigure(rt.cfg, rotatedKey); err != nil {
		rt.log.Error().Err(err).Msg("key rotation: the uplink did not restart on the new key")
		return
	}
	rt.log.Info().Str("old_key_id", oldID).Str("key_id", k.ID()).Msg("anonymisation key rotated")
}

// logOnce logs an error the first time it is seen in a row.
func (rt *running) logOnce(msg string, err error) {
	if s := msg + err.Error(); s != rt.keyErr {
		rt.keyErr = s
		rt.log.Error().Err(err).Msg(msg)
	}
}

// janitor enforces files.retain_for on the retention directories.
func (rt *running) janitor(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		if err := rt.an.files.SweepRetained(time.Now()); err != nil {
			rt.log.Warn().Err(err).Msg("retention janitor")
		}
		if c := rt.an.taps.cloud.Load(); c != nil {
			c.sweepSamples(time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
