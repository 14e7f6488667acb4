package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
	"github.com/edgesensor/edgesensor/userspace/export/uplink"
)

// open builds a connection: the policy (its key), the audit log, the
// uplink client and its delivery loop.
func (c *cloudLink) open(cfg *config.Config) (*cloudConn, error) {
	pol, err := Policy(cfg, false)
	if err != nil {
		return nil, err
	}
	cp := *cfg // the daemon's config changes on reloads; a connection keeps its own
	cfg = &cp
	conn := &cloudConn{cfg: cfg, pol: pol, threshold: cfg.Score.Threshold}
	// Records spooled under other privacy settings or another key (this
	// run's or an earlier one's) never leave.
	if err := c.matchSpool(cfg, pol); err != nil {
		return nil, err
	}
	var audit io.Writer
	if p := cfg.Uplink.AuditLog; p != "" {
		// Opened now, not at the first batch: a log that cannot be written
		// stops the uplink from starting rather than batches going out
		// unrecorded.
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return nil, fmt.Errorf("uplink.audit_log: %w", err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, fmt.Errorf("uplink.audit_log: %w", err)
		}
		f.Close()
		lj := &lumberjack.Logger{Filename: p, MaxSize: 100, MaxBackups: 10}
		audit, conn.audit = lj, lj
	}
	sensorID := cfg.Uplink.SensorID
	if sensorID == "" {
		h, _ := os.Hostname()
		sensorID = pol.SensorID(h)
	}
	var onVerdict func(uplink.Verdict)
	if cfg.SharesRecords() {
		onVerdict = c.onVerdict // no records, no samples: nothing to poll verdicts of
	}
	client, err := uplink.New(uplink.Options{
		URL: cfg.Uplink.URL, CAFile: cfg.Uplink.CAFile, CertFile: cfg.Uplink.CertFile, KeyFile: cfg.Uplink.KeyFile,
		ServerName: cfg.Uplink.ServerName, SensorID: sensorID, KeyID: pol.KeyID(),
		SpoolDir: cfg.Uplink.SpoolDir, SpoolMaxBytes: int64(cfg.Uplink.SpoolMax), SpoolMaxAge: time.Duration(cfg.Uplink.SpoolMaxAge),
		BatchSize: cfg.Uplink.Batch, Audit: audit, Modes: pol.Modes(), Log: c.log,
		// Without records there are no samples whose verdicts to poll;
		// with uplink.lookups, files' verdicts come from those (once).
		OnVerdict: onVerdict, QuietLookups: cfg.Uplink.Lookups,
	})
	if err != nil {
		if conn.audit != nil {
			conn.audit.Close()
		}
		return nil, err
	}
	conn.client = client
	ctx, cancel := context.WithCancel(context.Background())
	conn.cancel = cancel
	conn.run.Add(1)
	go func() {
		defer conn.run.Done()
		if err := client.Run(ctx); err != nil {
			c.log.Error().Err(err).Msg("uplink stopped")
		}
	}()
	if fr := c.ci.feed; fr != nil && cfg.Uplink.Feed() {
		conn.run.Add(1)
		go func() {
			defer conn.run.Done()
			fr.poll(ctx, client)
		}()
	}
	c.log.Info().Str("url", cfg.Uplink.URL).Str("key_id", pol.KeyID()).Interface("modes", pol.Modes()).Msg("cloud uplink on")
	return conn, nil
}

// spoolPolicyFile names, in the spool directory, the privacy settings and
// key the records there were made under.
const spoolPolicyFile = "policy.id"

