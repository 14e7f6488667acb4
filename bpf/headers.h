/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Protocol numbers, the packet headers the parsers read, and what they
 * learn of a packet (struct pkt), with the zone (tunnel identity) rules
 * both parsers share. */
#ifndef EDGESENSOR_HEADERS_H
#define EDGESENSOR_HEADERS_H

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

/* What the direct parser follows; the deep parser the rest. Each IPv6
 * extension header the direct parser unrolls multiplies the paths the
 * verifier walks: 8 took 322k instructions and a quarter of a second of
 * CPU at every load (start, replay), 2 takes 42k and 40 ms. Chains of
 * three or more (rare outside attacks) cost the deep parser's ~100 ns. */
#define VLAN_FAST_DEPTH 2
#define IPV6_EXT_FAST 2
/* The deep parser's bounds (userspace/packet/decap has the same). */
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
	__u8 tls_sealed;    /* tls.h: every byte is past its direction's plaintext handshake */
	__u8 src_is_a;      /* handle_tcp: the source is the flow key's endpoint a */
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

#endif
