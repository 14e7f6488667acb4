/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing, from Ethernet to the innermost TCP/UDP header.
 *
 * Two parsers share one result (struct pkt) and one set of rules (the
 * encapsulation rules of userspace/decap, which reads the same frames in
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

#include <linux/bpf.h>
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include "globals.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_QINQ1 0x9100 /* pre-standard QinQ, still seen on the wire */
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_PPP_SES 0x8864
#define ETH_P_TEB 0x6558 /* transparent Ethernet bridging (GRE, Geneve) */

#define PPP_IP 0x0021
#define PPP_IPV6 0x0057

#define IPPROTO_HOPOPTS 0
#define IPPROTO_IPIP 4
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_IPV6 41
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_GRE 47
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60
#define IPPROTO_MH 135
#define IPPROTO_HIP 139
#define IPPROTO_SHIM6 140

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define PORT_VXLAN 4789
#define PORT_GENEVE 6081
#define PORT_GTPU 2152

/* What the direct parser follows; the deep parser the rest. */
#define VLAN_FAST_DEPTH 2
#define IPV6_EXT_FAST 8
/* The deep parser's bounds (userspace/decap has the same). */
#define MAX_VLAN 4
#define MAX_MPLS 8
#define MAX_IPV6_EXT 32
#define MAX_TUNNELS 4
#define MAX_GTP_EXT 4
#define DEEP_STEPS 96

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
	__u32 payload_len;  /* per the IP header (a first fragment: what it holds) */
	__u32 seq;
	__u32 ack;
	__u32 zone;         /* tunnel identity, part of the flow key */
	__u32 frag_id;      /* fragments: identification */
	__u32 l4_len;       /* L4 header and payload per the IP header */
	__u16 sport;
	__u16 dport;
	__u16 vlan[2];
	__u16 l3_off;       /* the innermost IP header (a fragment: the fragmented one) */
	__u16 l4_off;
	__u16 payload_off;
	__u16 frag_off;     /* fragments: offset of this fragment's data, bytes */
	__u8 family;
	__u8 l4proto;       /* TCP or UDP (a fragment: the protocol it carries) */
	__u8 tcp_flags;
	__u8 truncated;     /* an IP length reaches past the frame */
	__u8 hello;         /* tls.h: what the payload's start looks like */
	__u8 tunnels;       /* tunnel layers around the packet */
	__u8 frag;          /* 0 whole, 1 first fragment (L4 header here), 2 a later one */
	__u8 frag_more;     /* more fragments follow */
	__u8 reinjected;    /* userspace re-injected this frame */
	__u8 csum;          /* enum csum_state, once looked at */
	__u8 staged;        /* the frame is in the scratch buffer (csum.h) */
	__u8 early;         /* tls.h: segments of the connection were emitted early */
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_SKIP = 1, /* fine, but nothing for us (ARP, ICMP...) */
	PARSE_DEEP = 2, /* an encapsulation for the deep parser */
	PARSE_FRAG = 3, /* a fragment (frag.h) */
};

/* Mixes one value into a zone; both parsers mix the same values in the
 * same order, so a frame gets one zone whichever parser read it. */
static __always_inline __u32 zone_mix(__u32 z, __u32 v)
{
	z ^= v + 0x9e3779b9 + (z << 6) + (z >> 2);
	return z;
}

/* Kinds mixed into the zone ahead of their id. */
#define Z_VLAN 1
#define Z_PPPOE 2
#define Z_GRE_KEY 3
#define Z_VNI 4
#define Z_PAIR 5 /* keyless tunnel: the outer address pair, order-free */

static __always_inline __u32 zone_add(__u32 z, __u32 kind, __u32 id)
{
	return zone_mix(zone_mix(z, kind), id);
}

/* The outer address pair of a keyless tunnel, the same both ways. */
static __always_inline __u32 pair_of(struct pkt *p)
{
	return p->saddr[0] ^ p->daddr[0] ^ p->saddr[1] ^ p->daddr[1] ^ p->saddr[2] ^ p->daddr[2] ^
	       p->saddr[3] ^ p->daddr[3];
}

