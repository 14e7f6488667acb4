/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The program's configuration and the tables userspace writes while it
 * runs. One translation unit (sensor.c) includes this, through parse.h. */
#ifndef EDGESENSOR_GLOBALS_H
#define EDGESENSOR_GLOBALS_H

#include <linux/bpf.h>
#include "types.h"
#include "maps.h"

/* Load-time constants: the verifier prunes what a disabled class needs. */
volatile const struct config cfg = {
	.stream_budget = 64ULL << 20,
	.tls_idle_ns = 30ULL * 1000000000ULL,
	.tls_budget = 1024,
	.tls_byte_budget = 256 << 10,
	.quic_budget = 8,
	.snaplen = MAX_SNAP,
	.tls_enabled = 1,
	.quic_enabled = 1,
	.stream_enabled = 1,
	.max_rearms = 3,
	.vlan_tracking = 1,
	.frag_enabled = 1,
};

/* Watched TCP ports: port -> application (0 = not watched). A global, so
 * the per-packet check is a plain load with no lookup; userspace writes it
 * through the memory-mapped .bss, also while the program runs. */
__u8 port_app[65536];

/* ifindex -> counter slot. The pinned ifslots map is the record userspace
 * keeps; this .bss copy makes the per-packet read a plain load. */
__u8 ifslot[MAX_IFINDEX];

/* ifindex -> a program is chained after the sensor there (sensor.xdp_share
 * = "chain"): only then is the tail call tried, which costs every packet
 * a few ns even with the slot empty. Userspace sets it with the slot. */
__u8 chained[MAX_IFINDEX];

/* Counter slot -> enum csum_mode: which checksums may change the program's
 * state (csum.h). Userspace sets it per interface. */
__u8 csum_modes[MAX_IFSLOTS];

/* Enforcement, written by userspace while the program runs (enforce.h):
 * the mode (enum enf_mode), which slot of the blocklist arrays is live,
 * each list's freshness (CLOCK_MONOTONIC ns; a list is enforced only
 * before it, so a dead daemon's lists lapse), and the blocked flows per
 * tuple-hash slot. */
__u32 enforce_mode;
__u32 enf_gen;
__u32 fblock_total; /* flows blocked: 0 spares every packet the slot lookup */
__u64 enf_fresh_until[ENF_MAX_LISTS];
__u8 fblock_slots[1 << FBLOCK_BITS];
/* Held downloads (hold.h): 0 holds nothing; else how long a gate may
 * hold a packet without userspace's word before it lets it through. */
__u64 hold_timeout_ns;
/* Held files are held only while the streams ring holds fewer bytes than
 * this: a daemon that is behind would delay every transfer it holds by
 * its backlog, so past it transfers pass unheld (and are judged after). */
__u64 hold_max_backlog;
/* The hello gate (tls.h): in block mode, while handshake blocklists hold
 * entries, a ClientHello's server packets are held until userspace has
 * judged the hello, at most this long (0: none are held). */
__u64 hello_hold_ns;
/* ... and only while the daemon says it lives (CLOCK_MONOTONIC ns; it
 * renews this every quarter second): a dead daemon's gate would delay
 * every handshake by the server's retransmission timeout. */
__u64 hello_alive_until;
/* Held fragments (hold.h frag_hold) only while the daemon says it lives
 * (CLOCK_MONOTONIC ns; renewed every quarter second in block mode): no
 * gate's clock may be there to let them through. */
__u64 hold_alive_until;

/* The prefilter: a bit per /24 (IPv4) or per top 24 bits (IPv6) that
 * some blocklist entry covers, so that nearly every packet settles with
 * one plain load per address. Userspace sets the
 * bits of a new set of lists before it flips enf_gen and clears the ones
 * no list needs after. */
__u64 enf_bits4[ENF_PREFILTER_WORDS];
__u64 enf_bits6[ENF_PREFILTER_WORDS];
/* The same for prefix entries alone: the slower LPM lookup is spared an
 * address only exact entries share a prefilter bit with. */
__u64 enf_pbits4[ENF_PREFILTER_WORDS];
__u64 enf_pbits6[ENF_PREFILTER_WORDS];

/* The prefilter bit of an address whose first word (network order) is w. */
static __always_inline int enf_bit(__u64 *bits, __u32 w)
{
	__u32 top = bpf_ntohl(w) >> (32 - ENF_PREFILTER_BITS);

	return (bits[(top >> 6) & (ENF_PREFILTER_WORDS - 1)] >> (top & 63)) & 1;
}

#endif
