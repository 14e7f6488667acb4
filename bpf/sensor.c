//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * edgesensor XDP data plane.
 *
 * Looks at every packet, returns XDP_PASS unless enforcement acts, and
 * copies to userspace only what the analysis needs. One concern per header:
 *
 *  - parse.h   Ethernet to the innermost TCP/UDP header, through VLAN,
 *              MPLS, PPPoE and IP tunnels (the zone of the flow key)
 *  - csum.h    checksums of the packets whose bytes change state
 *  - flow.h    the flow table
 *  - filter.h  the counting filter that spares most packets a lookup
 *  - emit.h    the ring-buffer records
 *  - tls.h     TLS handshakes on any port (handshakes ring)
 *  - quic.h    QUIC v1/v2 Initial packets (handshakes ring)
 *  - stream.h  watched file-port flows, steered by userspace (streams ring)
 *  - frag.h    IP fragments for userspace to reassemble (fragments ring)
 *  - enforce.h blocklisted addresses and blocked flows: dropped or reset
 *              (opt-in; the only way the program returns anything but
 *              XDP_PASS)
 *
 * Everything else costs little: fast_ipv4() settles untagged IPv4 frames
 * that cannot matter before the full parser runs, and packets of flows
 * that are not in a handshake skip the flow-table lookup thanks to the
 * TLS-activity filter.
 *
 * The program must not be the reason the sensor is blind: a packet the
 * receiving host would drop (bad checksum, no ACK, out of order, an RST
 * off the exact sequence number, a SYN the server does not confirm) may
 * be emitted, but never ends or spends anything (tls.h, csum.h).
 *
 * Needs Linux 5.18 or later (bpf_xdp_load_bytes; bpf_loop since 5.17;
 * atomics and global functions with pointer arguments need 5.12).
 */
#include <linux/bpf.h>
#include <bpf_helpers.h>
#include <bpf_endian.h>

#include "types.h"
#include "maps.h"
#include "globals.h"
#include "parse.h"
#include "deep.h"
#include "csum.h"
#include "flow.h"
#include "filter.h"
#include "emit.h"
#include "tls.h"
#include "early.h"
#include "enforce.h"
#include "stream.h"
#include "quic.h"
#include "frag.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Force the shared types into BTF so bpf2go can generate them. */
const struct event *unused_event __attribute__((unused));
const struct flow_key *unused_flow_key __attribute__((unused));
const struct flow *unused_flow __attribute__((unused));
const struct stream_verdict *unused_stream_verdict __attribute__((unused));
const struct file_hold *unused_file_hold __attribute__((unused));
const enum hold_state *unused_hold_state __attribute__((unused));
const struct hold_req *unused_hold_req __attribute__((unused));
const struct hs_verdict *unused_hs_verdict __attribute__((unused));
const struct frag_key *unused_frag_key __attribute__((unused));
const struct frag_state *unused_frag_state __attribute__((unused));
const struct syn_pending *unused_syn_pending __attribute__((unused));
const struct counter_set *unused_counter_set __attribute__((unused));
const struct tls_slot *unused_tls_slot __attribute__((unused));
const struct enf_event *unused_enf_event __attribute__((unused));
const struct enf_list_stats *unused_enf_list_stats __attribute__((unused));
const struct flow_block *unused_flow_block __attribute__((unused));
const struct enf_lpm6 *unused_enf_lpm6 __attribute__((unused));
const struct enf_lpm4 *unused_enf_lpm4 __attribute__((unused));
const struct enf_entry *unused_enf_entry __attribute__((unused));
const enum ev_class *unused_ev_class __attribute__((unused));
const enum ev_flag *unused_ev_flag __attribute__((unused));
const enum csum_state *unused_csum_state __attribute__((unused));
const enum csum_mode *unused_csum_mode __attribute__((unused));
const enum stream_state *unused_stream_state __attribute__((unused));
const enum tls_state *unused_tls_state __attribute__((unused));
const enum tls_flag *unused_tls_flag __attribute__((unused));
const enum flow_kind *unused_flow_kind __attribute__((unused));
const enum flow_flag *unused_flow_flag __attribute__((unused));
const enum hs_action *unused_hs_action __attribute__((unused));
const enum frag_decision *unused_frag_decision __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));
const enum enf_side *unused_enf_side __attribute__((unused));
const enum enf_reset_how *unused_enf_reset_how __attribute__((unused));
const enum enf_what *unused_enf_what __attribute__((unused));
const enum enf_mode *unused_enf_mode __attribute__((unused));

