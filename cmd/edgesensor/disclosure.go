package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/edgesensor/edgesensor/userspace/anon"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/privacy"
)

// cmdDisclosure prints every field that can leave the box under the
// config, per category, and how it is transformed: MISSION item 11. It
// asks the policy that builds the upload, so it cannot drift from it.
func cmdDisclosure(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("disclosure", "disclosure [-c sensor.toml] [--json]", stderr, &c)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	pol, err := policyFor(cfg, true)
	if err != nil {
		return err
	}
	fields := pol.Disclosure()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"config": c.configUsed, "uplink": cfg.Uplink.URL, "modes": pol.Modes(),
			"batch": batchFields(cfg, pol), "fields": fields,
		})
	}
	fmt.Fprintf(stdout, "What leaves this sensor for the cloud under %s\n\n", c.configUsed)
	switch {
	case cfg.Privacy.Share == config.ShareNone:
		fmt.Fprintln(stdout, "Nothing: privacy.share is none, so the sensor makes no connection to the cloud at all.\n"+
			"Local outputs ([output]) get whole events; they do not leave through the sensor.")
		return nil
	case !pol.Shares() && cfg.Uplink.URL == "":
		fmt.Fprintln(stdout, "Nothing: uplink.url is empty, so the sensor makes no connection to the cloud at all.\n"+
			"Local outputs ([output]) get whole events; they do not leave through the sensor.\n\n"+
			"Once uplink.url is set, the [privacy] settings of this config send this:")
		fmt.Fprintln(stdout)
		hyp := *cfg
		hyp.Uplink.URL = "https://cloud.invalid"
		if pol, err = policyFor(&hyp, true); err != nil {
			return err
		}
		fields = pol.Disclosure()
	default:
		fmt.Fprintf(stdout, "Cloud: %s\n\n", cfg.Uplink.URL)
	}
	fmt.Fprintln(stdout, "Share modes (privacy.share caps each category):")
	for _, cat := range privacy.Categories {
		fmt.Fprintf(stdout, "  %-12s %s\n", cat, modeOf(cfg, cat))
	}
	fmt.Fprintln(stdout, "\nWith every batch:")
	for _, b := range batchFields(cfg, pol) {
		fmt.Fprintf(stdout, "  %-12s %s\n", b.Field, b.Transform)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	last := ""
	for _, f := range fields {
		if f.Category != last {
			fmt.Fprintf(tw, "\n%s records (mode %s)\t\t\n", f.Category, modeOf(cfg, f.Category))
			last = f.Category
		}
		mark := "  "
		if f.Sent {
			mark = "+ "
		}
		note := ""
		if f.Note != "" {
			note = "  [" + f.Note + "]"
		}
		fmt.Fprintf(tw, "%s%s\t%s%s\n", mark, f.Field, f.Transform, note)
	}
	fmt.Fprintln(tw, "\nFields not listed are never sent. + marks what is sent.")
	return tw.Flush()
}

// modeOf is a category's mode as configured, capped by the global share
// (what applies once an uplink is set).
func modeOf(cfg *config.Config, cat string) string {
	c := *cfg
	if c.Uplink.URL == "" {
		c.Uplink.URL = "https://cloud.invalid"
	}
	return c.Mode(cat)
}

// batchFields are the fields the uplink adds to every batch.
func batchFields(cfg *config.Config, pol *privacy.Policy) []privacy.Disclosed {
	id := "keyed hash of this host's name (uplink.sensor_id is empty; it changes when the key does)"
	if cfg.Uplink.SensorID != "" {
		id = fmt.Sprintf("%q (uplink.sensor_id)", cfg.Uplink.SensorID)
	}
	out := []privacy.Disclosed{
		{Field: "sensor_id", Sent: true, Transform: id},
		{Field: "key_id", Sent: true, Transform: "first 8 hex digits of SHA-256 of the anonymisation key: tells rotations apart, reveals nothing of the key"},
		{Field: "batch_id", Sent: true, Transform: "derived from the record ids (idempotency)"},
		{Field: "record id", Sent: true, Transform: "keyed HMAC of the local event (idempotency; reveals nothing of what the record leaves out)"},
	}
	for i := range out {
		out[i].Category = "(every batch)"
		out[i].Sent = pol.Shares() // nothing at all without an uplink
	}
	return out
}

// policyFor loads the key (when anything is shared) and builds the
// policy. forDisclosure builds one even without a key file, since the
// disclosure describes transforms without applying them.
func policyFor(cfg *config.Config, forDisclosure bool) (*privacy.Policy, error) {
	var key *anon.Key
	if cfg.UplinkEnabled() {
		k, err := anon.LoadKey(cfg.Privacy.KeyFile)
		switch {
		case err == nil:
			key = k
		case !forDisclosure:
			return nil, fmt.Errorf("privacy.key_file: %w", err)
		}
	}
	if key == nil && forDisclosure {
		// Describing needs no secret: a throwaway key builds the table.
		k, err := anon.NewKey(make([]byte, 32))
		if err != nil {
			return nil, err
		}
		key = k
	}
	return privacy.New(cfg, key)
}

// cmdGenkey writes a new anonymisation key file (mode 0600).
func cmdGenkey(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("genkey", "genkey PATH", stderr, &c)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: genkey takes one path, e.g. /etc/edgesensor/anon.key", errUsage)
	}
	if err := anon.GenerateKeyFile(rest[0]); err != nil {
		return err
	}
	k, err := anon.LoadKey(rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (key id %s); point privacy.key_file at it\n", rest[0], k.ID())
	return nil
}
