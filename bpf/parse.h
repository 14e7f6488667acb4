/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing, from Ethernet to the innermost TCP/UDP header.
 *
 * Two parsers share one result (struct pkt) and one set of rules (the
 * encapsulation rules of userspace/packet/decap, which reads the same frames in
 * Go; a test compares the two):
 *
 *  - parse_packet(): direct packet access over a bounds-checked cursor, for
 *    what nearly all traffic is: Ethernet, up to two VLAN tags, IPv4 with
 *    options or IPv6 with a few extension headers, TCP or UDP. It hands
 *    anything else to the deep parser (PARSE_DEEP).
 *  - parse_deep(): one header per bpf_loop() step, each read with
 *    bpf_xdp_load_bytes() at a scalar offset, so the verifier checks one
 *    step instead of every path through a stack of encapsulations: up to
 *    MAX_VLAN VLAN tags, MPLS label stacks, PPPoE sessions, GRE (with
 *    key, sequence, checksum; IPv4, IPv6, Ethernet or MPLS inside), IPIP,
 *    6in4, IPv6-in-IPv6, 4in6, VXLAN, Geneve and GTP-U, MAX_TUNNELS deep,
 *    and IPv6 extension chains of MAX_IPV6_EXT headers.
 *
 * A packet the parsers cannot follow is counted and passed, never rejected.
 * The tunnel identity becomes pkt.zone, part of the flow key.
 */
#ifndef EDGESENSOR_PARSE_H
#define EDGESENSOR_PARSE_H

#include "headers.h"

/* Ethernet with up to VLAN_FAST_DEPTH tags; returns the EtherType after
 * them, 0 when the frame is too short, or 1 when the deep parser must
 * take over (more tags, MPLS, PPPoE). */
static __always_inline __u16 parse_eth(void **pos, void *data_end, struct pkt *p,
				       struct counter_set *c)
{
	struct ethhdr *eth = *pos;

	if ((void *)(eth + 1) > data_end) {
		c->v[C_TRUNCATED]++;
		return 0;
	}
	__u16 proto = bpf_ntohs(eth->h_proto);
	*pos = eth + 1;

#pragma unroll
	for (int i = 0; i < VLAN_FAST_DEPTH; i++) {
		if (!is_vlan(proto))
			break;
		struct vlan_hdr *vh = *pos;
		if ((void *)(vh + 1) > data_end) {
			c->v[C_TRUNCATED]++;
			return 0;
		}
		p->vlan[i] = bpf_ntohs(vh->tci) & 0x0fff;
		proto = bpf_ntohs(vh->proto);
		*pos = vh + 1;
	}
	if (is_vlan(proto) || proto == ETH_P_MPLS_UC || proto == ETH_P_MPLS_MC || proto == ETH_P_PPP_SES)
		return 1;
	return proto;
}

/* Records a fragment's identity. off8 is the offset in 8-byte units. */
static __always_inline void set_frag(struct pkt *p, __u32 id, __u32 off8, int more)
{
	p->frag = off8 ? 2 : 1;
	p->frag_off = off8 * 8;
	p->frag_more = more;
	p->frag_id = id;
}

/* IPv4 with options. Returns the L4 protocol, or -1 to stop, -2 for the
 * deep parser. *l4_len is the L4 length per the IP header. */