static __always_inline struct counter_set *counters_for(__u32 ifindex)
{
	__u32 slot = ifindex < MAX_IFINDEX ? ifslot[ifindex] : 0;

	return bpf_map_lookup_elem(&counters, &slot);
}

/* A new connection on a tuple with state is settled by the server: a
 * client SYN only records its ISN, and the SYN-ACK that acknowledges it
 * (a server in a synchronised state answers a SYN with a challenge ACK
 * instead, RFC 5961) starts the new connection. A forged SYN thus ends
 * nothing. */
static __always_inline void reopen(struct xdp_md *ctx, struct pkt *p, struct flow *f,
				   const struct flow_key *k, struct counter_set *c)
{
	if (new_connection(p)) {
		f->reopen_isn = p->seq;
		f->flags |= FLOW_F_REOPEN;
		return;
	}
	if (!syn_ack(p) || !(f->flags & FLOW_F_REOPEN))
		return;
	/* TFO data on the SYN may be acknowledged too. */
	if ((__u32)(p->ack - f->reopen_isn - 1) > 0xffff)
		return;
	if (!csum_trusted(ctx, p, c))
		return;
	f->flags &= ~FLOW_F_REOPEN;
	if (cfg.tls_enabled)
		tls_reopened(f, p, c);
	if (f->kind & FLOW_STREAM) {
		stream_reopened(f, k, c);
		hold_reopened(p, k, c);
	}
}

/* A packet hold_check chose: dropped once userspace has its copy, passed
 * (fail open) when the ring had no room. */
static __always_inline int hold_result(int emitted, struct counter_set *c)
{
	if (!emitted) {
		c->v[C_HOLD_LOST]++;
		return XDP_PASS;
	}
	c->v[C_HOLD_DIVERTED]++;
	return XDP_DROP;
}

/* TCP: stream and TLS classes. A global function: verified once, on its
 * own. Returns the packet's action: XDP_DROP for a held one. */
__attribute__((noinline)) int handle_tcp(struct xdp_md *ctx, struct pkt *p,
					 struct counter_set *c)
{
	if (!ctx || !p || !c)
		return XDP_PASS;
	__u8 app = 0;
	int to_watched = 0; /* the destination port is the watched one */

	if (cfg.stream_enabled)
		app = watched_app(p, &to_watched);

	struct flow_key k = {};
	int src_is_a = make_key(p, &k);
	p->src_is_a = src_is_a;
	int created;
	/* HTTP's server is on the watched port. */
	int held = app ? hold_check(p, &k, app, to_watched, c) : 0;
	/* Only data (or a hello) creates state: bare SYNs, FINs and RSTs of
	 * unknown tuples cannot fill the table. */
	struct flow *f = flow_get(&k, (app && p->payload_len) || p->hello, &created, c);
	if (!f) {
		if (app && (held || (p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)))) {
			int err = stream_stateless(ctx, p, to_watched, held, c);
			if (held)
				return hold_result(err == 0, c);
		}
		if (!app && cfg.tls_enabled) {
			if (new_connection(p))
				early_syn(p, &k, src_is_a);
			else
				early_segment(ctx, p, &k, src_is_a, c);
		}
		return XDP_PASS;
	}
	if (created && p->hello && !app && cfg.tls_enabled)
		p->early = early_end(p, &k);

	if (p->tcp_flags & TCP_SYN)
		reopen(ctx, p, f, &k, c);
	if (app) {
		int st = stream_track(ctx, p, &k, f, src_is_a, to_watched, held, c);
		if (held)
			return hold_result(st & ST_HELD, c);
		if (st & ST_BODY)
			p->hello = HELLO_NONE;
	}
	if (cfg.tls_enabled && (p->hello || f->tls_state == TLS_ACTIVE || f->hello_gate_ns))
		return tls_track(ctx, p, f, &k, c);
	return XDP_PASS;
}

