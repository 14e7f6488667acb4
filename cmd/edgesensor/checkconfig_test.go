package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/rs/zerolog"

	"github.com/edgesensor/edgesensor/daemon"
	"github.com/edgesensor/edgesensor/internal/testutil/mmdbtest"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/anon"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
	"github.com/edgesensor/edgesensor/userspace/export/siem"
)

// checkConfig runs `edgesensor check-config args...`.
func checkConfig(args ...string) error {
	var out bytes.Buffer
	return run(context.Background(), append([]string{"check-config"}, args...), &out, &out)
}

// The two mistakes check-config (and so the unit's ExecStartPre) used to
// pass while run refused them: a UDP syslog sink with server_name, an
// app_name with a space. Both are refused, each naming its key, whether
// the file comes as an argument or with -c; and the sinks are what the
// siem package itself refuses.
func TestCheckConfigRefusesSinkMistakes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, sink, key string
	}{
		{"udp server_name", "network = \"udp\"\nserver_name = \"siem.example\"\n", "output.sinks[0].server_name"},
		{"app_name with a space", "network = \"tcp\"\napp_name = \"edge sensor\"\n", "output.sinks[0].app_name"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".toml")
		text := "[[output.sinks]]\nname = \"soc\"\ntype = \"syslog\"\naddress = \"192.0.2.10:514\"\n" + tc.sink
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{path}, {"-c", path}} {
			err := checkConfig(args...)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("%s: check-config %q: %v, want an error naming %s", tc.name, args, err, tc.key)
			}
		}
		cfg := config.Default()
		if _, err := toml.Decode(text, &cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := siem.New(cfg.Output.Sinks, zerolog.Nop()); err == nil {
			t.Errorf("%s: the siem package takes the sink", tc.name)
		}
	}
}

// check-config takes the file as an argument or with -c; two files, or a
// file and a -c that differ, are a usage error of the command.
func TestCheckConfigFileArgument(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[files]\nspool_dir = \""+filepath.Join(dir, "spool")+"\"\n"), 0o600)
	os.WriteFile(bad, []byte("[capture]\nsnaplen = 1\n"), 0o600)
	for _, args := range [][]string{{good}, {"-c", good}, {"-c", good, good}, {good, "-c", filepath.Join(dir, ".", "good.toml")}} {
		if err := checkConfig(args...); err != nil {
			t.Errorf("check-config %q: %v", args, err)
		}
	}
	if err := checkConfig(bad); err == nil || !strings.Contains(err.Error(), "capture.snaplen") {
		t.Errorf("check-config of a bad file given as an argument: %v", err)
	}
	for _, args := range [][]string{{good, bad}, {"-c", good, bad}, {"-c", bad, good}} {
		err := checkConfig(args...)
		var ue usageError
		if !errors.As(err, &ue) || !errors.Is(err, errUsage) || !strings.Contains(ue.synopsis, "check-config") ||
			!strings.Contains(ue.msg, "one config file") {
			t.Errorf("check-config %q: %v, want a usage error of check-config", args, err)
		}
	}
}

// startEnv is a directory holding a config that starts, and what it
// names: certificates, keys, an intelligence file.
type startEnv struct {
	dir, pki string
	v        map[string]string // the config's values, by placeholder
}

const startConfig = `
[files]
spool_dir = "{spool}"
[files.retain]
executable = "{retain}"
[score]
yara_rules = [{yara}]
[[intel.sources]]
path = "{intel}"
kind = "sha256"
[output]
events = "{events}"
[enrich]
geoip_city = "{geo_city}"
geoip_asn = "{geo_asn}"
[[output.sinks]]
name = "file"
type = "file"
path = "{sink_path}"
[[output.sinks]]
name = "soc"
type = "syslog"
network = "{sink_network}"
address = "{sink_address}"
ca_file = "{sink_ca}"
cert_file = "{sink_cert}"
key_file = "{sink_key}"
server_name = "{sink_server_name}"
app_name = "{sink_app_name}"
[privacy]
key_file = "{anon_key}"
[uplink]
url = "https://127.0.0.1:1"
ca_file = "{up_ca}"
cert_file = "{up_cert}"
key_file = "{up_key}"
spool_dir = "{up_spool}"
audit_log = "{up_audit}"
`