static __always_inline int is_vlan(__u16 proto)
{
	return proto == ETH_P_8021Q || proto == ETH_P_8021AD || proto == ETH_P_QINQ1;
}

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

/* ---- The deep parser ---------------------------------------------------- */

/* What is at deep.off. */
enum layer {
	L_ETH = 0,
	L_VLAN,
	L_MPLS,
	L_PPPOE,
	L_IP, /* IPv4 or IPv6 by its first nibble */
	L_IP6EXT,
	L_GRE,
	L_UDP,
	L_TCP,
	L_VXLAN,
	L_GENEVE,
	L_GTP,
	L_GTPEXT,
};

/* deep.result */
#define DEEP_MORE 0
#define DEEP_OK 1
#define DEEP_STOP 2
#define DEEP_FRAG 3

/* The deep parser's state. It lives in a per-CPU map value, not on the
 * stack: the verifier does not track what a map value holds, so the
 * states of successive steps converge at once instead of being followed
 * value by value. */
struct deep {
	__u32 off;       /* where the next header starts */
	__u32 l4_len;    /* bytes after the current IP header per its length fields */
	__u32 gtp_next;  /* GTP-U: the next extension header type */
	__u8 what;       /* enum layer */
	__u8 next;       /* IPv6 chain: the next header */
	__u8 vlans;
	__u8 mpls;
	__u8 ext;
	__u8 gtp_exts;
	__u8 result;
	__u8 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct deep);
} deep_state SEC(".maps");

/* What a step works on. */
struct deep_args {
	struct xdp_md *ctx;
	struct pkt *p;
	struct counter_set *c;
	struct deep *d;
};

static __always_inline long deep_stop(struct deep_args *a, int counter)
{
	a->c->v[counter]++;
	a->d->result = DEEP_STOP;
	return 1;
}

/* A tunnel layer starts: counted and bounded. */
static __always_inline int deep_tunnel(struct pkt *p)
{
	if (p->tunnels >= MAX_TUNNELS)
		return -1;
	p->tunnels++;
	return 0;
}

/* After an IP header (IPv4 options or the IPv6 chain read): what its
 * protocol leads to. */
static __always_inline long deep_l4(struct deep_args *a, __u8 proto)
{
	struct pkt *p = a->p;
	struct deep *d = a->d;

	p->l4proto = proto;
	p->l4_off = d->off;
	p->l4_len = d->l4_len;
	if (p->frag) {
		if (p->frag == 2 || (proto != IPPROTO_TCP && proto != IPPROTO_UDP)) {
			d->result = DEEP_FRAG;
			return 1;
		}
	}
	switch (proto) {
	case IPPROTO_TCP:
		d->what = L_TCP;
		return 0;
	case IPPROTO_UDP:
		d->what = L_UDP;
		return 0;
	case IPPROTO_IPIP:
	case IPPROTO_IPV6:
		if (deep_tunnel(p) < 0)
			return deep_stop(a, C_NOT_FOLLOWED);
		p->zone = zone_add(p->zone, Z_PAIR, pair_of(p));
		d->what = L_IP;
		return 0;
	case IPPROTO_GRE:
		d->what = L_GRE;
		return 0;
	}
	d->result = DEEP_STOP;
	return 1;
}

static __always_inline void deep_ethertype(struct deep *d, __u16 proto)
{
	if (is_vlan(proto))
		d->what = L_VLAN;
	else if (proto == ETH_P_MPLS_UC || proto == ETH_P_MPLS_MC)
		d->what = L_MPLS;
	else if (proto == ETH_P_PPP_SES)
		d->what = L_PPPOE;
	else if (proto == ETH_P_IP || proto == ETH_P_IPV6)
		d->what = L_IP;
	else
		d->what = 0xff;
}

