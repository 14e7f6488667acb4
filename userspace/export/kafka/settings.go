package kafka

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Defaults for settings left zero.
const (
	DefaultTopic         = "{dataset}"
	DefaultKey           = "community_id"
	DefaultCompression   = "lz4"
	DefaultLinger        = 20 * time.Millisecond
	DefaultBatchMaxBytes = 1 << 20
	DefaultSpoolDir      = "/var/lib/edgesensor/kafka"
	DefaultSpoolMaxBytes = 1 << 30
)

// Settings are a kafka sink's own keys in its [[output.sinks]] table.
// The producer is always idempotent with acks=all: one flow's events stay
// in order, once each, whatever the brokers do. TLS uses the sink's
// ca_file, cert_file, key_file and server_name.
type Settings struct {
	Brokers []string `toml:"brokers"` // host:port of one or more brokers to start from
	// Topic is a template: {dataset} is the event's dataset
	// (edgesensor.tls), {type} its last part (tls).
	Topic string `toml:"topic"`
	// Key is the record key: "community_id" (default: one flow's events
	// on one partition, in order) or "none" (spread evenly).
	Key           string           `toml:"key"`
	Compression   string           `toml:"compression"`     // "zstd", "lz4" (default), "snappy", "gzip" or "none"
	Linger        setting.Duration `toml:"linger"`          // how long a partition's batch waits for more records; default 20ms
	BatchMaxBytes setting.ByteSize `toml:"batch_max_bytes"` // largest batch; default 1MiB (the brokers' message.max.bytes must allow it)
	TLS           bool             `toml:"tls"`             // TLS to the brokers
	// SASL is "" (none), "plain", "scram-sha-256" or "scram-sha-512", with
	// SASLUser and the password in SASLPasswordFile (its first line).
	SASL             string `toml:"sasl"`
	SASLUser         string `toml:"sasl_user"`
	SASLPasswordFile string `toml:"sasl_password_file"`
	// SpoolDir holds the records the brokers have not acknowledged while
	// they are slow or away, and across restarts; SpoolMaxBytes bounds it
	// (the oldest records go first, counted).
	SpoolDir      string           `toml:"spool_dir"`
	SpoolMaxBytes setting.ByteSize `toml:"spool_max_bytes"`
}

// Datasets whose topics the template must name validly.
var datasets = []string{"edgesensor.tls", "edgesensor.file", "edgesensor.verdict", "edgesensor.action"}

