package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/export/privacy"
)

// The sensor.toml at the repository root documents the defaults: it must
// parse to exactly Default().
func TestShippedConfigIsTheDefault(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "sensor.toml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(string(data))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("sensor.toml differs from Default():\n got %+v\nwant %+v", got, want)
	}
}

// normalize treats nil and empty slices alike.
func normalize(c Config) Config {
	if len(c.Sensor.Interfaces) == 0 {
		c.Sensor.Interfaces = nil
	}
	return c
}

func TestErrorsNameTheKeyAndTheFix(t *testing.T) {
	cases := []struct {
		toml string
		want []string
	}{
		{"[capture]\nsnaplen = 100000\n", []string{"capture.snaplen", "128 to 9216"}},
		{"[capture]\nsnaplne = 100\n", []string{`unknown key "capture.snaplne"`, `did you mean "capture.snaplen"`}},
		{"[sensor]\nxdp_mode = \"turbo\"\n", []string{"sensor.xdp_mode", `"native", "generic" or "auto"`}},
		{"[sensor]\nxdp_share = \"both\"\n", []string{"sensor.xdp_share", `"chain"`, `"libxdp"`}},
		{"[sensor]\nxdp_priority = 0\n", []string{"sensor.xdp_priority", "1 to 10000"}},
		{"[capture]\nstream_ring = \"3MiB\"\n", []string{"capture.stream_ring", "power of two"}},
		{"[capture]\nstream_ring = \"lots\"\n", []string{"stream_ring", "number with an optional unit"}},
		{"[capture]\nhandshake_idle = 30\n", []string{"handshake_idle", `"30s"`}},
		{"[ports]\nhttp = [80, 25]\n", []string{"ports.smtp", "port 25 is also in ports.http"}},
		{"[ports]\nimap = [70000]\n", []string{"ports.imap", "70000 is not a TCP port"}},
		{"[capture]\nsnaplen = \"big\"\n", []string{"capture.snaplen"}},
		{"[sensor\n", []string{"toml: line"}},
		{"[sensor]\ninterfaces = [\"eth0\", \"eth0\"]\n", []string{"sensor.interfaces", "listed twice"}},
		{"[reassembly]\npolicy = \"bsd\"\n", []string{"reassembly.policy", `"linux", "first" or "last"`}},
		{"[reassembly]\nack_grace = \"1m\"\n", []string{"reassembly.ack_grace", "0s to 10s"}},
		{"[reassembly]\nfragment_timeout = \"0s\"\n", []string{"reassembly.fragment_timeout", "1s to 5m"}},
		{"[reassembly]\nchecksums = \"maybe\"\n", []string{"reassembly.checksums", `"auto", "verify"`}},
	}
	for _, tc := range cases {
		_, err := Parse(tc.toml)
		if err == nil {
			t.Errorf("%q: no error", tc.toml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.toml, err, w)
			}
		}
	}
}