// matchSpool drops the spool's records when they were made under other
// privacy settings or another key than cfg's (counted and logged), then
// records cfg's. It runs with no client open on the spool.
func (c *cloudLink) matchSpool(cfg *config.Config, pol *privacy.Policy) error {
	if err := os.MkdirAll(cfg.Uplink.SpoolDir, 0o700); err != nil {
		return fmt.Errorf("uplink.spool_dir: %w", err)
	}
	p := cfg.Privacy
	p.KeyFile = "" // where the key lives is not what it is
	sum := sha256.Sum256(fmt.Appendf(nil, "%s %+v", pol.KeyID(), p))
	id := hex.EncodeToString(sum[:])
	path := filepath.Join(cfg.Uplink.SpoolDir, spoolPolicyFile)
	if prev, err := os.ReadFile(path); err == nil && string(prev) != id {
		c.purge(cfg, "they were anonymised under other privacy settings or another key")
	}
	if err := os.WriteFile(path, []byte(id), 0o600); err != nil {
		return fmt.Errorf("uplink.spool_dir: %w", err)
	}
	return nil
}

// shut stops a connection's delivery and closes its client; what it has
// not delivered stays in the spool. Its figures go to the base.
func (c *cloudLink) shut(conn *cloudConn) error {
	conn.cancel()
	conn.run.Wait()
	err := conn.client.Close()
	if conn.audit != nil {
		conn.audit.Close()
	}
	c.baseMu.Lock()
	if conn.counted.CompareAndSwap(false, true) {
		clientCounts(conn.client.Stats(), c.base, true)
		c.base["uplink_unknown_side"] += conn.pol.UnknownSide()
	}
	c.baseMu.Unlock()
	return err
}

// purge drops what the spool holds (records made under a policy or key
// no longer in force), counted and logged.
func (c *cloudLink) purge(cfg *config.Config, why string) {
	n, err := uplink.Purge(cfg.Uplink.SpoolDir)
	if err != nil {
		c.log.Error().Err(err).Msg("uplink: purging the spool")
		return
	}
	c.samplesBytes.Store(0)
	c.baseMu.Lock()
	c.base["uplink_spooled"] = 0
	c.baseMu.Unlock()
	if n > 0 {
		c.purged.Add(uint64(n))
		c.log.Warn().Int("records", n).Msg("uplink: spooled records dropped, undelivered: " + why)
	}
}

// Replacing the connection. How the spool is treated depends on why.
const (
	keepSpool  = iota // the uplink settings changed: deliver what waits
	rotatedKey        // a new key: deliver what waits for a while, then drop the rest (made under the old key)
	newPolicy         // [privacy] changed: drop what waits, at once
)

// reconfigure replaces the connection with one for cfg. Events wait in the
// queue meanwhile. If the new one cannot start, the previous settings
// come back, and the error says why.
func (c *cloudLink) reconfigure(cfg *config.Config, how int) error {
	// Check the new settings before anything running is touched.
	pol, err := Policy(cfg, false)
	if err != nil {
		return err
	}
	if err := uplink.CheckTLS(uplink.Options{CAFile: cfg.Uplink.CAFile, CertFile: cfg.Uplink.CertFile, KeyFile: cfg.Uplink.KeyFile}); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.cur.Load()
	if how == keepSpool && pol.KeyID() != old.pol.KeyID() {
		how = rotatedKey // the key file changed too
	}
	if how == rotatedKey && !old.counted.Load() && !c.drainConn(old, 5*time.Second) {
		c.log.Warn().Msg("key rotation: the cloud did not take every record made under the old key within 5s")
	}
	if err := c.shut(old); err != nil {
		c.log.Warn().Err(err).Msg("uplink: closing")
	}
	// open drops what the spool holds when the settings or the key differ
	// from those it was made under.
	conn, err := c.open(cfg)
	if err != nil {
		prev, perr := c.open(old.cfg)
		if perr != nil {
			// Nothing can be sent: lines are dropped and counted
			// (record) until a retry or a reload starts a connection.
			c.log.Error().Err(perr).Msg("uplink: the previous settings do not start either")
			prev = old
		}
		c.cur.Store(prev)
		return err
	}
	c.cur.Store(conn)
	return nil
}