func newStartEnv(t *testing.T) *startEnv {
	t.Helper()
	dir := t.TempDir()
	e := &startEnv{dir: dir, pki: filepath.Join(dir, "pki")}
	if err := cloudapi.GenerateCerts(e.pki); err != nil {
		t.Fatal(err)
	}
	if err := anon.GenerateKeyFile(filepath.Join(dir, "anon.key")); err != nil {
		t.Fatal(err)
	}
	e.write(t, "intel.txt", strings.Repeat("ab", 32)+"\n")
	e.write(t, "afile", "a file where a directory must be\n")
	geoCity, geoASN := mmdbtest.Fixture(t, dir)
	ca, cert, key := filepath.Join(e.pki, cloudapi.CAFile), filepath.Join(e.pki, cloudapi.ClientCertFile), filepath.Join(e.pki, cloudapi.ClientKeyFile)
	e.v = map[string]string{
		"spool": filepath.Join(dir, "spool"), "retain": filepath.Join(dir, "keep", "exe"), "yara": "",
		"intel": filepath.Join(dir, "intel.txt"), "events": filepath.Join(dir, "events.ndjson"),
		"sink_path": filepath.Join(dir, "sinks", "soc.json"), "sink_network": "tls", "sink_address": "127.0.0.1:1",
		"sink_ca": ca, "sink_cert": cert, "sink_key": key, "sink_server_name": "siem.example", "sink_app_name": "edgesensor",
		"anon_key": filepath.Join(dir, "anon.key"), "up_ca": ca, "up_cert": cert, "up_key": key,
		"up_spool": filepath.Join(dir, "uplink"), "up_audit": filepath.Join(dir, "audit", "uplink-audit.log"),
		"geo_city": geoCity, "geo_asn": geoASN,
	}
	return e
}

func (e *startEnv) write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// config writes the config and returns its path and its text.
func (e *startEnv) config(t *testing.T) (string, string) {
	t.Helper()
	text := startConfig
	for k, v := range e.v {
		text = strings.ReplaceAll(text, "{"+k+"}", v)
	}
	return e.write(t, "sensor.toml", text), text
}

// start runs run's start-up before the data plane (daemon.TryStart) on
// the config as decoded, without config's checks, and undoes it: what
// it refuses, run refuses whatever check-config says.
func start(t *testing.T, text string) error {
	t.Helper()
	cfg := config.Default()
	if _, err := toml.Decode(text, &cfg); err != nil {
		t.Fatal(err)
	}
	return daemon.TryStart(&cfg, io.Discard, zerolog.Nop())
}