static __always_inline int parse_ipv4(void **pos, void *data_end, struct pkt *p,
				      __u32 *l4_len, struct counter_set *c)
{
	struct iphdr *ip = *pos;

	if ((void *)(ip + 1) > data_end) {
		c->v[C_TRUNCATED]++;
		return -1;
	}
	__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
	if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip)) {
		c->v[C_PARSE_ERRORS]++;
		return -1;
	}
	if ((void *)ip + ihl > data_end) {
		c->v[C_TRUNCATED]++;
		return -1;
	}
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (tot < ihl) {
		c->v[C_PARSE_ERRORS]++;
		return -1;
	}
	if (ip->protocol == IPPROTO_IPIP || ip->protocol == IPPROTO_IPV6 || ip->protocol == IPPROTO_GRE)
		return -2;
	if ((void *)ip + tot > data_end)
		p->truncated = 1;

	p->family = 4;
	p->saddr[2] = bpf_htonl(0x0000ffff);
	p->saddr[3] = ip->saddr;
	p->daddr[2] = bpf_htonl(0x0000ffff);
	p->daddr[3] = ip->daddr;
	__u16 fo = bpf_ntohs(ip->frag_off);
	if (fo & 0x3fff)
		set_frag(p, bpf_ntohs(ip->id), fo & 0x1fff, !!(fo & 0x2000));
	*l4_len = tot - ihl;
	*pos = (void *)ip + ihl;
	return ip->protocol;
}

/* IPv6 with up to IPV6_EXT_FAST extension headers. Returns the L4
 * protocol, -1 to stop, -2 for the deep parser. */
static __always_inline int parse_ipv6(void **pos, void *data_end, struct pkt *p,
				      __u32 *l4_len, struct counter_set *c)
{
	struct ipv6hdr *ip6 = *pos;

	if ((void *)(ip6 + 1) > data_end) {
		c->v[C_TRUNCATED]++;
		return -1;
	}
	if ((bpf_ntohl(ip6->ver_tc_flow) >> 28) != 6) {
		c->v[C_PARSE_ERRORS]++;
		return -1;
	}
	__u32 remain = bpf_ntohs(ip6->payload_len);
	__u8 next = ip6->nexthdr;

	p->family = 6;
	__builtin_memcpy(p->saddr, ip6->saddr, 16);
	__builtin_memcpy(p->daddr, ip6->daddr, 16);
	if ((void *)(ip6 + 1) + remain > data_end)
		p->truncated = 1;
	*pos = ip6 + 1;

#pragma unroll
	for (int i = 0; i < IPV6_EXT_FAST; i++) {
		__u32 len;

		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_MH:
		case IPPROTO_HIP:
		case IPPROTO_SHIM6: {
			struct ipv6_opt_hdr *oh = *pos;
			if ((void *)(oh + 1) > data_end) {
				c->v[C_TRUNCATED]++;
				return -1;
			}
			len = ((__u32)oh->hdrlen + 1) * 8;
			next = oh->nexthdr;
			break;
		}
		case IPPROTO_AH: {
			struct ipv6_opt_hdr *oh = *pos;
			if ((void *)(oh + 1) > data_end) {
				c->v[C_TRUNCATED]++;
				return -1;
			}
			len = ((__u32)oh->hdrlen + 2) * 4;
			next = oh->nexthdr;
			break;
		}
		case IPPROTO_FRAGMENT: {
			struct ipv6_frag_hdr *fh = *pos;
			if ((void *)(fh + 1) > data_end) {
				c->v[C_TRUNCATED]++;
				return -1;
			}
			/* An atomic fragment (offset 0, no M) holds a whole packet. */
			__u16 fo = bpf_ntohs(fh->frag_off);
			if (fo & 0xfff9)
				set_frag(p, bpf_ntohl(fh->id), fo >> 3, fo & 1);
			len = sizeof(*fh);
			next = fh->nexthdr;
			break;
		}
		default:
			goto done;
		}
		if (len > remain) {
			c->v[C_PARSE_ERRORS]++;
			return -1;
		}
		remain -= len;
		*pos += len;
		if (*pos > data_end) {
			c->v[C_TRUNCATED]++;
			return -1;
		}
		if (p->frag)
			goto done; /* the fragment header ends what we can read */
	}
	switch (next) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case IPPROTO_HIP:
	case IPPROTO_SHIM6:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		return -2; /* a longer chain: the deep parser follows it */
	}
done:
	if (!p->frag && (next == IPPROTO_IPIP || next == IPPROTO_IPV6 || next == IPPROTO_GRE))
		return -2;
	*l4_len = remain;
	return next;
}

