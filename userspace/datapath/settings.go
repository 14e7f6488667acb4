package datapath

import (
	"os"
	"time"

	"github.com/edgesensor/edgesensor/userspace/setting"
)

// Defaults and bounds of the [capture] table.
const (
	DefaultSnaplen       = 9216
	MaxSnaplen           = 9216
	MinSnaplen           = 128
	DefaultHandshakePkts = 512
	DefaultHandshakeSize = setting.ByteSize(256 << 10)
	DefaultHandshakeIdle = setting.Duration(30 * time.Second)
	DefaultRestarts      = 3
	DefaultQUICInitials  = 8
	DefaultStreamBudget  = setting.ByteSize(64 << 20)
	DefaultMaxFlows      = 131072
	DefaultHandshakeRing = setting.ByteSize(4 << 20)
	DefaultStreamRing    = setting.ByteSize(32 << 20)
	DefaultFragmentRing  = setting.ByteSize(4 << 20)
)

// Settings is the [capture] table: what the data plane passes to
// userspace.
type Settings struct {
	TLS     bool `toml:"tls"`
	QUIC    bool `toml:"quic"`
	Streams bool `toml:"streams"`
	// Snaplen is the most frame bytes copied per event.
	Snaplen int `toml:"snaplen"`
	// HandshakePackets and HandshakeBytes are the budget of one TLS
	// handshake (packets and payload bytes, both directions) after which
	// the flow is no longer emitted, unless the analysis, which sees a
	// hello still coming in small pieces, raises it.
	HandshakePackets int              `toml:"handshake_packets"`
	HandshakeBytes   setting.ByteSize `toml:"handshake_bytes"`
	// HandshakeIdle ends a handshake that has seen no packet for this long.
	HandshakeIdle setting.Duration `toml:"handshake_idle"`
	// HandshakeRestarts is how often a new ClientHello may restart tracking
	// of a flow whose handshake ended without application data.
	HandshakeRestarts int `toml:"handshake_restarts"`
	// QUICInitials is the number of Initial packets emitted per QUIC flow.
	QUICInitials int `toml:"quic_initials"`
	// StreamBudget caps the payload bytes emitted per stream flow unless
	// the analysis raises it for a file it captures.
	StreamBudget setting.ByteSize `toml:"stream_budget"`
	// MaxFlows sizes the kernel flow table (LRU).
	MaxFlows int `toml:"max_flows"`
	// HandshakeRing, StreamRing and FragmentRing size the ring buffers.
	HandshakeRing setting.ByteSize `toml:"handshake_ring"`
	StreamRing    setting.ByteSize `toml:"stream_ring"`
	FragmentRing  setting.ByteSize `toml:"fragment_ring"`
	// VLANTracking makes VLAN ids and PPPoE sessions part of a flow's
	// identity (tunnel ids always are), so overlapping address spaces on
	// different VLANs never mix. Off when a flow's two directions arrive
	// with different tags (a tagged LAN and an untagged or PPPoE WAN).
	VLANTracking bool `toml:"vlan_tracking"`
	// Fragments passes IP fragments to userspace, which reassembles them
	// as the receiving host does and analyses the whole datagrams.
	Fragments bool `toml:"fragments"`
}

// DefaultSettings is the [capture] table of the shipped sensor.toml.
func DefaultSettings() Settings {
	return Settings{
		TLS:               true,
		QUIC:              true,
		Streams:           true,
		Snaplen:           DefaultSnaplen,
		HandshakePackets:  DefaultHandshakePkts,
		HandshakeBytes:    DefaultHandshakeSize,
		HandshakeIdle:     DefaultHandshakeIdle,
		HandshakeRestarts: DefaultRestarts,
		QUICInitials:      DefaultQUICInitials,
		StreamBudget:      DefaultStreamBudget,
		MaxFlows:          DefaultMaxFlows,
		HandshakeRing:     DefaultHandshakeRing,
		StreamRing:        DefaultStreamRing,
		FragmentRing:      DefaultFragmentRing,
		VLANTracking:      true,
		Fragments:         true,
	}
}

