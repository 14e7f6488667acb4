package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/internal/testutil"
)

// tlsEvent is the part of an edgesensor.tls event the tests read.
type tlsEvent struct {
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Source      endpoint `json:"source"`
	Destination endpoint `json:"destination"`
	Network     struct {
		Transport string `json:"transport"`
		Protocol  string `json:"protocol"`
		Type      string `json:"type"`
		VLAN      *struct {
			ID string `json:"id"`
		} `json:"vlan"`
	} `json:"network"`
	TLS struct {
		Version      string `json:"version"`
		Cipher       string `json:"cipher"`
		NextProtocol string `json:"next_protocol"`
		Client       struct {
			ServerName string   `json:"server_name"`
			JA3        string   `json:"ja3"`
			JA4        string   `json:"ja4"`
			JA4r       string   `json:"ja4_r"`
			Ciphers    []string `json:"supported_ciphers"`
		} `json:"client"`
		Server *struct {
			JA3S string `json:"ja3s"`
			X509 *struct {
				PublicKeyAlgorithm string `json:"public_key_algorithm"`
				Subject            struct {
					CommonName []string `json:"common_name"`
				} `json:"subject"`
			} `json:"x509"`
		} `json:"server"`
	} `json:"tls"`
	Edgesensor struct {
		TLS struct {
			Complete   bool     `json:"complete"`
			Missing    []string `json:"missing"`
			Alerts     []string `json:"alerts"`
			HelloRetry bool     `json:"hello_retry"`
			Server     *struct {
				KeyShareGroup string `json:"key_share_group"`
			} `json:"server"`
			End     string `json:"end"`
			Packets int    `json:"packets"`
			Client  *struct {
				ALPN           []string `json:"alpn"`
				KeyShareGroups []string `json:"key_share_groups"`
			} `json:"client"`
		} `json:"tls"`
	} `json:"edgesensor"`
}

func parseTLSEvents(t *testing.T, out []byte) []tlsEvent {
	t.Helper()
	var evs []tlsEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(`"dataset":"edgesensor.tls"`)) {
			continue
		}
		var e tlsEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event is not JSON: %v\n%s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// Every TLS entry of every corpus capture, replayed through the real XDP
// program and the analysis: JA3, JA4, JA3S and SNI match the truth
// exactly (matched by ports), and nothing else is reported.
func TestPrivilegedReplayCorpusMatchesTruth(t *testing.T) {
	testutil.RequireBPF(t)
	files, _ := filepath.Glob("../../testdata/corpus/*.pcap")
	if len(files) < 8 {
		t.Fatalf("corpus missing: %v", files)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append([]string{"replay", "--stats"}, files...), &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	evs := parseTLSEvents(t, stdout.Bytes())
	byPorts := map[[2]int]tlsEvent{}
	for _, e := range evs {
		k := [2]int{e.Source.Port, e.Destination.Port}
		if _, dup := byPorts[k]; dup {
			t.Errorf("two events for %v", k)
		}
		byPorts[k] = e
	}
	n := 0
	for _, f := range files {
		tr := testutil.ReadTruth(t, strings.TrimSuffix(f, ".pcap")+".truth.json")
		for _, w := range tr.TLS {
			n++
			e, ok := byPorts[[2]int{w.ClientPort, w.ServerPort}]
			if !ok {
				t.Errorf("%s: no event for %d -> %d", filepath.Base(f), w.ClientPort, w.ServerPort)
				continue
			}
			got := [4]string{e.TLS.Client.JA3, e.TLS.Client.JA4, "", e.TLS.Client.ServerName}
			if e.TLS.Server != nil {
				got[2] = e.TLS.Server.JA3S
			}
			if want := [4]string{w.JA3, w.JA4, w.JA3S, w.SNI}; got != want {
				t.Errorf("%s: ja3/ja4/ja3s/sni\n got %q\nwant %q", filepath.Base(f), got, want)
			}
			if !e.Edgesensor.TLS.Complete || e.Edgesensor.TLS.End != "finished" {
				t.Errorf("%s: complete %v end %s missing %v", filepath.Base(f), e.Edgesensor.TLS.Complete,
					e.Edgesensor.TLS.End, e.Edgesensor.TLS.Missing)
			}
		}
	}
	if len(evs) != n {
		t.Errorf("%d TLS events for %d handshakes in the corpus", len(evs), n)
	}
	var st struct {
		Analysis map[string]uint64 `json:"analysis"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(stderr.Bytes()), &st); err != nil {
		t.Fatalf("--stats: %v\n%s", err, stderr.String())
	}
	if st.Analysis["tls_events"] != uint64(n) {
		t.Errorf("stats tls_events %d, want %d", st.Analysis["tls_events"], n)
	}
}