static __always_inline int tunnel_port(__u16 sport, __u16 dport)
{
	return dport == PORT_VXLAN || dport == PORT_GENEVE || dport == PORT_GTPU || sport == PORT_GTPU;
}

/* Parses L2 to L4 directly. PARSE_OK: a TCP or UDP packet whose headers
 * are all in the frame; PARSE_FRAG: a fragment (a first fragment with its
 * L4 header read when it holds one); PARSE_DEEP: an encapsulation;
 * PARSE_SKIP otherwise (counted where it matters). A global function: its
 * many paths are verified once, not once per path of its caller. */
__attribute__((noinline)) int parse_packet(struct xdp_md *ctx, struct pkt *p, struct counter_set *c)
{
	if (!ctx || !p || !c)
		return PARSE_SKIP;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *pos = data;
	__u32 l4_len = 0;
	int proto;

	p->frame_len = data_end - data;

	__u16 eth_proto = parse_eth(&pos, data_end, p, c);
	if (eth_proto == 1)
		return PARSE_DEEP;
	if (p->vlan[0] && cfg.vlan_tracking) {
		p->zone = zone_add(p->zone, Z_VLAN, p->vlan[0]);
		if (p->vlan[1])
			p->zone = zone_add(p->zone, Z_VLAN, p->vlan[1]);
	}
	p->l3_off = pos - data;
	if (eth_proto == ETH_P_IP) {
		proto = parse_ipv4(&pos, data_end, p, &l4_len, c);
	} else if (eth_proto == ETH_P_IPV6) {
		proto = parse_ipv6(&pos, data_end, p, &l4_len, c);
	} else {
		if (eth_proto)
			c->v[C_NON_IP]++;
		return PARSE_SKIP;
	}
	if (proto == -2)
		return PARSE_DEEP;
	if (proto < 0)
		return PARSE_SKIP;
	p->l4_off = pos - data;
	p->l4proto = proto;
	p->l4_len = l4_len;
	if (p->frag == 2)
		return PARSE_FRAG;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = pos;
		if ((void *)(th + 1) > data_end) {
			if (p->frag)
				return PARSE_FRAG; /* a tiny first fragment */
			c->v[C_TRUNCATED]++;
			return PARSE_SKIP;
		}
		__u32 doff = (th->doff_res >> 4) * 4;
		if (doff < sizeof(*th) || (!p->frag && doff > l4_len)) {
			if (p->frag)
				return PARSE_FRAG;
			c->v[C_PARSE_ERRORS]++;
			return PARSE_SKIP;
		}
		if (pos + doff > data_end) {
			if (p->frag)
				return PARSE_FRAG;
			c->v[C_TRUNCATED]++;
			return PARSE_SKIP;
		}
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->seq = bpf_ntohl(th->seq);
		p->ack = bpf_ntohl(th->ack_seq);
		p->tcp_flags = th->flags;
		p->payload_len = l4_len > doff ? l4_len - doff : 0;
		pos += doff;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = pos;
		if ((void *)(uh + 1) > data_end) {
			if (p->frag)
				return PARSE_FRAG;
			c->v[C_TRUNCATED]++;
			return PARSE_SKIP;
		}
		if (l4_len < sizeof(*uh)) {
			if (p->frag)
				return PARSE_FRAG;
			c->v[C_PARSE_ERRORS]++;
			return PARSE_SKIP;
		}
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		if (!p->frag && tunnel_port(p->sport, p->dport))
			return PARSE_DEEP;
		p->payload_len = l4_len - sizeof(*uh);
		pos = uh + 1;
	} else {
		return p->frag ? PARSE_FRAG : PARSE_SKIP;
	}
	p->payload_off = pos - data;
	if (p->frag) {
		/* A first fragment: its payload is what it holds. */
		__u32 have = data_end - pos;
		if (p->payload_len > have)
			p->payload_len = have;
		return PARSE_FRAG;
	}
	if (p->truncated)
		c->v[C_TRUNCATED]++;
	return PARSE_OK;
}

#endif
