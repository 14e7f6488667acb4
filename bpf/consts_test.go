package bpf

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/datapath"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
)

// The limits C and Go both know are one number each: a change on one
// side that the other does not follow fails here. (Types and enums need
// no such test: bpf2go generates them from the program's BTF.)
func TestConstantsMatchTheC(t *testing.T) {
	defines := map[string]uint64{}
	re := regexp.MustCompile(`(?m)^#define ([A-Z0-9_]+) (0x[0-9a-fA-F]+|[0-9]+)u?\b`)
	for _, h := range []string{"types.h", "headers.h", "maps.h"} {
		b, err := os.ReadFile(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			v, err := strconv.ParseUint(m[2], 0, 64)
			if err != nil {
				t.Fatalf("%s: %s %s: %v", h, m[1], m[2], err)
			}
			defines[m[1]] = v
		}
	}
	for _, c := range []struct {
		c   string
		gov uint64
		by  string
	}{
		{"MAX_SNAP", MaxSnap, "bpf.MaxSnap"},
		{"MAX_SNAP", datapath.MaxSnaplen, "datapath.MaxSnaplen (capture.snaplen's bound)"},
		{"MAX_IFSLOTS", MaxIfSlots, "bpf.MaxIfSlots"},
		{"MAX_IFINDEX", MaxIfIndex, "bpf.MaxIfIndex"},
		{"REINJECT_MAGIC", ReinjectMagic, "bpf.ReinjectMagic"},
		{"RESEND_MAGIC", ResendMagic, "bpf.ResendMagic"},
		{"REINJECT_HOLD_MAGIC", ReinjectHoldMagic, "bpf.ReinjectHoldMagic"},
		{"APP_HTTP", uint64(datapath.AppHTTP), "datapath.AppHTTP"},
		{"APP_SMTP", uint64(datapath.AppSMTP), "datapath.AppSMTP"},
		{"APP_IMAP", uint64(datapath.AppIMAP), "datapath.AppIMAP"},
		{"EV_STATE_HELD", datapath.StateHeld, "datapath.StateHeld"},
		{"MAX_VLAN", decap.MaxVLAN, "decap.MaxVLAN"},
		{"MAX_MPLS", decap.MaxMPLS, "decap.MaxMPLS"},
		{"MAX_IPV6_EXT", decap.MaxIPv6Ext, "decap.MaxIPv6Ext"},
		{"MAX_TUNNELS", decap.MaxTunnels, "decap.MaxTunnels"},
		{"MAX_GTP_EXT", decap.MaxGTPExt, "decap.MaxGTPExt"},
	} {
		v, ok := defines[c.c]
		if !ok {
			t.Errorf("%s: not #defined in the headers read", c.c)
			continue
		}
		if v != c.gov {
			t.Errorf("%s is %d in C, %s is %d", c.c, v, c.by, c.gov)
		}
	}
	if d := config.Default().Capture.Snaplen; d < datapath.MinSnaplen || d > int(defines["MAX_SNAP"]) {
		t.Errorf("the default snaplen %d is outside %d..MAX_SNAP", d, datapath.MinSnaplen)
	}
}
