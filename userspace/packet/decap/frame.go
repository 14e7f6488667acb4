package decap

import (
	"errors"
	"net/netip"
)

// Limits of the rules, the same in the XDP program.
const (
	MaxVLAN    = 4  // VLAN tags per Ethernet header
	MaxMPLS    = 8  // entries of one MPLS label stack
	MaxIPv6Ext = 32 // extension headers per IPv6 header
	MaxTunnels = 4  // IP-carried tunnels per frame
	MaxGTPExt  = 4  // GTP-U extension headers
	MaxLayers  = 16 // layers per frame, link layers and tunnels together
)

// Kind is the type of an encapsulation layer.
type Kind uint8

// Kinds. IP-carried tunnels (Tunnel reports true) count against
// MaxTunnels; VLAN, MPLS and PPPoE are link layers.
const (
	KindVLAN Kind = iota + 1
	KindMPLS
	KindPPPoE
	KindIPIP   // IPv4 in IPv4 (protocol 4)
	KindSIT    // IPv6 in IPv4 (protocol 41)
	KindIP6IP6 // IPv6 in IPv6 (next header 41)
	KindIP4IP6 // IPv4 in IPv6 (next header 4)
	KindGRE
	KindVXLAN
	KindGeneve
	KindGTPU
)

var kindNames = [...]string{"", "vlan", "mpls", "pppoe", "ipip", "6in4", "ip6ip6", "4in6", "gre", "vxlan", "geneve", "gtpu"}

// String names the kind as events and counters do.
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "unknown"
}

// Tunnel reports whether the kind is an IP-carried tunnel.
func (k Kind) Tunnel() bool { return k >= KindIPIP && k <= KindGTPU }

// Layer is one encapsulation layer of a frame, outermost first.
type Layer struct {
	Kind Kind
	// Off is the offset of the layer's own header: the 802.1Q tag (its
	// TPID), the first MPLS entry, the PPPoE header, the GRE, VXLAN,
	// Geneve or GTP-U header. IP-in-IP kinds have no header of their own:
	// Off is the inner IP header and Len 0.
	Off int
	// Len is the length of that header: 4 per VLAN tag, 4 per MPLS entry
	// (plus the 4-byte control word of EoMPLS), 8 for PPPoE (with the PPP
	// protocol), the whole GRE, VXLAN, Geneve (options included) or GTP-U
	// (extensions included) header.
	Len int
	// ID is the VLAN id, the top MPLS label, the PPPoE session, the GRE
	// key, the VXLAN or Geneve VNI or the GTP-U TEID. HasID is false for
	// GRE without a key and for IP-in-IP kinds.
	ID    uint32
	HasID bool
	// OuterL3 is the offset of the IP header that carries a tunnel (for
	// VXLAN, Geneve and GTP-U: the one under the UDP header), OuterSrc and
	// OuterDst its addresses; unset for link layers.
	OuterL3            int
	OuterSrc, OuterDst netip.Addr
}

// FragInfo describes the fragment a frame carries.
type FragInfo struct {
	ID      uint32 // IPv4 16-bit or IPv6 32-bit identification
	Offset  int    // fragment offset in bytes
	More    bool   // MF (IPv4) or M (IPv6)
	HdrOff  int    // IPv6: offset of the fragment header; IPv4: 0
	DataOff int    // offset of the first byte of fragment data
	DataLen int    // bytes of fragment data per the IP header (may pass the frame's end)
}

// Frame is what Parse found in a frame. Only Layers[:N] are valid.
type Frame struct {
	Layers [MaxLayers]Layer
	N      int

	// L3 is the offset of the innermost IP header (for a fragment: the
	// fragmented one) and L3End the end of that IP packet per its length
	// field (it may pass the frame's end: see Truncated).
	L3, L3End int
	Family    uint8 // 4 or 6
	Src, Dst  netip.Addr
	// Proto is the innermost L4 protocol: the IPv4 protocol or the IPv6
	// next header after the extension chain; for a fragment, the one it
	// carries.
	Proto uint8
	// L4 and Payload are the offsets of the innermost TCP/UDP header and
	// of its payload, PayloadLen that payload's length per the IP header
	// (not the UDP length). For a first fragment L4 is where its data
	// starts, and Payload is set only when the whole L4 header lies in
	// the fragment; for other fragments all three are 0.
	L4, Payload, PayloadLen int
	Sport, Dport            uint16
	// Truncated: some layer claims more bytes than the frame holds.
	Truncated bool
	// Fragment: the innermost IP packet is a fragment, described by Frag.
	// An IPv6 atomic fragment (offset 0, M 0) is not a fragment.
	Fragment bool
	Frag     FragInfo
}