// Validate checks the settings found at key (the sink's table).
func (s *Settings) Validate(key string, p *setting.Problems) {
	if len(s.Brokers) == 0 {
		p.Add(key+".brokers", "missing; list one or more brokers as \"host:port\", e.g. [\"kafka1.example:9092\"]")
	}
	for _, b := range s.Brokers {
		if err := checkBroker(b); err != nil {
			p.Add(key+".brokers", "%v, e.g. \"kafka1.example:9092\"", err)
		}
	}
	if s.Topic != "" {
		for _, d := range datasets {
			if err := checkTopic(TopicFor(s.Topic, d)); err != nil {
				p.Add(key+".topic", "%q gives %v for %s; use letters, digits, '.', '_', '-' and {dataset} or {type}", s.Topic, err, d)
				break
			}
		}
	}
	switch s.Key {
	case "", "community_id", "none":
	default:
		p.Add(key+".key", "%q is not a record key; use \"community_id\" or \"none\"", s.Key)
	}
	switch s.Compression {
	case "", "zstd", "lz4", "snappy", "gzip", "none":
	default:
		p.Add(key+".compression", "%q is not a codec; use \"zstd\", \"lz4\", \"snappy\", \"gzip\" or \"none\"", s.Compression)
	}
	if s.Linger < 0 || time.Duration(s.Linger) > 10*time.Second {
		p.Add(key+".linger", "%v is out of range; use 0 to 10s (0: the default, %v)", time.Duration(s.Linger), DefaultLinger)
	}
	// An event longer than a batch is refused: an e-mail's event with
	// every recipient runs to tens of KiB.
	if s.BatchMaxBytes != 0 && (s.BatchMaxBytes < 256<<10 || s.BatchMaxBytes > 64<<20) {
		p.Add(key+".batch_max_bytes", "%s is out of range; use 256KiB to 64MiB, or 0 for 1MiB", s.BatchMaxBytes)
	}
	switch s.SASL {
	case "":
		if s.SASLUser != "" || s.SASLPasswordFile != "" {
			p.Add(key+".sasl", "empty while sasl_user or sasl_password_file is set; set sasl to \"plain\", \"scram-sha-256\" or \"scram-sha-512\"")
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if s.SASLUser == "" {
			p.Add(key+".sasl_user", "missing; SASL %s needs a user", s.SASL)
		}
		if s.SASLPasswordFile == "" || !filepath.IsAbs(s.SASLPasswordFile) {
			p.Add(key+".sasl_password_file", "%q must be an absolute path to a file holding the password", s.SASLPasswordFile)
		}
		if s.SASL == "plain" && !s.TLS {
			p.Add(key+".tls", "false while sasl is \"plain\", which sends the password in clear; set tls = true, or use scram-sha-512")
		}
	default:
		p.Add(key+".sasl", "%q is not a mechanism; use \"plain\", \"scram-sha-256\" or \"scram-sha-512\"", s.SASL)
	}
	if s.SpoolDir != "" && !filepath.IsAbs(s.SpoolDir) {
		p.Add(key+".spool_dir", "%q must be an absolute directory path", s.SpoolDir)
	}
	if s.SpoolMaxBytes != 0 && s.SpoolMaxBytes < 1<<20 {
		p.Add(key+".spool_max_bytes", "%s is too small; use at least 1MiB, or 0 for 1GiB", s.SpoolMaxBytes)
	}
}

// Preflight checks what New will open: the spool directory and the SASL
// password file.
func (s *Settings) Preflight(key string, p *setting.Problems) {
	d := s.withDefaults()
	p.Fail(key+".spool_dir", setting.CanCreateDir(d.SpoolDir))
	if s.SASLPasswordFile != "" {
		if _, err := readPassword(s.SASLPasswordFile); err != nil {
			p.Add(key+".sasl_password_file", "%v", err)
		}
	}
}

func (s Settings) withDefaults() Settings {
	if s.Topic == "" {
		s.Topic = DefaultTopic
	}
	if s.Key == "" {
		s.Key = DefaultKey
	}
	if s.Compression == "" {
		s.Compression = DefaultCompression
	}
	if s.Linger == 0 {
		s.Linger = setting.Duration(DefaultLinger)
	}
	if s.BatchMaxBytes == 0 {
		s.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if s.SpoolDir == "" {
		s.SpoolDir = DefaultSpoolDir
	}
	if s.SpoolMaxBytes == 0 {
		s.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	return s
}

// TopicFor renders the topic template for a dataset.
func TopicFor(tmpl, dataset string) string {
	typ := dataset[strings.LastIndexByte(dataset, '.')+1:]
	return strings.NewReplacer("{dataset}", dataset, "{type}", typ).Replace(tmpl)
}

// checkTopic applies Kafka's rule for topic names.
func checkTopic(t string) error {
	if t == "" || t == "." || t == ".." {
		return fmt.Errorf("the topic %q", t)
	}
	if len(t) > 249 {
		return fmt.Errorf("a topic of %d characters (at most 249)", len(t))
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("the topic %q (the character %q)", t, c)
		}
	}
	return nil
}

func checkBroker(b string) error {
	host, port, err := net.SplitHostPort(b)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", b)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1..65535", b, port)
	}
	return nil
}

// readPassword reads the first line of a password file.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimRight(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("%s: the first line is empty; put the password there", path)
	}
	return pw, nil
}

// ValidName reports whether a sink's name can name its spool file.
func ValidName(n string) bool {
	if n == "" || n[0] == '.' || len(n) > 200 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