/* The fastest path, for the commonest frames: untagged IPv4 without
 * options carrying TCP or UDP that cannot matter. Returns 1 when the
 * packet is done with; 0 sends it through the full parser (which also does
 * all the error counting), so this only ever shortcuts the boring case. */
static __always_inline int fast_ipv4(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *uh = (void *)(ip + 1);

	if ((void *)(uh + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ver_ihl != 0x45 ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if ((void *)ip + tot > data_end)
		return 0;
	/* A packet enforcement may act on takes the full path. */
	if (cfg.enforce && enf_candidate4(ip->saddr, ip->daddr, bpf_ntohs(uh->source), bpf_ntohs(uh->dest)))
		return 0;

	if (ip->protocol == IPPROTO_UDP) {
		/* Only a long header (QUIC Initial candidate) or a tunnel goes on. */
		__u8 *b = (void *)(uh + 1);
		if (tot < sizeof(*ip) + sizeof(*uh))
			return 0;
		if (tunnel_port(bpf_ntohs(uh->source), bpf_ntohs(uh->dest)))
			return 0;
		if (tot == sizeof(*ip) + sizeof(*uh) || (void *)(b + 1) > data_end)
			return 1;
		return !cfg.quic_enabled || !(b[0] & 0x80);
	}
	if (ip->protocol != IPPROTO_TCP)
		return 0;
	struct tcphdr *th = (void *)(ip + 1);
	if ((void *)(th + 1) > data_end)
		return 0;
	__u16 sport = bpf_ntohs(th->source), dport = bpf_ntohs(th->dest);
	if (cfg.stream_enabled && (port_app[sport] | port_app[dport]))
		return 0;
	__u32 doff = (th->doff_res >> 4) * 4;
	if (doff < sizeof(*th) || tot < sizeof(*ip) + doff)
		return 0;
	if (!cfg.tls_enabled)
		return 1;
	if (tot == sizeof(*ip) + doff)
		return !(th->flags & (TCP_FIN | TCP_RST | TCP_SYN));
	/* Anything that may start a record takes the full path, which looks
	 * closer; so does a flow whose filter slot is taken. */
	__u8 *b = (void *)th + (doff & 0x3c);
	if ((void *)(b + 1) > data_end || (b[0] >= TLS_CT_CCS && b[0] <= TLS_CT_HANDSHAKE))
		return 0;
	__u32 idx = filter_index(ip->saddr, ip->daddr, sport, dport);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);
	return s && SLOT_COUNT(s->word) == 0;
}

/* The general fast path: can this TCP packet matter? Only a watched port,
 * a record start, a SYN (a new connection on a tuple with state), or a
 * handshake possibly active in this flow's filter slot send it to
 * handle_tcp. Records what the payload's start says for it. */
static __always_inline int tcp_candidate(struct xdp_md *ctx, struct pkt *p)
{
	if (cfg.tls_enabled)
		p->hello = tls_hello(ctx, p);
	if (cfg.stream_enabled && (port_app[p->dport] | port_app[p->sport]))
		return 1;
	if (!cfg.tls_enabled)
		return 0;
	if (p->payload_len == 0)
		return ((p->tcp_flags & (TCP_FIN | TCP_RST)) && filter_hit(p)) || (p->tcp_flags & TCP_SYN);
	return p->hello || filter_hit(p);
}

/* UDP: only a QUIC long header can matter. */
static __always_inline int udp_candidate(struct xdp_md *ctx, struct pkt *p)
{
	if (!cfg.quic_enabled || p->payload_len < 7)
		return 0;
	__u8 *b = payload_at(ctx, p, 0, 1);
	return b && (b[0] & 0x80);
}

/* A re-injected frame's second word of metadata says whether its
 * fragments were held (REINJECT_HOLD_MAGIC). Read here, not with the
 * first: the entry function's stack is at its limit. */
static __always_inline __u8 reinjected_how(struct xdp_md *ctx)
{
	void *meta = (void *)(long)ctx->data_meta;

	if (meta + 2 * sizeof(__u32) <= (void *)(long)ctx->data && ((__u32 *)meta)[1] == REINJECT_HOLD_MAGIC)
		return REINJECTED_HELD;
	return REINJECTED_PASSED;
}

/* ifindex and reinjected come from the caller, which needs them after:
 * the context's fields are loads through the device, read once. */
static __always_inline int sensor_run(struct xdp_md *ctx, __u32 ifindex, __u8 reinjected, __u8 resent)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct counter_set *c = counters_for(ifindex);

	if (!c)
		return XDP_PASS;
	if (reinjected) {
		c->v[C_REINJECTED]++;
	} else if (resent) {
		c->v[C_RESENT]++;
	} else {
		c->v[C_PACKETS]++;
		c->v[C_BYTES] += data_end - data;
	}
	if (fast_ipv4(data, data_end))
		return XDP_PASS;

	struct pkt p = {};
	p.frame_len = data_end - data;
	int r = parse_packet(ctx, &p, c);
	if (r == PARSE_DEEP)
		r = parse_deep(ctx, &p, c);
	p.reinjected = reinjected ? reinjected_how(ctx) : 0;
	if (cfg.enforce && !reinjected) {
		int act = enforce(ctx, &p, c);
		if (act == ENF_PASS_CHANGED)
			return XDP_PASS;
		if (act != XDP_PASS)
			return act;
	}
	if (r == PARSE_FRAG)
		return handle_frag(ctx, &p, c);
	if (r != PARSE_OK)
		return XDP_PASS;
	if (p.l4proto == IPPROTO_TCP) {
		if (tcp_candidate(ctx, &p))
			return handle_tcp(ctx, &p, c);
	} else if (p.l4proto == IPPROTO_UDP && udp_candidate(ctx, &p)) {
		if (handle_udp(ctx, &p, c) == XDP_DROP)
			return XDP_DROP;
	}
	return XDP_PASS;
}