// Validate checks the [capture] table, found at key.
func (s *Settings) Validate(key string, p *setting.Problems) {
	if s.Snaplen < MinSnaplen || s.Snaplen > MaxSnaplen {
		p.Add(key+".snaplen", "%d is out of range; use %d to %d", s.Snaplen, MinSnaplen, MaxSnaplen)
	}
	if s.HandshakePackets < 2 || s.HandshakePackets > 65535 {
		p.Add(key+".handshake_packets", "%d is out of range; use 2 to 65535 (default %d)", s.HandshakePackets, DefaultHandshakePkts)
	}
	if s.HandshakeBytes < 16<<10 || s.HandshakeBytes > 64<<20 {
		p.Add(key+".handshake_bytes", "%s is out of range; use 16KiB to 64MiB (default %s)", s.HandshakeBytes, DefaultHandshakeSize)
	}
	if time.Duration(s.HandshakeIdle) < time.Second || time.Duration(s.HandshakeIdle) > time.Hour {
		p.Add(key+".handshake_idle", "%s is out of range; use 1s to 1h", time.Duration(s.HandshakeIdle))
	}
	if s.HandshakeRestarts < 0 || s.HandshakeRestarts > 255 {
		p.Add(key+".handshake_restarts", "%d is out of range; use 0 to 255", s.HandshakeRestarts)
	}
	if s.QUICInitials < 1 || s.QUICInitials > 1024 {
		p.Add(key+".quic_initials", "%d is out of range; use 1 to 1024 (default %d)", s.QUICInitials, DefaultQUICInitials)
	}
	if s.StreamBudget < 64<<10 {
		p.Add(key+".stream_budget", "%s is too small; use at least 64KiB", s.StreamBudget)
	}
	if s.MaxFlows < 1024 || s.MaxFlows > 1<<24 {
		p.Add(key+".max_flows", "%d is out of range; use 1024 to 16777216", s.MaxFlows)
	}
	page := setting.ByteSize(os.Getpagesize())
	for _, r := range []struct {
		key string
		v   setting.ByteSize
	}{{"handshake_ring", s.HandshakeRing}, {"stream_ring", s.StreamRing}, {"fragment_ring", s.FragmentRing}} {
		if r.v < page || r.v&(r.v-1) != 0 || r.v > 1<<30 {
			p.Add(key+"."+r.key, "%s must be a power of two between %s and 1GiB, e.g. \"4MiB\"", r.v, page)
		}
	}
}

// App identifies the application of a watched port (port_app map value).
type App uint8

// Applications of watched ports.
const (
	AppNone App = iota
	AppHTTP
	AppSMTP
	AppIMAP
)

// String names the application.
func (a App) String() string {
	switch a {
	case AppHTTP:
		return "http"
	case AppSMTP:
		return "smtp"
	case AppIMAP:
		return "imap"
	}
	return "none"
}

// Ports is the [ports] table: TCP ports whose flows are candidate file
// flows, by application.
type Ports struct {
	HTTP []int `toml:"http"`
	SMTP []int `toml:"smtp"`
	IMAP []int `toml:"imap"`
}

// DefaultPorts is the [ports] table of the shipped sensor.toml. HTTP
// includes the common forward-proxy ports (3128 squid/tinyproxy, 8080)
// and 8000 (python -m http.server, a usual way to stage payloads): a
// download through a proxy crosses the wire on the proxy's port.
func DefaultPorts() Ports {
	return Ports{HTTP: []int{80, 3128, 8000, 8080}, SMTP: []int{25, 587}, IMAP: []int{143}}
}

// Validate checks the [ports] table, found at key: TCP ports, each of
// one application.
func (ps *Ports) Validate(key string, p *setting.Problems) {
	seen := map[int]string{}
	for _, l := range []struct {
		key   string
		ports []int
	}{{key + ".http", ps.HTTP}, {key + ".smtp", ps.SMTP}, {key + ".imap", ps.IMAP}} {
		for _, port := range l.ports {
			if port < 1 || port > 65535 {
				p.Add(l.key, "%d is not a TCP port; use 1 to 65535", port)
				continue
			}
			if other, dup := seen[port]; dup {
				p.Add(l.key, "port %d is also in %s; a port belongs to one application", port, other)
			}
			seen[port] = l.key
		}
	}
}

// Apps lists every watched port with its application.
func (ps *Ports) Apps() map[uint16]App {
	m := map[uint16]App{}
	for _, port := range ps.HTTP {
		m[uint16(port)] = AppHTTP
	}
	for _, port := range ps.SMTP {
		m[uint16(port)] = AppSMTP
	}
	for _, port := range ps.IMAP {
		m[uint16(port)] = AppIMAP
	}
	return m
}

// ChecksumModes are the values of reassembly.checksums, in the order
// the docs list them.
var ChecksumModes = []string{ChecksumsAuto, ChecksumsVerify, ChecksumsOffload, ChecksumsOff}
