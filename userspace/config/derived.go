package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/datapath"
)

// What the sensor derives from more than one key, or from a table and
// the machine.

// PortApps lists every watched port with its application.
func (c *Config) PortApps() map[uint16]datapath.App { return c.Ports.Apps() }

// Mode returns the effective share mode of a category (executables,
// documents, metadata, tls, email): its own, capped by privacy.share, and
// none without an uplink.
func (c *Config) Mode(category string) string { return c.Privacy.Mode(category, c.contributes()) }

// contributes: records may leave, as [privacy] allows (an uplink, and
// uplink.contribute).
func (c *Config) contributes() bool { return c.Uplink.URL != "" && c.Uplink.Contribute }

// SharesRecords says whether any record leaves the box (and so the
// anonymisation key is needed).
func (c *Config) SharesRecords() bool { return c.Privacy.Shares(c.contributes()) }

// UplinkEnabled says whether the sensor connects to the cloud at all: to
// send records, to look hashes up, or to take the feed.
func (c *Config) UplinkEnabled() bool { return c.SharesRecords() || c.Uplink.Asks() }

// HeldMemory is the most the analysis holds of traffic at once: what the
// handshakes being followed, the file flows (reassembly buffers, parsers,
// flow structures) and the IP fragments waiting for their datagram may
// hold. Past each bound the least recently active is let go, counted.
// The process's resident memory stays under about twice this (Go's
// collector lets the heap grow to twice what is live) plus a base of
// about 100 MiB: the program, kernel type information and the rings.
func (c *Config) HeldMemory() ByteSize {
	return c.Reassembly.HandshakeMemory + c.Files.ReassemblyMemory + c.Reassembly.FragmentMemory
}

// Summary returns the effective config as sorted key=value pairs, for the
// one log line at start.
func (c *Config) Summary() []string {
	apps := c.PortApps()
	ports := make([]string, 0, len(apps))
	for p, a := range apps {
		ports = append(ports, fmt.Sprintf("%d/%s", p, a))
	}
	sort.Strings(ports)
	out := []string{
		"xdp_mode=" + c.Sensor.XDPMode + " xdp_share=" + c.Sensor.XDPShare + fmt.Sprintf(" xdp_priority=%d", c.Sensor.XDPPriority),
		"pin_path=" + c.Sensor.PinPath,
		fmt.Sprintf("workers=%d", c.WorkerCount()),
		fmt.Sprintf("tls=%t quic=%t streams=%t", c.Capture.TLS, c.Capture.QUIC, c.Capture.Streams),
		fmt.Sprintf("handshake_packets=%d quic_initials=%d", c.Capture.HandshakePackets, c.Capture.QUICInitials),
		"stream_budget=" + c.Capture.StreamBudget.String(),
		"rings=" + c.Capture.HandshakeRing.String() + "/" + c.Capture.StreamRing.String() + "/" + c.Capture.FragmentRing.String(),
		"ports=" + strings.Join(ports, ","),
		"held_memory=" + c.HeldMemory().String(),
	}
	return slices.Clip(out)
}
