// Package decap says what encapsulation a captured frame carries: it
// follows Ethernet, VLAN, MPLS, PPPoE, IPv4, IPv6 (with extension
// headers), GRE, IP-in-IP, 6in4, IPv6-in-IPv6, IPv4-in-IPv6, VXLAN, Geneve
// and GTP-U down to the innermost TCP or UDP header, by the same rules as
// the XDP program (the shared rules document, "encap-spec"), so that
// userspace can describe what the kernel followed: the layers with their
// ids and outer endpoints, the innermost 5-tuple, and for a fragment the
// fragmented IP header. Rebuild puts a reassembled inner datagram back
// into its frame with every enclosing length fixed.
//
// # Bounds
//
// Every header is checked against the end of the frame before it is read;
// a header cut by the frame's end stops the parse with ErrTruncated. A
// length field that claims more bytes than the frame holds (IPv4 total
// length, IPv6 payload length, UDP, PPPoE and GTP-U lengths) only sets
// Frame.Truncated: the kernel emits snapped frames, and outer lengths are
// not trusted to agree with what they carry. The innermost IP header's
// own length bounds its L4 header: a TCP header (data offset >= 5 words)
// or a UDP header must lie within the IP payload, else ErrMalformed.
//
// Limits, each with its own error: MaxVLAN tags per Ethernet header,
// MaxMPLS label stack entries, MaxIPv6Ext extension headers per IPv6
// header, MaxTunnels IP-carried tunnels, MaxGTPExt GTP-U extension
// headers, and MaxLayers layers in all (EoMPLS can otherwise nest link
// layers without end).
//
// # Choices where the rules are silent
//
//   - A tunnel header that fails its own check (VXLAN without the I bit,
//     Geneve version not 0, GTP-U not version 1 with PT set, a GTP-U
//     extension of length 0, PPPoE ver/type not 0x11 or code not 0) is
//     ErrMalformed; a tunnel or link layer whose payload type is not
//     followed (GRE or Geneve protocol type, PPP protocol, GTP-U message
//     type other than G-PDU, GTP-U payload not IPv4/IPv6) is ErrNotIP.
//   - The tunnel depth is checked when a fifth tunnel is announced (IP
//     protocol 4, 41 or 47, or a tunnel UDP port), before its header is
//     read.
//   - UDP ports are tried in this order: destination 4789 (VXLAN),
//     destination 6081 (Geneve), then destination or source 2152 (GTP-U).
//   - An IPv6 extension chain that runs past the IPv6 payload length is
//     followed (against the frame), but a fragment header whose data
//     would start past the payload is ErrMalformed.
//
// On error the Frame holds what was parsed before it: the layers, and the
// innermost IP header reached (L3, Src, Dst, Proto), so a counter or a log
// line can say where the parse stopped. Parse never allocates.
package decap
