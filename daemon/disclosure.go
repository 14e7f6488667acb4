package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
)

// WriteDisclosure writes every field that can leave the box for the cloud
// under cfg, per category, and how it is transformed, as text or JSON. It
// asks the policy that builds the upload, so it cannot drift from it.
func WriteDisclosure(stdout io.Writer, cfg *config.Config, configUsed string, asJSON bool) error {
	pol, err := Policy(cfg, true)
	if err != nil {
		return err
	}
	fields := pol.Disclosure()
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"config": configUsed, "uplink": cfg.Uplink.URL, "modes": pol.Modes(),
			"batch": batchFields(cfg, pol), "fields": fields, "asks": askFields(cfg),
		})
	}
	fmt.Fprintf(stdout, "What leaves this sensor for the cloud under %s\n\n", configUsed)
	switch {
	case !cfg.SharesRecords() && cfg.Uplink.Asks():
		why := "privacy.share is none"
		if !cfg.Uplink.Contribute {
			why = "uplink.contribute is false"
		} else if cfg.Privacy.Share != privacy.ShareNone {
			why = "every [privacy] category is none"
		}
		fmt.Fprintf(stdout, "Cloud: %s\n\nNo records and no file content: %s. Only this leaves:\n", cfg.Uplink.URL, why)
		for _, f := range askFields(cfg) {
			fmt.Fprintf(stdout, "  %-28s %s\n", f.Field, f.Transform)
		}
		fmt.Fprintln(stdout, "\nNothing else is sent.")
		return nil
	case cfg.Privacy.Share == privacy.ShareNone:
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
		if pol, err = Policy(&hyp, true); err != nil {
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
	last := ""
	for _, b := range batchFields(cfg, pol) {
		if b.Category != last {
			head := map[string]string{"(every batch)": "With every batch", "(every record)": "In every record", "(other requests)": "Other requests"}[b.Category]
			fmt.Fprintf(stdout, "\n%s:\n", head)
			last = b.Category
		}
		fmt.Fprintf(stdout, "  %-24s %s\n", b.Field, b.Transform)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	last = ""
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
	if asks := askFields(cfg); len(asks) > 2 {
		fmt.Fprintf(tw, "\nLookups and the feed\t\n")
		for _, f := range asks[:len(asks)-2] {
			fmt.Fprintf(tw, "+ %s\t%s\n", f.Field, f.Transform)
		}
	}
	fmt.Fprintln(tw, "\nFields not listed are never sent. + marks what is sent.")
	return tw.Flush()
}

// askFields are what the sensor asks the cloud besides sending records:
// hash lookups (uplink.lookups) and the feed (uplink.feed_key_file),
// then how the sensor is known and the headers. None without either.
func askFields(cfg *config.Config) []privacy.Disclosed {
	if !cfg.Uplink.Asks() {
		return nil
	}
	var out []privacy.Disclosed
	if cfg.Uplink.Lookups {
		out = append(out, privacy.Disclosed{Field: "POST /v1/lookup sha256",
			Transform: "the SHA-256 of each whole file seen, one request per file (not those the local intel or the feed lists; answers are cached): the hash and nothing else of the file, its flow or its client"})
	}
	if cfg.Uplink.Feed() {
		out = append(out, privacy.Disclosed{Field: "GET /v1/feed have, wait",
			Transform: "the version of the feed the sensor has, and how long the cloud may wait for news; nothing else"})
	}
	out = append(out,
		privacy.Disclosed{Field: "sensor_id", Transform: "the client certificate of uplink.cert_file, in the TLS handshake: who asks"},
		privacy.Disclosed{Field: "HTTP headers", Transform: "User-Agent: edgesensor, Content-Type, Content-Length, Accept-Encoding"})
	for i := range out {
		out[i].Category, out[i].Sent = "(lookups and feed)", true
	}
	return out
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

// batchFields are what the uplink sends besides the records' fields:
// the batch's keys, each record's envelope, and the other requests.
func batchFields(cfg *config.Config, pol *privacy.Policy) []privacy.Disclosed {
	id := "keyed hash of this host's name (uplink.sensor_id is empty; it changes when the key does)"
	if cfg.Uplink.SensorID != "" {
		id = fmt.Sprintf("%q (uplink.sensor_id)", cfg.Uplink.SensorID)
	}
	lookup := "the SHA-256 of each whole file whose record is sent, and nothing else; the answer is the cloud's verdict"
	full := false
	for _, cat := range []string{privacy.Executables, privacy.Documents} {
		full = full || pol.Mode(cat) == privacy.ShareFull
	}
	sample := "never: no file category is full"
	if full {
		sample = "the file's content (gzip), only for categories in mode full, only when the lookup says the cloud does not know the SHA-256 and the file is within privacy.max_upload; the path names the SHA-256"
	}
	batch := []privacy.Disclosed{
		{Field: "sensor_id", Transform: id},
		{Field: "key_id", Transform: "first 8 hex digits of SHA-256 of the anonymisation key: tells rotations apart, reveals nothing of the key"},
		{Field: "batch_id", Transform: "derived from the record ids (idempotency); also sent as the Idempotency-Key header"},
		{Field: "records", Transform: "the records, each with the keys below"},
	}
	for i := range batch {
		batch[i].Category = "(every batch)"
	}
	record := []privacy.Disclosed{
		{Field: "id", Transform: "keyed HMAC of the local event (idempotency; reveals nothing of what the record leaves out)"},
		{Field: "category", Transform: "executables, documents or tls: the record's share category"},
		{Field: "dataset", Transform: "edgesensor.file or edgesensor.tls"},
		{Field: "sha256", Transform: "a whole file's SHA-256 (file.hash.sha256 of the record), for the hash-first lookup; absent otherwise"},
		{Field: "record", Transform: "the record's fields, listed below per category"},
	}
	for i := range record {
		record[i].Category = "(every record)"
	}
	other := []privacy.Disclosed{
		{Field: "POST /v1/lookup", Transform: lookup},
		{Field: "PUT /v1/samples/SHA256", Transform: sample},
		{Field: "GET /v1/verdicts?after=N", Transform: "the number of the last verdict received; nothing else"},
		{Field: "HTTP headers", Transform: "User-Agent: edgesensor, Content-Type, Content-Length, Content-Encoding, Accept-Encoding, Idempotency-Key (the batch id); the client certificate of uplink.cert_file identifies the sensor"},
	}
	for i := range other {
		other[i].Category = "(other requests)"
	}
	out := append(append(batch, record...), other...)
	for i := range out {
		out[i].Sent = pol.Shares() // nothing at all without an uplink
	}
	if !full {
		out[len(out)-3].Sent = false
	}
	return out
}
