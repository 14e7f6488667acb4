/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing over a bounds-checked cursor. Every read is checked against
 * data_end before it happens; every loop has a compile-time bound. A packet
 * the parser cannot follow is counted and passed, never rejected. */
#ifndef EDGESENSOR_PARSE_H
#define EDGESENSOR_PARSE_H

#include <linux/bpf.h>
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include "types.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_QINQ1 0x9100 /* pre-standard QinQ, still seen on the wire */

#define IPPROTO_HOPOPTS 0
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60
#define IPPROTO_MH 135

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* QinQ: outer service tag and inner customer tag. */
#define VLAN_MAX_DEPTH 2
/* Hop-by-hop, routing, fragment, destination options, AH, mobility... */
#define IPV6_EXT_MAX 8

struct ethhdr {
	__u8 h_dest[6];
	__u8 h_source[6];
	__be16 h_proto;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u32 saddr[4];
	__u32 daddr[4];
};

struct ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M flag */
	__be32 id;
};

struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; /* data offset in the high nibble */
	__u8 flags;
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

/* What the parser learnt about one packet: scalars only, no packet
 * pointers, so it can be handed to the global (separately verified)
 * functions of sensor.c. Addresses are kept as IPv6 words (IPv4 as
 * ::ffff:a.b.c.d) so flow keys and events need one shape. */
struct pkt {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 frame_len;
	__u32 payload_len;  /* per the IP header */
	__u32 seq;
	__u32 ack;
	__u16 sport;
	__u16 dport;
	__u16 vlan[2];
	__u16 l3_off;
	__u16 l4_off;
	__u16 payload_off;
	__u8 family;
	__u8 l4proto;
	__u8 tcp_flags;
	__u8 truncated;     /* IP length reaches past the frame */
	__u8 hello;         /* 1 ClientHello, 2 ServerHello record at payload start (sensor.c) */
	__u8 _pad[3];
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_SKIP = 1, /* fine, but nothing for us (ARP, ICMP, fragment...) */
};

/* Ethernet with up to VLAN_MAX_DEPTH tags; returns the EtherType after the
 * tags or 0 when the frame is too short or too deeply tagged. */
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
	for (int i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD && proto != ETH_P_QINQ1)
			return proto;
		struct vlan_hdr *vh = *pos;
		if ((void *)(vh + 1) > data_end) {
			c->v[C_TRUNCATED]++;
			return 0;
		}
		p->vlan[i] = bpf_ntohs(vh->tci) & 0x0fff;
		proto = bpf_ntohs(vh->proto);
		*pos = vh + 1;
	}
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD || proto == ETH_P_QINQ1) {
		c->v[C_VLAN_DEPTH]++;
		return 0;
	}
	return proto;
}

/* IPv4 with options. Returns the L4 protocol, or -1 to stop. *l4_len is the
 * L4 length per the IP header. */
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
	/* Any fragment (offset or MF set) lacks a whole L4 segment. */
	if (ip->frag_off & bpf_htons(0x3fff)) {
		c->v[C_FRAGMENTS]++;
		return -1;
	}
	if ((void *)ip + tot > data_end)
		p->truncated = 1;

	p->family = 4;
	p->saddr[2] = bpf_htonl(0x0000ffff);
	p->saddr[3] = ip->saddr;
	p->daddr[2] = bpf_htonl(0x0000ffff);
	p->daddr[3] = ip->daddr;
	*l4_len = tot - ihl;
	*pos = (void *)ip + ihl;
	return ip->protocol;
}

/* IPv6 with up to IPV6_EXT_MAX extension headers. Returns the L4 protocol
 * or -1 to stop. */
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
	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		__u32 len;

		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_MH: {
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
			/* Only an atomic fragment (offset 0, no M) holds a whole segment. */
			if (fh->frag_off & bpf_htons(0xfff9)) {
				c->v[C_FRAGMENTS]++;
				return -1;
			}
			len = sizeof(*fh);
			next = fh->nexthdr;
			break;
		}
		default:
			*l4_len = remain;
			return next;
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
	}
	switch (next) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		c->v[C_IPV6_EXT_DEPTH]++;
		return -1;
	}
	*l4_len = remain;
	return next;
}

/* Parses L2 to L4. Returns PARSE_OK for a TCP or UDP packet whose headers
 * are all in the frame, PARSE_SKIP otherwise (counted where it matters). */
static __always_inline int parse_packet(void *data, void *data_end, struct pkt *p,
					struct counter_set *c)
{
	void *pos = data;
	__u32 l4_len = 0;
	int proto;

	p->frame_len = data_end - data;

	__u16 eth_proto = parse_eth(&pos, data_end, p, c);
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
	if (proto < 0)
		return PARSE_SKIP;
	p->l4_off = pos - data;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = pos;
		if ((void *)(th + 1) > data_end) {
			c->v[C_TRUNCATED]++;
			return PARSE_SKIP;
		}
		__u32 doff = (th->doff_res >> 4) * 4;
		if (doff < sizeof(*th) || doff > l4_len) {
			c->v[C_PARSE_ERRORS]++;
			return PARSE_SKIP;
		}
		if (pos + doff > data_end) {
			c->v[C_TRUNCATED]++;
			return PARSE_SKIP;
		}
		p->l4proto = IPPROTO_TCP;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->seq = bpf_ntohl(th->seq);
		p->ack = bpf_ntohl(th->ack_seq);
		p->tcp_flags = th->flags;
		p->payload_len = l4_len - doff;
		pos += doff;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = pos;
		if ((void *)(uh + 1) > data_end) {
			c->v[C_TRUNCATED]++;
			return PARSE_SKIP;
		}
		if (l4_len < sizeof(*uh)) {
			c->v[C_PARSE_ERRORS]++;
			return PARSE_SKIP;
		}
		p->l4proto = IPPROTO_UDP;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->payload_len = l4_len - sizeof(*uh);
		pos = uh + 1;
	} else {
		return PARSE_SKIP;
	}
	p->payload_off = pos - data;
	if (p->truncated)
		c->v[C_TRUNCATED]++;
	return PARSE_OK;
}

#endif