// Every refusal run's start-up can make for a reason of the config, step
// by step (daemon.TryStart: the events output; the analysis: intelligence,
// YARA rules, spool and retention directories; the SIEM sinks: their
// rules, files, CA, certificates and keys; the uplink: the anonymisation
// key, the certificates, the spool and the audit log), made one at a
// time on a config that starts. Each is a real refusal of the start-up
// itself (checked with config's own checks bypassed), check-config
// refuses the same file naming the key, and so does run, before it
// touches the data plane. The config that starts passes all three.
func TestCheckConfigRefusesWhatStartRefuses(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, e *startEnv)
		key  string
	}{
		{"events in a missing directory", func(t *testing.T, e *startEnv) { e.v["events"] = filepath.Join(e.dir, "none", "events") }, "output.events"},
		{"events is a directory", func(t *testing.T, e *startEnv) { e.v["events"] = e.dir }, "output.events"},
		{"intel file missing", func(t *testing.T, e *startEnv) { e.v["intel"] = filepath.Join(e.dir, "none.txt") }, "intel.sources"},
		{"intel file of the wrong kind", func(t *testing.T, e *startEnv) { e.v["intel"] = e.write(t, "ips.txt", "192.0.2.1\n") }, "intel.sources"},
		{"yara rules missing", func(t *testing.T, e *startEnv) { e.v["yara"] = `"` + filepath.Join(e.dir, "none.yar") + `"` }, "score.yara_rules"},
		{"spool under a file", func(t *testing.T, e *startEnv) { e.v["spool"] = filepath.Join(e.dir, "afile", "spool") }, "files.spool_dir"},
		{"retention under a file", func(t *testing.T, e *startEnv) { e.v["retain"] = filepath.Join(e.dir, "afile", "keep") }, "files.retain.executable"},
		{"file sink under a file", func(t *testing.T, e *startEnv) { e.v["sink_path"] = filepath.Join(e.dir, "afile", "s.json") }, "output.sinks[0].path"},
		{"udp sink with server_name", func(t *testing.T, e *startEnv) {
			e.v["sink_network"], e.v["sink_ca"], e.v["sink_cert"], e.v["sink_key"] = "udp", "", "", ""
		}, "output.sinks[1].server_name"},
		{"app_name with a space", func(t *testing.T, e *startEnv) { e.v["sink_app_name"] = "edge sensor" }, "output.sinks[1].app_name"},
		{"sink port by name", func(t *testing.T, e *startEnv) { e.v["sink_address"] = "siem.example:syslog" }, "output.sinks[1].address"},
		{"sink CA missing", func(t *testing.T, e *startEnv) { e.v["sink_ca"] = filepath.Join(e.dir, "none.pem") }, "output.sinks[1].ca_file"},
		{"sink CA not PEM", func(t *testing.T, e *startEnv) { e.v["sink_ca"] = e.v["intel"] }, "output.sinks[1].ca_file"},
		{"sink key not a key", func(t *testing.T, e *startEnv) { e.v["sink_key"] = e.v["intel"] }, "output.sinks[1].cert_file"},
		{"anonymisation key missing", func(t *testing.T, e *startEnv) { e.v["anon_key"] = filepath.Join(e.dir, "none.key") }, "privacy.key_file"},
		{"anonymisation key readable by others", func(t *testing.T, e *startEnv) {
			if err := os.Chmod(e.v["anon_key"], 0o644); err != nil {
				t.Fatal(err)
			}
		}, "privacy.key_file"},
		{"uplink CA missing", func(t *testing.T, e *startEnv) { e.v["up_ca"] = filepath.Join(e.dir, "none.pem") }, "uplink.ca_file"},
		{"uplink key not a key", func(t *testing.T, e *startEnv) { e.v["up_key"] = e.v["intel"] }, "uplink.cert_file"},
		{"uplink spool under a file", func(t *testing.T, e *startEnv) { e.v["up_spool"] = filepath.Join(e.dir, "afile", "uplink") }, "uplink.spool_dir"},
		{"audit log under a file", func(t *testing.T, e *startEnv) { e.v["up_audit"] = filepath.Join(e.dir, "afile", "audit.log") }, "uplink.audit_log"},
		{"geoip_city missing", func(t *testing.T, e *startEnv) { e.v["geo_city"] = filepath.Join(e.dir, "none.mmdb") }, "enrich.geoip_city"},
		{"geoip_asn not a database", func(t *testing.T, e *startEnv) { e.v["geo_asn"] = e.v["intel"] }, "enrich.geoip_asn"},
		{"geoip databases swapped", func(t *testing.T, e *startEnv) {
			e.v["geo_city"], e.v["geo_asn"] = e.v["geo_asn"], e.v["geo_city"]
		}, "enrich.geoip_city"},
	}
	t.Run("starts", func(t *testing.T) {
		e := newStartEnv(t)
		path, text := e.config(t)
		if err := start(t, text); err != nil {
			t.Fatalf("start-up: %v", err)
		}
		if err := checkConfig(path); err != nil {
			t.Errorf("check-config: %v", err)
		}
		// Past the config, run stops at the data plane: no interface.
		var out bytes.Buffer
		err := run(context.Background(), []string{"run", "-c", path}, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "no interface to attach to") {
			t.Errorf("run: %v, want it to get to the data plane", err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newStartEnv(t)
			tc.edit(t, e)
			path, text := e.config(t)
			// The start-up's own messages name the field; config's the
			// full key.
			field := tc.key[strings.LastIndexAny(tc.key, ".]")+1:]
			if err := start(t, text); err == nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("start-up: %v, want a refusal naming %s", err, field)
			}
			if err := checkConfig(path); err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("check-config: %v, want a refusal naming %s", err, tc.key)
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"run", "-c", path}, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("run: %v, want a refusal naming %s", err, tc.key)
			}
		})
	}
}

// check-config follows the files a valid config names.
func TestCheckConfigFollowsFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sensor.toml")
	os.WriteFile(path, []byte("[uplink]\nurl = \"https://127.0.0.1:1\"\nca_file = \"/nonexistent/ca.pem\"\ncert_file = \"/nonexistent/c.pem\"\n"+
		"key_file = \"/nonexistent/c.key\"\n[privacy]\nkey_file = \""+filepath.Join(dir, "anon.key")+"\"\n"+
		"[[output.sinks]]\nname = \"s\"\ntype = \"syslog\"\nnetwork = \"tls\"\naddress = \"127.0.0.1:6514\"\nca_file = \"/nonexistent/siem.pem\"\n"), 0o600)
	var out bytes.Buffer
	err := run(context.Background(), []string{"check-config", "-c", path}, &out, &out)
	for _, want := range []string{"uplink.ca_file", "uplink.cert_file", "uplink.key_file", "privacy.key_file", "output.sinks[0].ca_file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check-config error %v lacks %s", err, want)
		}
	}
	// A key readable by others is refused, with the fix.
	key := filepath.Join(dir, "anon.key")
	os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o644)
	err = run(context.Background(), []string{"check-config", "-c", path}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key: %v", err)
	}
}
