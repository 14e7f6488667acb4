package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
)

// Loss is counted per interface and class, by cause, beside every
// event: a handshake without its ClientHello, a QUIC one whole, a file
// cut by a gap, one cut by a limit, one whole.
func TestLossByCause(t *testing.T) {
	var c eventCounts
	for _, f := range []ecs.Fields{
		{Dataset: "edgesensor.tls", Interface: "eth0", Protocol: "tls", NoClientHello: true, LostEvents: true},
		{Dataset: "edgesensor.tls", Interface: "eth0", Protocol: "tls"},
		{Dataset: "edgesensor.tls", Interface: "eth1", Protocol: "quic"},
		{Dataset: "edgesensor.file", Interface: "eth0", Cut: "gap"},
		{Dataset: "edgesensor.file", Interface: "eth0", Cut: "limit"},
		{Dataset: "edgesensor.file", Interface: "eth0", Complete: true},
		{Dataset: ecs.VerdictDataset},
	} {
		c.observe(&f)
	}
	got := map[string]float64{}
	for _, fam := range lossFamilies(&c.loss) {
		fam.Read(func(v float64, lv ...string) { got[fam.Name+"{"+strings.Join(lv, ",")+"}"] = v })
	}
	want := map[string]float64{
		"analysis_flow_events_total{eth0,file}":         3,
		"analysis_flow_events_total{eth0,tls}":          2,
		"analysis_flow_events_total{eth1,quic}":         1,
		"analysis_incomplete_total{eth0,file}":          2,
		"analysis_incomplete_total{eth0,tls}":           1,
		"analysis_loss_total{eth0,file,cut_gap}":        1,
		"analysis_loss_total{eth0,file,cut_limit}":      1,
		"analysis_loss_total{eth0,tls,lost_events}":     1,
		"analysis_loss_total{eth0,tls,no_client_hello}": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