/* One header. Returns 1 to stop the loop (result says how). */
static long deep_step(__u64 i, void *arg)
{
	struct deep_args *a = arg;
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct counter_set *c = a->c;
	struct deep *d = a->d;
	__u8 b[40];

	if (!ctx || !p || !c || !d)
		return 1;
	__u32 off = d->off;
	if (off > 0x3fff) {
		d->result = DEEP_STOP;
		return 1;
	}

	switch (d->what) {
	case L_ETH:
		if (bpf_xdp_load_bytes(ctx, off, b, 14) < 0)
			return deep_stop(a, C_TRUNCATED);
		d->off = off + 14;
		deep_ethertype(d, (__u16)b[12] << 8 | b[13]);
		if (d->what == 0xff) {
			c->v[C_NON_IP]++;
			d->result = DEEP_STOP;
			return 1;
		}
		return 0;

	case L_VLAN: {
		if (d->vlans >= MAX_VLAN)
			return deep_stop(a, C_VLAN_DEPTH);
		if (bpf_xdp_load_bytes(ctx, off, b, 4) < 0)
			return deep_stop(a, C_TRUNCATED);
		__u16 id = ((__u16)b[0] << 8 | b[1]) & 0x0fff;
		if (d->vlans < 2)
			p->vlan[d->vlans & 1] = id;
		d->vlans++;
		if (cfg.vlan_tracking)
			p->zone = zone_add(p->zone, Z_VLAN, id);
		d->off = off + 4;
		deep_ethertype(d, (__u16)b[2] << 8 | b[3]);
		if (d->what == 0xff) {
			c->v[C_NON_IP]++;
			d->result = DEEP_STOP;
			return 1;
		}
		return 0;
	}

	case L_MPLS:
		if (d->mpls >= MAX_MPLS)
			return deep_stop(a, C_NOT_FOLLOWED);
		if (bpf_xdp_load_bytes(ctx, off, b, 5) < 0)
			return deep_stop(a, C_TRUNCATED);
		if (d->mpls == 0)
			c->v[C_MPLS]++;
		d->mpls++;
		d->off = off + 4;
		if (!(b[2] & 1))
			return 0; /* not the bottom of the stack */
		switch (b[4] >> 4) {
		case 4:
		case 6:
			d->what = L_IP;
			return 0;
		case 0: /* pseudowire control word, then Ethernet */
			d->off = off + 8;
			d->what = L_ETH;
			return 0;
		}
		return deep_stop(a, C_NOT_FOLLOWED);

	case L_PPPOE: {
		if (bpf_xdp_load_bytes(ctx, off, b, 8) < 0)
			return deep_stop(a, C_TRUNCATED);
		if (b[0] != 0x11 || b[1] != 0)
			return deep_stop(a, C_PARSE_ERRORS);
		__u16 ppp = (__u16)b[6] << 8 | b[7];
		c->v[C_PPPOE]++;
		if (ppp != PPP_IP && ppp != PPP_IPV6) {
			c->v[C_NON_IP]++;
			d->result = DEEP_STOP;
			return 1;
		}
		if (cfg.vlan_tracking)
			p->zone = zone_add(p->zone, Z_PPPOE, (__u32)b[2] << 8 | b[3]);
		d->off = off + 8;
		d->what = L_IP;
		return 0;
	}

	case L_IP: {
		if (bpf_xdp_load_bytes(ctx, off, b, 1) < 0)
			return deep_stop(a, C_TRUNCATED);
		p->l3_off = off;
		p->truncated = 0;
		if ((b[0] >> 4) == 4) {
			if (bpf_xdp_load_bytes(ctx, off, b, 20) < 0)
				return deep_stop(a, C_TRUNCATED);
			__u32 ihl = (b[0] & 0x0f) * 4;
			__u32 tot = (__u32)b[2] << 8 | b[3];
			if (ihl < 20 || tot < ihl)
				return deep_stop(a, C_PARSE_ERRORS);
			if (off + tot > p->frame_len)
				p->truncated = 1;
			if (off + ihl > p->frame_len)
				return deep_stop(a, C_TRUNCATED);
			p->family = 4;
			p->saddr[0] = p->saddr[1] = p->daddr[0] = p->daddr[1] = 0;
			p->saddr[2] = p->daddr[2] = bpf_htonl(0x0000ffff);
			__builtin_memcpy(&p->saddr[3], &b[12], 4);
			__builtin_memcpy(&p->daddr[3], &b[16], 4);
			__u16 fo = (__u16)b[6] << 8 | b[7];
			if (fo & 0x3fff)
				set_frag(p, (__u32)b[4] << 8 | b[5], fo & 0x1fff, !!(fo & 0x2000));
			d->l4_len = tot - ihl;
			d->off = off + ihl;
						return deep_l4(a, b[9]);
		}
		if ((b[0] >> 4) != 6)
			return deep_stop(a, C_PARSE_ERRORS);
		if (bpf_xdp_load_bytes(ctx, off, b, 40) < 0)
			return deep_stop(a, C_TRUNCATED);
		__u32 plen = (__u32)b[4] << 8 | b[5];
		if (off + 40 + plen > p->frame_len)
			p->truncated = 1;
		p->family = 6;
		__builtin_memcpy(p->saddr, &b[8], 16);
		__builtin_memcpy(p->daddr, &b[24], 16);
		d->l4_len = plen;
		d->off = off + 40;
		d->next = b[6];
		d->ext = 0;
				d->what = L_IP6EXT;
		return 0;
	}

	case L_IP6EXT: {
		__u8 next = d->next;
		__u32 len;

		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_MH:
		case IPPROTO_HIP:
		case IPPROTO_SHIM6:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT:
			break;
		default:
			return deep_l4(a, next);
		}
		if (d->ext >= MAX_IPV6_EXT)
			return deep_stop(a, C_IPV6_EXT_DEPTH);
		d->ext++;
		if (bpf_xdp_load_bytes(ctx, off, b, 8) < 0)
			return deep_stop(a, C_TRUNCATED);
		if (next == IPPROTO_FRAGMENT) {
			__u16 fo = (__u16)b[2] << 8 | b[3];
			len = 8;
			if (fo & 0xfff9)
				set_frag(p, (__u32)b[4] << 24 | (__u32)b[5] << 16 | (__u32)b[6] << 8 | b[7],
					 fo >> 3, fo & 1);
		} else if (next == IPPROTO_AH) {
			len = ((__u32)b[1] + 2) * 4;
		} else {
			len = ((__u32)b[1] + 1) * 8;
		}
		if (len > d->l4_len)
			return deep_stop(a, C_PARSE_ERRORS);
		d->l4_len -= len;
		d->off = off + len;
		d->next = b[0];
		if (p->frag)
			return deep_l4(a, b[0]);
		return 0;
	}

	case L_GRE: {
		if (bpf_xdp_load_bytes(ctx, off, b, 4) < 0)
			return deep_stop(a, C_TRUNCATED);
		__u16 flags = (__u16)b[0] << 8 | b[1];
		__u16 proto = (__u16)b[2] << 8 | b[3];
		if ((flags & 0x4007) != 0)
			return deep_stop(a, C_NOT_FOLLOWED); /* routing, or not version 0 */
		if (deep_tunnel(p) < 0)
			return deep_stop(a, C_NOT_FOLLOWED);
		__u32 len = 4, key_at = 4;
		if (flags & 0x8000) {
			len += 4;
			key_at += 4;
		}
		if (flags & 0x2000) {
			if (bpf_xdp_load_bytes(ctx, off + key_at, b, 4) < 0)
				return deep_stop(a, C_TRUNCATED);
			p->zone = zone_add(p->zone, Z_GRE_KEY,
					   (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3]);
			len += 4;
		} else {
			p->zone = zone_add(p->zone, Z_PAIR, pair_of(p));
		}
		if (flags & 0x1000)
			len += 4;
		d->off = off + len;
		if (proto == ETH_P_TEB)
			d->what = L_ETH;
		else if (proto == ETH_P_IP || proto == ETH_P_IPV6)
			d->what = L_IP;
		else if (proto == ETH_P_MPLS_UC)
			d->what = L_MPLS;
		else
			return deep_stop(a, C_NOT_FOLLOWED);
		return 0;
	}

	case L_UDP: {
		if (bpf_xdp_load_bytes(ctx, off, b, 8) < 0) {
			if (p->frag) {
				d->result = DEEP_FRAG;
				return 1;
			}
			return deep_stop(a, C_TRUNCATED);
		}
		if (d->l4_len < 8) {
			if (p->frag) {
				d->result = DEEP_FRAG;
				return 1;
			}
			return deep_stop(a, C_PARSE_ERRORS);
		}
		p->sport = (__u16)b[0] << 8 | b[1];
		p->dport = (__u16)b[2] << 8 | b[3];
		p->payload_off = off + 8;
		p->payload_len = d->l4_len - 8;
		if (p->frag) {
			d->result = DEEP_FRAG;
			return 1;
		}
		d->off = off + 8;
		if (p->dport == PORT_VXLAN)
			d->what = L_VXLAN;
		else if (p->dport == PORT_GENEVE)
			d->what = L_GENEVE;
		else if (p->dport == PORT_GTPU || p->sport == PORT_GTPU)
			d->what = L_GTP;
		else {
			d->result = DEEP_OK;
			return 1;
		}
		if (deep_tunnel(p) < 0)
			return deep_stop(a, C_NOT_FOLLOWED);
		return 0;
	}

	case L_VXLAN:
		if (bpf_xdp_load_bytes(ctx, off, b, 8) < 0)
			return deep_stop(a, C_TRUNCATED);
		if (!(b[0] & 0x08))
			return deep_stop(a, C_NOT_FOLLOWED);
		p->zone = zone_add(p->zone, Z_VNI, (__u32)b[4] << 16 | (__u32)b[5] << 8 | b[6]);
		d->off = off + 8;
		d->what = L_ETH;
		return 0;

	case L_GENEVE: {
		if (bpf_xdp_load_bytes(ctx, off, b, 8) < 0)
			return deep_stop(a, C_TRUNCATED);
		if (b[0] >> 6)
			return deep_stop(a, C_NOT_FOLLOWED);
		__u16 proto = (__u16)b[2] << 8 | b[3];
		p->zone = zone_add(p->zone, Z_VNI, (__u32)b[4] << 16 | (__u32)b[5] << 8 | b[6]);
		d->off = off + 8 + (b[0] & 0x3f) * 4;
		if (proto == ETH_P_TEB)
			d->what = L_ETH;
		else if (proto == ETH_P_IP || proto == ETH_P_IPV6)
			d->what = L_IP;
		else
			return deep_stop(a, C_NOT_FOLLOWED);
		return 0;
	}

	case L_GTP:
		if (bpf_xdp_load_bytes(ctx, off, b, 8) < 0)
			return deep_stop(a, C_TRUNCATED);
		if ((b[0] >> 5) != 1 || !(b[0] & 0x10) || b[1] != 0xff)
			return deep_stop(a, C_NOT_FOLLOWED);
		/* TEIDs differ by direction: the outer pair is the identity. */
		p->zone = zone_add(p->zone, Z_PAIR, pair_of(p));
		if (b[0] & 0x07) {
			if (bpf_xdp_load_bytes(ctx, off + 8, b + 8, 4) < 0)
				return deep_stop(a, C_TRUNCATED);
			d->off = off + 12;
			d->gtp_next = b[11];
			d->gtp_exts = 0;
			d->what = L_GTPEXT;
			return 0;
		}
		d->off = off + 8;
		d->what = L_IP;
		return 0;

	case L_GTPEXT: {
		if (d->gtp_next == 0) {
			d->what = L_IP;
			return 0;
		}
		if (d->gtp_exts >= MAX_GTP_EXT)
			return deep_stop(a, C_NOT_FOLLOWED);
		d->gtp_exts++;
		if (bpf_xdp_load_bytes(ctx, off, b, 1) < 0)
			return deep_stop(a, C_TRUNCATED);
		__u32 len = (__u32)b[0] * 4;
		if (len == 0)
			return deep_stop(a, C_PARSE_ERRORS);
		if (bpf_xdp_load_bytes(ctx, off + len - 1, b, 1) < 0)
			return deep_stop(a, C_TRUNCATED);
		d->gtp_next = b[0];
		d->off = off + len;
		return 0;
	}

	case L_TCP: {
		if (bpf_xdp_load_bytes(ctx, off, b, 20) < 0) {
			if (p->frag) {
				d->result = DEEP_FRAG;
				return 1;
			}
			return deep_stop(a, C_TRUNCATED);
		}
		__u32 doff = (b[12] >> 4) * 4;
		if (doff < 20 || (!p->frag && doff > d->l4_len)) {
			if (p->frag) {
				d->result = DEEP_FRAG;
				return 1;
			}
			return deep_stop(a, C_PARSE_ERRORS);
		}
		if (off + doff > p->frame_len) {
			if (p->frag) {
				d->result = DEEP_FRAG;
				return 1;
			}
			return deep_stop(a, C_TRUNCATED);
		}
		p->sport = (__u16)b[0] << 8 | b[1];
		p->dport = (__u16)b[2] << 8 | b[3];
		p->seq = (__u32)b[4] << 24 | (__u32)b[5] << 16 | (__u32)b[6] << 8 | b[7];
		p->ack = (__u32)b[8] << 24 | (__u32)b[9] << 16 | (__u32)b[10] << 8 | b[11];
		p->tcp_flags = b[13];
		p->payload_off = off + doff;
		p->payload_len = d->l4_len > doff ? d->l4_len - doff : 0;
		d->result = p->frag ? DEEP_FRAG : DEEP_OK;
		return 1;
	}
	}
	d->result = DEEP_STOP;
	return 1;
}

