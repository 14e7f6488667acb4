// Package ipfrag reassembles IPv4 and IPv6 fragments as Linux does
// (net/ipv4/ip_fragment.c, net/ipv6/reassembly.c, net/ipv4/inet_fragment.c),
// so that the sensor analyses the datagram the receiving host accepted,
// or nothing when the host would accept nothing.
//
// # Rules (RFC 5722 applied to IPv4 and IPv6 alike, as Linux does)
//
// Fragments are grouped by (source, destination, identification, zone,
// family) and, for IPv4, the protocol. Linux keys IPv6 datagrams without
// the next header (the reassembled packet takes the first fragment's), so
// this package does too: fragments of one IPv6 datagram with different
// next headers still join, as on the host.
//
// Received fragments form runs: a fragment that starts where the run
// with the highest offset ends extends that run; any other fragment that
// overlaps nothing starts a run of its own. Then, in Linux's order:
//
//   - The last fragment (MF/M 0) fixes the length: a last fragment ending
//     before bytes already seen, a second last fragment with another end,
//     or a later fragment ending past it discards the datagram.
//   - IPv4 non-last fragments are trimmed to a multiple of 8 bytes; IPv6
//     non-last fragments whose length is not a multiple of 8 are dropped
//     (the datagram goes on); IPv6 fragments ending past 65535 are
//     dropped.
//   - A fragment left empty discards the datagram.
//   - A fragment entirely inside one run is a duplicate: ignored, even
//     when its bytes differ (the first copy stays). Any other overlap
//     discards the datagram with every fragment held.
//   - On completion the datagram is discarded if it would exceed 65535
//     bytes (IPv4 total length, IPv6 payload length) or if its fragments
//     mix Not-ECT with ECN-capable codepoints (RFC 3168 5.3); CE in any
//     fragment sets CE in the result.
//   - An IPv6 first fragment that does not hold the headers through the
//     upper-layer header (RFC 8200 4.5: TCP 20 bytes, UDP 8, ICMPv6 8,
//     other 1) is dropped before it reaches the datagram.
//
// A discarded datagram leaves the table, so later fragments with its key
// start a new datagram, as in Linux (inet_frag_kill unlinks the queue):
// the rest of the original can then only time out, while a full new set
// of fragments would be accepted by the host and is reassembled here
// too.
//
// The result is the first fragment's header with the fragmentation fields
// cleared: for IPv4, MF and offset cleared (DF set only when the largest
// fragment had it, as Linux does), total length and header checksum
// recomputed; for IPv6, the unfragmentable part (headers before the
// fragment header) with the preceding next-header field set to the
// fragment header's and the payload length fixed, followed by the joined
// fragmentable part.
//
// Not modelled: Linux's per-source ipfrag_max_dist (an IPv4 datagram is
// restarted when 64 other fragments from its source arrived in between).
//
// # Bounds
//
// Every byte the Reassembler owns counts against Config.MaxBytes: fragment
// data, the per-fragment and per-run bookkeeping, a fixed overhead per
// datagram (its table entry included) and the buffers kept for reuse;
// outside it stay only the fixed parts, the table's index sized for
// Config.MaxDatagrams and one 64 KiB buffer for the result. Past a bound, reused buffers
// are released first, then the oldest datagram is dropped (counted in
// Stats.Evicted); at most Config.MaxDatagrams datagrams are in progress.
// A datagram that can no longer be reassembled within 65535 bytes keeps
// its bookkeeping (so later fragments are judged as Linux judges them)
// but not its bytes. Add costs O(fragments of its datagram); the
// reassembled packet is built in one reused buffer. A Reassembler belongs
// to one goroutine.
//
// Tiny-fragment attacks (RFC 1858) are counted: first TCP fragments too
// short for the whole TCP header (Stats.Tiny; for IPv6, those Linux drops
// are counted there too), and TCP fragments at offset 8 (Stats.Offset1).
package ipfrag
