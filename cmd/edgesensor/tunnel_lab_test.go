package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/edgesensor/edgesensor/internal/craft"
	"github.com/edgesensor/edgesensor/internal/lab"
)

// tunnelEvent is what the tunnel lab reads of an event.
type tunnelEvent struct {
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Source      endpoint  `json:"source"`
	Destination endpoint  `json:"destination"`
	TLS         craft.TLS `json:"tls"`
	File        struct {
		Name string `json:"name"`
		Hash *struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
	} `json:"file"`
	Edgesensor struct {
		Tunnel *struct {
			Type  string `json:"type"`
			ID    *int   `json:"id"`
			Outer *struct {
				Source      endpoint `json:"source"`
				Destination endpoint `json:"destination"`
			} `json:"outer"`
		} `json:"tunnel"`
		File struct {
			Complete bool `json:"complete"`
		} `json:"file"`
	} `json:"edgesensor"`
}

func readTunnelEvents(t *testing.T, path string) []tunnelEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []tunnelEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e tunnelEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			evs = append(evs, e)
		}
	}
	return evs
}

// TestPrivilegedLabTunnels: real traffic inside a real VXLAN link between
// the client and the server (the router forwards the outer UDP) gives the
// events of the plain path, with the tunnel in them; a VXLAN link whose
// MTU leaves no room for its headers makes the client's kernel fragment
// the outer packets, which the sensor reassembles; crafted frames of every
// other encapsulation, put on the wire with tcpreplay, give their truth.
func TestPrivilegedLabTunnels(t *testing.T) {
	l := lab.Up(t, "estun", 83)
	bin := buildBinary(t)
	e := l.Env
	c, s := l.Client(), l.Server()
	c4, s4 := e["CLIENT4"], e["SERVER4"]
	// vx0: inner 10.98/24, VNI 4242, MTU fitting the underlay. vx1: inner
	// 10.97/24, VNI 4343, MTU 1500: its packets leave as outer fragments.
	for _, v := range []struct{ name, vni, mtu, ci, si string }{
		{"vx0", "4242", "1450", "10.98.0.1", "10.98.0.2"},
		{"vx1", "4343", "1500", "10.97.0.1", "10.97.0.2"},
	} {
		// No lower device: its MTU would cap the link's at 1450.
		l.MustExec(c, "ip", "link", "add", v.name, "type", "vxlan", "id", v.vni, "local", c4, "remote", s4, "dstport", "4789")
		l.MustExec(s, "ip", "link", "add", v.name, "type", "vxlan", "id", v.vni, "local", s4, "remote", c4, "dstport", "4789")
		for _, end := range []struct{ ns, addr string }{{c, v.ci}, {s, v.si}} {
			l.MustExec(end.ns, "ip", "link", "set", v.name, "mtu", v.mtu)
			l.MustExec(end.ns, "ip", "addr", "add", end.addr+"/24", "dev", v.name)
			l.MustExec(end.ns, "ip", "link", "set", v.name, "up")
			l.MustExec(end.ns, "ethtool", "-K", v.name, "tso", "off", "gso", "off", "gro", "off", "tx", "off")
		}
	}

	dir := t.TempDir()
	outPath, errPath := filepath.Join(dir, "events.ndjson"), filepath.Join(dir, "stderr.log")
	stdout, _ := os.Create(outPath)
	stderr, _ := os.Create(errPath)
	defer stdout.Close()
	defer stderr.Close()
	ifs := l.RouterIfaces()
	cmd := l.Command(l.Router(), bin, "run", "--iface", ifs[0], "--iface", ifs[1], "--pin-path", l.PinPath())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	waitFor(t, errPath, `"running`, 20*time.Second)
	time.Sleep(time.Second)

	ca, host := e["CA"], e["HOSTNAME"]
	curl := func(args ...string) {
		t.Helper()
		out := l.MustExec(c, append([]string{"curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
		if out != "200" {
			t.Fatalf("curl %v: %s", args, out)
		}
	}
	// The same TLS handshake and download, plain and through each tunnel.
	for _, addr := range []string{s4, "10.98.0.2", "10.97.0.2"} {
		curl("--tls13-ciphers", "TLS_AES_128_GCM_SHA256", "--cacert", ca, "--resolve", host+":443:"+addr, "https://"+host+"/index.html")
		curl("-H", "User-Agent: lab-tunnel", "http://"+addr+"/sample.exe")
	}

	// Crafted frames of the other encapsulations, as the wire would carry
	// them, injected on the client's veth: the router's interface sees
	// them arrive.
	replayed := map[string]craft.Truth{}
	if _, err := exec.LookPath("tcpreplay"); err != nil {
		t.Log("tcpreplay not installed: crafted encapsulations not injected")
	} else {
		cdir := t.TempDir()
		corpus, err := craft.LoadCorpus("../../testdata/corpus")
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`^encap_(gre|gre_key|gre6|gre_teb|gre_mpls|ipip|6in4|ip6ip6|4in6|geneve|gtpu|pppoe|mpls3|eompls|vlan4|ipv6_extchain)_(tls|http)$`)
		for _, k := range craft.Select(re) {
			path := filepath.Join(cdir, k.Name+".pcap")
			tr, err := k.WriteFiles(corpus, craft.Options{Seed: 1}, cdir)
			if err != nil {
				t.Fatalf("%s: %v", k.Name, err)
			}
			l.MustExec(c, "tcpreplay", "-q", "--mbps", "200", "-i", e["IF_CLIENT"], path)
			replayed[k.Name] = tr
		}
	}
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()

	evs := readTunnelEvents(t, outPath)
	want := sampleSHA(t, l)
	byServer := map[string][]tunnelEvent{}
	for _, ev := range evs {
		byServer[ev.Destination.IP] = append(byServer[ev.Destination.IP], ev)
	}
	var plainJA3, plainJA4 string
	for _, ev := range byServer[s4] {
		if ev.Event.Dataset == "edgesensor.tls" && ev.TLS.Client.ServerName == host {
			plainJA3, plainJA4 = ev.TLS.Client.JA3, ev.TLS.Client.JA4
		}
	}
	if plainJA3 == "" {
		t.Fatalf("no plain handshake event")
	}
	for _, v := range []struct {
		addr string
		vni  int
	}{{"10.98.0.2", 4242}, {"10.97.0.2", 4343}} {
		var tls, file bool
		for _, ev := range byServer[v.addr] {
			tu := ev.Edgesensor.Tunnel
			if tu == nil || tu.Type != "vxlan" || tu.ID == nil || *tu.ID != v.vni || tu.Outer == nil ||
				tu.Outer.Source.IP != c4 || tu.Outer.Destination.IP != s4 {
				t.Errorf("%s: event without the tunnel: %+v", v.addr, tu)
			}
			switch ev.Event.Dataset {
			case "edgesensor.tls":
				tls = ev.TLS.Client.JA3 == plainJA3 && ev.TLS.Client.JA4 == plainJA4 && ev.TLS.Server != nil
			case "edgesensor.file":
				file = ev.Edgesensor.File.Complete && ev.File.Hash != nil && ev.File.Hash.SHA256 == want
			}
		}
		if !tls || !file {
			t.Errorf("through VNI %d: handshake as plain %v, file whole %v", v.vni, tls, file)
			for _, ev := range byServer[v.addr] {
				t.Logf("event %s %+v", ev.Event.Dataset, ev.Edgesensor.File)
			}
		}
	}
	// The MTU-1500 link's packets crossed as fragments, reassembled.
	var stop struct {
		Reassembled uint64 `json:"fragments_reassembled"`
		Reinjected  uint64 `json:"fragments_reinjected"`
	}
	for _, line := range bytes.Split(readFile(t, errPath), []byte("\n")) {
		if bytes.Contains(line, []byte(`"stopped"`)) {
			json.Unmarshal(line, &stop)
		}
	}
	if stop.Reassembled == 0 || stop.Reinjected == 0 {
		t.Errorf("no fragments reassembled: %+v", stop)
	}

	// Each injected capture: its truth.
	for name, tr := range replayed {
		for _, ft := range tr.Files {
			ok := false
			for _, ev := range evs {
				if ev.File.Hash != nil && ev.File.Hash.SHA256 == ft.SHA256 && ev.Edgesensor.Tunnel != nil &&
					(tr.Tunnel == nil || tr.Tunnel.Type == "" || ev.Edgesensor.Tunnel.Type == tr.Tunnel.Type) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: %s not reported whole with its tunnel", name, ft.Name)
				for _, ev := range evs {
					if ev.Event.Dataset == "edgesensor.file" {
						t.Logf("file event: %s %+v %+v", ev.File.Name, ev.Edgesensor.File, ev.Edgesensor.Tunnel)
					}
				}
			}
		}
		for _, ht := range tr.TLS {
			ok := false
			for _, ev := range evs {
				if ev.Source.Port == ht.ClientPort && ev.TLS.Client.JA3 == ht.JA3 && ev.TLS.Client.JA4 == ht.JA4 {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: handshake on port %d not reported with its truth", name, ht.ClientPort)
			}
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}