/* The deep parser: PARSE_OK, PARSE_FRAG or PARSE_SKIP, like parse_packet.
 * A global function, verified once on its own. */
__attribute__((noinline)) int parse_deep(struct xdp_md *ctx, struct pkt *p, struct counter_set *c)
{
	__u32 zero = 0;

	if (!ctx || !p || !c)
		return PARSE_SKIP;
	struct deep *d = bpf_map_lookup_elem(&deep_state, &zero);
	if (!d)
		return PARSE_SKIP;
	__builtin_memset(d, 0, sizeof(*d));
	d->what = L_ETH;
	struct deep_args a = {.ctx = ctx, .p = p, .c = c, .d = d};
	__u32 frame_len = p->frame_len;

	/* Start over: the direct parser may have filled some of p. */
	__builtin_memset(p, 0, sizeof(*p));
	p->frame_len = frame_len;
	bpf_loop(DEEP_STEPS, deep_step, &a, 0);
	__u8 result = d->result;
	if (result == DEEP_MORE) {
		c->v[C_NOT_FOLLOWED]++;
		return PARSE_SKIP;
	}
	if (result == DEEP_STOP)
		return PARSE_SKIP;
	if (result == DEEP_FRAG) {
		if (p->frag == 1 && p->payload_off) {
			/* A first fragment holds only part of its payload. */
			__u32 po = p->payload_off;
			__u32 have = frame_len > po ? frame_len - po : 0;
			if (p->payload_len > have)
				p->payload_len = have;
		}
		return PARSE_FRAG;
	}
	if (p->tunnels)
		c->v[C_TUNNELED]++;
	if (p->truncated)
		c->v[C_TRUNCATED]++;
	return PARSE_OK;
}

#endif
