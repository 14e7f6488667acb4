/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Enforcement: the verdicts of the analysis become action at line rate.
 *
 *  - Addresses: a packet whose source or destination is on a blocklist
 *    (an exact address or a prefix, enf_exact* and enf_prefix*) is
 *    dropped, in both directions.
 *  - Flows: a flow userspace blocked (a handshake whose SNI, JA3 or JA4
 *    is listed; a malicious file) is dropped both ways; a TCP packet of it
 *    is turned into a reset back to its sender (XDP_TX), so the client
 *    fails fast instead of waiting out its timeouts.
 *
 * Never the reason a network goes down: an allowlisted address on either
 * side wins; a list is in force only until its enf_fresh_until, which a
 * live daemon keeps pushing forward (a dead one's lists lapse); entries
 * and flow blocks expire; in monitor mode nothing is dropped. Everything
 * else costs one prefilter bit per address and one byte of fblock_slots
 * (see fast_ipv4 in sensor.c).
 */
#ifndef EDGESENSOR_ENFORCE_H
#define EDGESENSOR_ENFORCE_H

#include "flow.h"
#include "filter.h"

#define ETH_ZLEN 60

/* fblock_slots is indexed by filter_index(), the TLS filter's hash. */
_Static_assert(FBLOCK_BITS == TLS_FILTER_BITS, "fblock_slots and the TLS filter share filter_index()");

/* enforce()'s verdict for a frame it rewrote into a reset that passes. */
#define ENF_PASS_CHANGED 100

/* Whether a fast-path IPv4 packet may meet enforcement: its addresses'
 * prefilter bits, or a blocked flow in its tuple slot. */
static __always_inline int enf_candidate4(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport)
{
	if (enforce_mode == ENF_OFF)
		return 0;
	return enf_bit(enf_bits4, saddr) || enf_bit(enf_bits4, daddr) ||
	       (fblock_total && fblock_slots[filter_index(saddr, daddr, sport, dport) & ((1 << FBLOCK_BITS) - 1)]);
}

/* Whether the entry is in force now: not expired, its list fresh. */
static __always_inline int enf_usable(struct enf_entry *e, __u64 now, struct counter_set *c)
{
	if (e->expires_ns && now >= e->expires_ns) {
		c->v[C_ENF_EXPIRED]++;
		return 0;
	}
	__u32 list = e->list;
	if (list >= ENF_MAX_LISTS || now >= enf_fresh_until[list]) {
		c->v[C_ENF_STALE]++;
		return 0;
	}
	return 1;
}

/* The blocklist entry in force for address a (family 4: IPv4-mapped), or
 * NULL. An exact address is looked up first, then the longest prefix. */
static __always_inline struct enf_entry *enf_lookup(__u8 family, __u32 *a, __u32 slot, __u64 *now,
						    struct counter_set *c)
{
	struct enf_entry *e = NULL;
	void *m;

	if (family == 4) {
		if (!enf_bit(enf_bits4, a[3]))
			return NULL;
		*now = bpf_ktime_get_ns();
		m = bpf_map_lookup_elem(&enf_exact4, &slot);
		if (m) {
			e = bpf_map_lookup_elem(m, &a[3]);
			if (e && enf_usable(e, *now, c))
				return e;
		}
		m = enf_bit(enf_pbits4, a[3]) ? bpf_map_lookup_elem(&enf_prefix4, &slot) : NULL;
		if (m) {
			struct enf_lpm4 k = {.prefixlen = 32};
			__builtin_memcpy(k.addr, &a[3], 4);
			e = bpf_map_lookup_elem(m, &k);
			if (e && enf_usable(e, *now, c))
				return e;
		}
		return NULL;
	}
	if (!enf_bit(enf_bits6, a[0]))
		return NULL;
	*now = bpf_ktime_get_ns();
	m = bpf_map_lookup_elem(&enf_exact6, &slot);
	if (m) {
		e = bpf_map_lookup_elem(m, a);
		if (e && enf_usable(e, *now, c))
			return e;
	}
	m = enf_bit(enf_pbits6, a[0]) ? bpf_map_lookup_elem(&enf_prefix6, &slot) : NULL;
	if (m) {
		struct enf_lpm6 k = {.prefixlen = 128};
		__builtin_memcpy(k.addr, a, 16);
		e = bpf_map_lookup_elem(m, &k);
		if (e && enf_usable(e, *now, c))
			return e;
	}
	return NULL;
}

/* Whether an allowlist holds either address. */
static __always_inline int enf_allowed(__u8 family, __u32 *saddr, __u32 *daddr)
{
	if (family == 4) {
		struct enf_lpm4 k = {.prefixlen = 32};
		__builtin_memcpy(k.addr, &saddr[3], 4);
		if (bpf_map_lookup_elem(&enf_allow4, &k))
			return 1;
		__builtin_memcpy(k.addr, &daddr[3], 4);
		return bpf_map_lookup_elem(&enf_allow4, &k) != NULL;
	}
	struct enf_lpm6 k = {.prefixlen = 128};
	__builtin_memcpy(k.addr, saddr, 16);
	if (bpf_map_lookup_elem(&enf_allow6, &k))
		return 1;
	__builtin_memcpy(k.addr, daddr, 16);
	return bpf_map_lookup_elem(&enf_allow6, &k) != NULL;
}

/* An address layer of a packet: the innermost (the flow's), or one a
 * tunnel wraps it in. */
struct enf_layer {
	__u32 *saddr;
	__u32 *daddr;
	__u8 family;
};

/* The blocklist entry in force for either address of layer l; side says
 * which matched. Allowlisted addresses count as a pass (*allowed). */
static __always_inline struct enf_entry *enf_layer_hit(struct enf_layer *l, __u32 slot, __u64 *now,
						       __u32 *side, int *allowed, struct counter_set *c)
{
	*side = ENF_SIDE_SRC;
	struct enf_entry *e = enf_lookup(l->family, l->saddr, slot, now, c);
	if (!e) {
		*side = ENF_SIDE_DST;
		e = enf_lookup(l->family, l->daddr, slot, now, c);
	}
	if (e && enf_allowed(l->family, l->saddr, l->daddr)) {
		c->v[C_ENF_ALLOWED]++;
		*allowed = 1;
		return NULL;
	}
	return e;
}

/* Turns the frame into a TCP reset, payload and options cut, checksums
 * computed. reflect: a reset to the packet's sender (addresses, ports and
 * MACs swapped; the sequence numbers RFC 9293 gives a reset answering
 * this segment, so the sender accepts it), for XDP_TX. Otherwise a reset
 * in the packet's own direction, at its sequence number (the next byte
 * the receiver expects, so it accepts it), that the kernel then forwards
 * like the packet. Only for frames whose IP header follows the Ethernet
 * header and up to two VLAN tags directly, without IPv4 options or IPv6
 * extension headers; returns -1 otherwise (the caller drops instead). */
static __always_inline int enf_reset(struct xdp_md *ctx, struct pkt *p, int reflect)
{
	__u32 l3 = p->l3_off, l4 = p->l4_off;
	int v4 = p->family == 4;

	if (p->tunnels || p->frag || p->truncated || p->l4proto != IPPROTO_TCP)
		return -1;
	if (l3 != 14 && l3 != 18 && l3 != 22)
		return -1;
	if (l4 != l3 + (v4 ? 20 : 40))
		return -1;

	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	/* The EtherType right before the IP header: not PPPoE or MPLS. */
	__u32 et_off = l3 - 2;
	asm volatile("" : "+r"(et_off)); /* keep the mask below where it is */
	et_off &= 0x1f;
	__u8 *et = data + et_off;
	if ((void *)(et + 2) > data_end)
		return -1;
	if ((et[0] << 8 | et[1]) != (v4 ? ETH_P_IP : ETH_P_IPV6))
		return -1;

	__u32 want = l4 + sizeof(struct tcphdr);
	__u32 have = data_end - data;
	if (have < want)
		return -1;
	/* The Ethernet minimum (60 bytes without FCS) where the frame has
	 * it: IPv4 resets are shorter; the padding is zeroed below. */
	__u32 keep = want < ETH_ZLEN && have >= ETH_ZLEN ? ETH_ZLEN : want;
	if (have > keep && bpf_xdp_adjust_tail(ctx, -(int)(have - keep)))
		return -1;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	if (reflect) {
		__u8 mac[6];
		__builtin_memcpy(mac, eth->h_dest, 6);
		__builtin_memcpy(eth->h_dest, eth->h_source, 6);
		__builtin_memcpy(eth->h_source, mac, 6);
	}

	l3 &= 0x1f;
	struct tcphdr *th;
	__u32 pseudo[10] = {};
	__u32 plen;
	if (v4) {
		struct iphdr *ip = data + l3;
		th = (void *)(ip + 1);
		if ((void *)(th + 1) > data_end)
			return -1;
		if (reflect) {
			__be32 a = ip->saddr;
			ip->saddr = ip->daddr;
			ip->daddr = a;
			ip->ttl = 64;
			ip->id = 0;
		}
		ip->ver_ihl = 0x45;
		ip->tos = 0;
		ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*th));
		ip->frag_off = bpf_htons(0x4000);
		ip->protocol = IPPROTO_TCP;
		ip->check = 0;
		ip->check = ~csum_fold((__u32)bpf_csum_diff(NULL, 0, (__be32 *)ip, sizeof(*ip), 0)) & 0xffff;
		pseudo[0] = ip->saddr;
		pseudo[1] = ip->daddr;
		pseudo[2] = bpf_htonl(IPPROTO_TCP << 16 | sizeof(*th));
		plen = 12;
	} else {
		struct ipv6hdr *ip6 = data + l3;
		th = (void *)(ip6 + 1);
		if ((void *)(th + 1) > data_end)
			return -1;
		if (reflect) {
			__u32 a[4];
			__builtin_memcpy(a, ip6->saddr, 16);
			__builtin_memcpy(ip6->saddr, ip6->daddr, 16);
			__builtin_memcpy(ip6->daddr, a, 16);
			ip6->hop_limit = 64;
		}
		ip6->payload_len = bpf_htons(sizeof(*th));
		ip6->nexthdr = IPPROTO_TCP;
		__builtin_memcpy(pseudo, ip6->saddr, 16);
		__builtin_memcpy(&pseudo[4], ip6->daddr, 16);
		pseudo[8] = bpf_htonl(sizeof(*th));
		pseudo[9] = bpf_htonl(IPPROTO_TCP);
		plen = 40;
	}

	if (!reflect) {
		/* <SEQ=SEG.SEQ><CTL=RST>: what the receiver expects next. */
		th->flags = TCP_RST;
		th->ack_seq = 0;
	} else if (p->tcp_flags & TCP_ACK) {
		/* <SEQ=SEG.ACK><CTL=RST> */
		__be16 port = th->source;
		th->source = th->dest;
		th->dest = port;
		th->seq = bpf_htonl(p->ack);
		th->ack_seq = 0;
		th->flags = TCP_RST;
	} else {
		/* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
		__be16 port = th->source;
		th->source = th->dest;
		th->dest = port;
		__u32 len = p->payload_len + !!(p->tcp_flags & TCP_SYN) + !!(p->tcp_flags & TCP_FIN);
		th->seq = 0;
		th->ack_seq = bpf_htonl(p->seq + len);
		th->flags = TCP_RST | TCP_ACK;
	}
	th->doff_res = 5 << 4;
	th->window = 0;
	th->urg_ptr = 0;
	th->check = 0;
	if (keep > want) {
		__u8 *pad = (void *)(th + 1);
		if ((void *)(pad + ETH_ZLEN - 54) <= data_end)
			__builtin_memset(pad, 0, ETH_ZLEN - 54);
	}
	__s64 sum = bpf_csum_diff(NULL, 0, (__be32 *)pseudo, plen == 12 ? 12 : 40, 0);
	if (sum < 0)
		return -1;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)th, sizeof(*th), (__u32)sum);
	if (sum < 0)
		return -1;
	th->check = ~csum_fold((__u32)sum) & 0xffff;
	return 0;
}

/* Counts an action, reports it (at most once per entry or flow per
 * ENF_REPORT_NS) and returns what the program does with the packet. */
static __always_inline int enf_act(struct xdp_md *ctx, struct pkt *p, struct enf_layer *l,
				   struct counter_set *c, __u32 what, __u32 side, __u32 list, __u32 level,
				   __u32 reason, __u32 prefixlen, __u64 *reported, __u64 now, int from_client)
{
	__u8 reset = ENF_RESET_NONE;
	int block = enforce_mode == ENF_BLOCK;
	__u64 len = p->frame_len;
	struct enf_list_stats *ls = bpf_map_lookup_elem(&enf_lists, &list);

	if (block) {
		c->v[what == ENF_ADDR ? C_ENF_DROP_ADDR : C_ENF_DROP_FLOW]++;
		c->v[C_ENF_DROP_BYTES] += len;
		if (ls) {
			ls->packets++;
			ls->bytes += len;
		}
	} else {
		c->v[what == ENF_ADDR ? C_ENF_WOULD_ADDR : C_ENF_WOULD_FLOW]++;
		if (ls) {
			ls->would_packets++;
			ls->would_bytes += len;
		}
	}

	/* The record is made before a reset rewrites the frame. */
	struct enf_event *ev = NULL;
	if (now - *reported >= ENF_REPORT_NS) {
		*reported = now;
		ev = bpf_ringbuf_reserve(&actions, sizeof(*ev), 0);
		if (!ev) {
			c->v[C_ENF_EVENT_DROPS]++;
		} else {
			ev->ts_ns = now;
			ev->ifindex = ctx->ingress_ifindex;
			ev->pkt_len = len;
			__builtin_memcpy(ev->saddr, l->saddr, 16);
			__builtin_memcpy(ev->daddr, l->daddr, 16);
			ev->zone = p->zone;
			ev->sport = p->sport;
			ev->dport = p->dport;
			ev->list = list;
			ev->what = what;
			ev->side = side;
			ev->level = level;
			ev->reason = reason;
			ev->prefixlen = prefixlen;
			ev->blocked = block;
			ev->family = l->family;
			ev->l4proto = p->l4proto;
			ev->tcp_flags = p->tcp_flags;
			ev->reset = 0;
			__builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
		}
	}

	/* A blocked TCP flow's client gets a reset: its own packet comes back
	 * as one; the server's goes on to it as one (the client may have
	 * nothing more to send, waiting for the server). */
	int act = block ? XDP_DROP : XDP_PASS;
	if (block && what == ENF_FLOW && p->l4proto == IPPROTO_TCP && !(p->tcp_flags & TCP_RST)) {
		if (from_client && enf_reset(ctx, p, 1) == 0) {
			act = XDP_TX;
			reset = ENF_RESET_TX;
		} else if (!from_client && enf_reset(ctx, p, 0) == 0) {
			act = ENF_PASS_CHANGED;
			reset = ENF_RESET_FORWARD;
		}
		if (reset)
			c->v[C_ENF_RESETS]++;
	}
	if (ev)
		ev->reset = reset;
	if (ev) {
		bpf_ringbuf_submit(ev, 0);
		c->v[C_ENF_EVENTS]++;
	}
	return act;
}

/* What enforcement does with a parsed packet: XDP_PASS, XDP_DROP, XDP_TX
 * (a reset back), or ENF_PASS_CHANGED (a reset that passes on: the frame
 * changed, nothing else may look at it). A global function: verified
 * once, on its own. */
__attribute__((noinline)) int enforce(struct xdp_md *ctx, struct pkt *p, struct counter_set *c)
{
	if (!ctx || !p || !c)
		return XDP_PASS;
	if (enforce_mode == ENF_OFF || (p->family != 4 && p->family != 6))
		return XDP_PASS;

	__u32 slot = enf_gen & 1;
	__u64 now = 0;
	__u32 side;
	int allowed = 0;
	struct enf_layer in = {.saddr = p->saddr, .daddr = p->daddr, .family = p->family};
	struct enf_entry *e = enf_layer_hit(&in, slot, &now, &side, &allowed, c);
	if (e)
		return enf_act(ctx, p, &in, c, ENF_ADDR, side, e->list, e->level, 0, e->prefixlen,
			       &e->reported_ns, now, 0);
	if (allowed)
		return XDP_PASS;
	if (p->tunnels) {
		/* The tunnel layers' endpoints (deep.h noted those in the
		 * prefilter). */
		__u32 zero = 0;
		struct deep *d = bpf_map_lookup_elem(&deep_state, &zero);
		for (int i = 0; d && i < ENF_LAYERS; i++) {
			if (i >= d->enf_n)
				break;
			struct enf_layer out = {.saddr = d->enf[i].saddr, .daddr = d->enf[i].daddr,
						.family = d->enf[i].family};
			if (out.family != 4 && out.family != 6)
				break;
			e = enf_layer_hit(&out, slot, &now, &side, &allowed, c);
			if (e)
				return enf_act(ctx, p, &out, c, ENF_ADDR, side, e->list, e->level, 0, e->prefixlen,
					       &e->reported_ns, now, 0);
			if (allowed)
				return XDP_PASS;
		}
	}

	if ((p->l4proto != IPPROTO_TCP && p->l4proto != IPPROTO_UDP) || p->frag == 2)
		return XDP_PASS;
	if (p->frag == 1 && !p->payload_off && fblock_total) {
		/* A first fragment too short for its ports (RFC 1858's tiny
		 * fragment): no flow can be told, so with flows blocked none
		 * passes. Real senders never split an L4 header. */
		c->v[C_ENF_TINY_FRAG]++;
		return enforce_mode == ENF_BLOCK ? XDP_DROP : XDP_PASS;
	}
	if (!fblock_total || !fblock_slots[tuple_hash(p) & ((1 << FBLOCK_BITS) - 1)])
		return XDP_PASS;
	struct flow_key k = {};
	int src_is_a = make_key(p, &k);
	struct flow_block *b = bpf_map_lookup_elem(&flow_blocks, &k);
	if (!b)
		return XDP_PASS;
	if (!now)
		now = bpf_ktime_get_ns();
	__u32 list = b->list;
	if (now >= b->expires_ns) {
		c->v[C_ENF_EXPIRED]++;
		return XDP_PASS;
	}
	if (list >= ENF_MAX_LISTS || now >= enf_fresh_until[list]) {
		c->v[C_ENF_STALE]++;
		return XDP_PASS;
	}
	if (enf_allowed(p->family, p->saddr, p->daddr)) {
		c->v[C_ENF_ALLOWED]++;
		return XDP_PASS;
	}
	return enf_act(ctx, p, &in, c, ENF_FLOW, 0, list, b->level, b->reason, 0, &b->reported_ns, now,
		       src_is_a == b->client_is_a);
}

#endif