/* The program that owned an interface before the sensor, by ingress
 * ifindex (sensor.xdp_share = "chain"): what the sensor passes goes on
 * to it, and its verdict stands. Empty slots fall through to XDP_PASS. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, MAX_IFINDEX);
	__type(key, __u32);
	__type(value, __u32);
} chain SEC(".maps");

SEC("xdp")
int edgesensor_xdp(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	void *data = (void *)(long)ctx->data;
	void *meta = (void *)(long)ctx->data_meta;
	int marked = meta + sizeof(__u32) <= data;
	__u8 reinjected = marked && *(__u32 *)meta == REINJECT_MAGIC;
	/* Only the counters ask (before any call): no stack of its own. */
	__u8 resent = marked && *(__u32 *)meta == RESEND_MAGIC;
	/* The mark is the sensor's alone: a chained program, or the stack
	 * after it, gets the frame as it came in. Only ours is taken off:
	 * metadata a program before the sensor put there stays. */
	if (resent)
		bpf_xdp_adjust_meta(ctx, sizeof(__u32));
	int act = sensor_run(ctx, ifindex, reinjected, resent);

	/* A frame userspace re-injects (a reassembled datagram) is not on
	 * the wire: fragments that passed went through the chained program
	 * as they came in; the pieces of held ones go through it when
	 * userspace hands them on (sensor.Holds.Resend, Release). */
	if (reinjected)
		return act;
	if (act == XDP_PASS && ifindex < MAX_IFINDEX && chained[ifindex])
		bpf_tail_call(ctx, &chain, ifindex);
	return act;
}