func TestUnitsAndOverrides(t *testing.T) {
	c, err := Parse(`
[sensor]
interfaces = ["eth0", "eth1"]
[capture]
stream_budget = "2 MiB"
handshake_ring = 1048576
handshake_idle = "1m30s"
[ports]
http = [8000]
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Capture.StreamBudget != 2<<20 || c.Capture.HandshakeRing != 1<<20 {
		t.Errorf("sizes: %v %v", c.Capture.StreamBudget, c.Capture.HandshakeRing)
	}
	if time.Duration(c.Capture.HandshakeIdle) != 90*time.Second {
		t.Errorf("duration: %v", time.Duration(c.Capture.HandshakeIdle))
	}
	apps := c.PortApps()
	if apps[8000] != datapath.AppHTTP || apps[80] != datapath.AppNone || apps[25] != datapath.AppSMTP {
		t.Errorf("port table: %v", apps)
	}
	if c.Capture.Snaplen != datapath.DefaultSnaplen {
		t.Errorf("a missing key did not keep its default")
	}
}

func TestLoadMissingFileAndOverrides(t *testing.T) {
	if _, used, err := Load("/nonexistent/sensor.toml", false, nil); err != nil || used != "" {
		t.Errorf("implicit missing config should give defaults: %q %v", used, err)
	}
	if _, _, err := Load("/nonexistent/sensor.toml", true, nil); err == nil {
		t.Error("explicit missing config should fail")
	}
	// A flag can fix a bad value in the file: overrides come before validation.
	path := filepath.Join(t.TempDir(), "s.toml")
	os.WriteFile(path, []byte("[sensor]\nxdp_mode = \"turbo\"\n"), 0o600)
	if _, _, err := Load(path, true, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad file: %v", err)
	}
	c, used, err := Load(path, true, func(c *Config) { c.Sensor.XDPMode = ModeGeneric })
	if err != nil || used != path || c.Sensor.XDPMode != ModeGeneric {
		t.Errorf("override: %v %q %v", err, used, c.Sensor.XDPMode)
	}
	for _, bad := range []string{"/sys/fs/bpf", "/", "relative/dir", "/sys/fs/bpf/"} {
		c := Default()
		c.Sensor.PinPath = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sensor.pin_path") {
			t.Errorf("pin_path %q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "sensor.toml")); err == nil {
		f.Add(string(b))
	}
	f.Add("[capture]\nsnaplen = 4096\nstream_budget = \"1MiB\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// What is accepted must be usable as it stands.
		if c.WorkerCount() < 1 || c.Capture.Snaplen > datapath.MaxSnaplen || len(c.PortApps()) > 3*65536 {
			t.Fatalf("accepted an unusable config: %+v", c)
		}
	})
}

func TestIntelSourcesAndScore(t *testing.T) {
	c, err := Parse("[score]\nthreshold = 6\n[[intel.sources]]\npath = \"/x/hashes.txt\"\nkind = \"sha256\"\n" +
		"[[intel.sources]]\npath = \"/x/feed.json\"\n")
	if err != nil {
		t.Fatal(err)
	}
	// STIX files, by format or extension, carry their kinds.
	if _, err := Parse("[[intel.sources]]\npath = \"/x/feed.stix\"\n[[intel.sources]]\npath = \"/x/feed\"\nformat = \"stix\"\n"); err != nil {
		t.Errorf("STIX sources without a kind: %v", err)
	}
	if c.Score.Threshold != 6 || len(c.Intel.Sources) != 2 || c.Intel.Sources[0].Kind != "sha256" {
		t.Fatalf("%+v %+v", c.Score, c.Intel)
	}
	for text, want := range map[string]string{
		"[score]\nthreshold = 11":                                           "score.threshold",
		"[[intel.sources]]\nkind = \"sha256\"":                              "intel.sources[0].path",
		"[[intel.sources]]\npath = \"/x\"\nkind = \"sha512\"":               "intel.sources[0].kind",
		"[[intel.sources]]\npath = \"/x.txt\"":                              "intel.sources[0].kind: missing",
		"[[intel.sources]]\npath = \"/x\"\nkind = \"ip\"\nformat = \"csv\"": "intel.sources[0].column",
		"[[intel.sources]]\npath = \"/x\"\nkind = \"IP\"":                   "intel.sources[0].kind",
		"[[intel.sources]]\npath = \"/x.csv\"":                              "intel.sources[0].kind: missing",
	} {
		if _, err := Parse(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", text, err, want)
		}
	}
}

func TestDiffAndLiveKeys(t *testing.T) {
	a := Default()
	b, err := Parse("[ports]\nhttp = [80, 8081]\n[capture]\nsnaplen = 1500\n[privacy]\nclient_ip = \"truncate\"\n" +
		"[[output.sinks]]\nname = \"s\"\ntype = \"file\"\npath = \"/var/log/s.cef\"\nformat = \"cef\"\n")
	if err != nil {
		t.Fatal(err)
	}
	got := Diff(&a, &b)
	want := []string{"capture.snaplen", "output.sinks", "ports.http", "privacy.client_ip"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff = %v, want %v", got, want)
	}
	live, restart := SplitLive(got)
	if !reflect.DeepEqual(restart, []string{"capture.snaplen"}) || len(live) != 3 {
		t.Errorf("live %v restart %v", live, restart)
	}
	if d := Diff(&a, &a); len(d) != 0 {
		t.Errorf("Diff of the same config: %v", d)
	}
	// Enforcement switches live, but the blocked-flow table was sized at load.
	live, restart = SplitLive([]string{"enforcement.max_blocked_flows", "enforcement.mode", "enforcement.threshold"})
	if !reflect.DeepEqual(live, []string{"enforcement.mode", "enforcement.threshold"}) ||
		!reflect.DeepEqual(restart, []string{"enforcement.max_blocked_flows"}) {
		t.Errorf("enforcement: live %v restart %v", live, restart)
	}
}

func TestPrivacyAndOutputErrors(t *testing.T) {
	cases := []struct {
		toml string
		want []string
	}{
		{"[privacy]\nexecutables = \"all\"\n", []string{"privacy.executables", `"none", "hash" or "full"`}},
		{"[privacy]\ntls = \"full\"\n", []string{"privacy.tls", "for file content"}},
		{"[privacy]\nclient_ip = \"mask\"\n", []string{"privacy.client_ip", "cryptopan"}},
		{"[privacy]\ntruncate_v4 = 40\n", []string{"privacy.truncate_v4", "0 to 32"}},
		{"[privacy]\nquery_params = [\"token*\"]\n", []string{"privacy.query_params", "no longer used", "privacy.query_keep"}},
		{"[privacy]\nquery_keep = [\"lang\", \"\", \"a b\", \"*\"]\n", []string{"privacy.query_keep[1]", "privacy.query_keep[2]", "privacy.query_keep[3]", "utm_*"}},
		{"[privacy]\nquery_values = \"keep\"\n", []string{"privacy.query_values", `"drop" or "hash"`}},
		{"[uplink]\nurl = \"http://cloud\"\n", []string{"uplink.url", "https://"}},
		{"[uplink]\nurl = \"https://cloud:8443\"\n", []string{"uplink.ca_file", "uplink.cert_file", "uplink.key_file"}},
		{"[[output.sinks]]\nname = \"a\"\ntype = \"syslog\"\nnetwork = \"tpc\"\naddress = \"x\"\n", []string{"output.sinks[0].network", `"udp", "tcp" or "tls"`, "output.sinks[0].address", "host:port"}},
		{"[[output.sinks]]\nname = \"a\"\ntype = \"file\"\npath = \"/x\"\nformat = \"rfc5424\"\n", []string{"output.sinks[0].format"}},
		{"[[output.sinks]]\nname = \"a\"\ntype = \"file\"\npath = \"/a\"\n[[output.sinks]]\nname = \"a\"\ntype = \"file\"\npath = \"/b\"\ndatasets = [\"dns\"]\n", []string{"output.sinks[1].name", "used twice", "output.sinks[1].datasets"}},
		{"[[output.sinks]]\nnmae = \"a\"\n", []string{`unknown key "output.sinks.nmae"`, `did you mean "output.sinks.name"`}},
		{"[metrics]\nlisten = \"9750\"\n", []string{"metrics.listen", "host:port"}},
		{"[[output.sinks]]\nname = \"a\"\ntype = \"stdout\"\nformat = \"cef\"\n", []string{"output.sinks[0].type", "interleave"}},
		{"[files]\nretain_min_score = 11\n", []string{"files.retain_min_score"}},
		{"[output]\ncommunity_id_seed = 65536\n", []string{"output.community_id_seed", "65536 is out of range", "0 to 65535"}},
		{"[output]\ncommunity_id_seed = -1\n", []string{"output.community_id_seed", "0 to 65535"}},
		{"[enforcement]\nhello_hold = \"1ms\"\n", []string{"enforcement.hello_hold", "1ms is out of range", "10ms to 5s"}},
		{"[files.retain_for]\nexecutable = \"5s\"\n", []string{"files.retain_for.executable", "at least 1m"}},
		// The siem package's own rules, once checked only when run built the sinks.
		{"[[output.sinks]]\nname = \"a\"\ntype = \"syslog\"\nnetwork = \"udp\"\naddress = \"192.0.2.1:514\"\nserver_name = \"s\"\n", []string{"output.sinks[0].server_name", `network = "tls"`}},
		{"[[output.sinks]]\nname = \"a\"\ntype = \"syslog\"\nnetwork = \"tcp\"\naddress = \"192.0.2.1:514\"\napp_name = \"edge sensor\"\nhostname = \"r 1\"\n", []string{"output.sinks[0].app_name", "output.sinks[0].hostname", "without spaces"}},
		{"[[output.sinks]]\nname = \"a\"\ntype = \"syslog\"\nnetwork = \"tcp\"\naddress = \"192.0.2.1:syslog\"\n", []string{"output.sinks[0].address", "1..65535"}},
		{"[[output.sinks]]\nname = \"a\"\ntype = \"file\"\npath = \"/a\"\nmax_age = \"-1h\"\nmax_backups = -1\n", []string{"output.sinks[0].max_age", "output.sinks[0].max_backups"}},
	}
	for _, tc := range cases {
		_, err := Parse(tc.toml)
		if err == nil {
			t.Errorf("%q: no error", tc.toml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.toml, err, w)
			}
		}
	}
	// Sharing is off without an uplink, whatever the categories say.
	c := Default()
	if c.UplinkEnabled() || c.Mode("executables") != privacy.ShareNone {
		t.Error("the default config shares without an uplink")
	}
	c.Uplink.URL = "https://cloud.example:8443"
	if c.Mode("executables") != privacy.ShareHash || c.Mode("email") != privacy.ShareNone {
		t.Errorf("modes %s %s", c.Mode("executables"), c.Mode("email"))
	}
	c.Privacy.Executables = privacy.ShareFull
	if c.Mode("executables") != privacy.ShareHash {
		t.Error("privacy.share = hash does not cap full")
	}
	c.Privacy.Share = privacy.ShareNone
	if c.UplinkEnabled() {
		t.Error("share = none still shares")
	}
}