// Stack returns the valid layers, outermost first.
func (f *Frame) Stack() []Layer { return f.Layers[:f.N] }

// Tunnels counts the IP-carried tunnel layers.
func (f *Frame) Tunnels() int {
	n := 0
	for i := range f.N {
		if f.Layers[i].Kind.Tunnel() {
			n++
		}
	}
	return n
}

// reset clears everything but the layer array, whose stale entries past
// N are never read: clearing 1.5 KiB per packet is not free.
func (f *Frame) reset() {
	f.N = 0
	f.L3, f.L3End, f.Family = 0, 0, 0
	f.Src, f.Dst = netip.Addr{}, netip.Addr{}
	f.Proto = 0
	f.clearL4()
	f.Truncated, f.Fragment = false, false
	f.Frag = FragInfo{}
}

func (f *Frame) clearL4() {
	f.L4, f.Payload, f.PayloadLen = 0, 0, 0
	f.Sport, f.Dport = 0, 0
}

// push adds a link layer. It writes the fields one by one: copying a
// whole Layer (it holds pointers, in netip.Addr) costs a typed memmove,
// half the time of a VLAN-tagged parse.
func (f *Frame) push(k Kind, off, n int, id uint32, hasID bool) error {
	_, err := f.pushLayer(k, off, n, id, hasID)
	return err
}

// pushTunnel adds a tunnel carried by the IP header at ip, whose
// addresses are f's current ones.
func (f *Frame) pushTunnel(k Kind, off, n int, id uint32, hasID bool, ip int) error {
	l, err := f.pushLayer(k, off, n, id, hasID)
	if err == nil {
		l.OuterL3, l.OuterSrc, l.OuterDst = ip, f.Src, f.Dst
	}
	return err
}

func (f *Frame) pushLayer(k Kind, off, n int, id uint32, hasID bool) (*Layer, error) {
	if f.N == MaxLayers {
		return nil, ErrLayerDepth
	}
	l := &f.Layers[f.N]
	f.N++
	l.Kind, l.Off, l.Len, l.ID, l.HasID = k, off, n, id, hasID
	l.OuterL3, l.OuterSrc, l.OuterDst = 0, netip.Addr{}, netip.Addr{}
	return l, nil
}

// Error is why a frame is not followed to its innermost L4 header. Reason
// is a short name fit for a counter label, shared with the XDP program's
// counters where the rules name one.
type Error struct {
	reason, text string
}

func (e *Error) Error() string { return "decap: " + e.text }

// Reason returns the counter name of the error.
func (e *Error) Reason() string { return e.reason }

// The errors Parse returns; compare with errors.Is or read Reason.
var (
	ErrNotIP        = &Error{"non_ip", "payload is not IP"}
	ErrVLANDepth    = &Error{"vlan_depth", "more than 4 VLAN tags"}
	ErrMPLSDepth    = &Error{"mpls_depth", "more than 8 MPLS labels"}
	ErrMPLSPayload  = &Error{"mpls_payload", "MPLS payload neither IP nor pseudowire"}
	ErrGREVersion   = &Error{"gre_version", "GRE version or routing bit not 0"}
	ErrTunnelDepth  = &Error{"tunnel_depth", "more than 4 tunnels"}
	ErrIPv6ExtDepth = &Error{"ipv6_ext_depth", "more than 32 IPv6 extension headers"}
	ErrGTPExtDepth  = &Error{"gtp_ext_depth", "more than 4 GTP-U extension headers"}
	ErrLayerDepth   = &Error{"layer_depth", "more than 16 layers"}
	ErrNotAnalysed  = &Error{"not_analysed", "innermost protocol not TCP or UDP"}
	ErrTruncated    = &Error{"truncated", "header cut by the end of the frame"}
	ErrMalformed    = &Error{"malformed", "malformed header"}
)

// Reason returns the counter name of a Parse error, "" for nil and
// "other" for errors not from this package.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.reason
	}
	return "other"
}
