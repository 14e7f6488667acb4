/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The deep parser's layers, its state (a per-CPU map value: bpf_loop()
 * steps share it) and the helpers its steps share. */
#ifndef EDGESENSOR_DEEP_STATE_H
#define EDGESENSOR_DEEP_STATE_H

#include "parse.h"

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
/* IP layers of one packet enforcement looks at, besides the innermost:
 * as deep as the parser follows tunnels. */
#define ENF_LAYERS (MAX_TUNNELS + 1)

struct deep {
	/* Enforcement: the IP layers with an address in the prefilter
	 * (enforce.h checks them besides the innermost, so a tunnel does not
	 * hide a blocklisted endpoint). */
	struct {
		__u32 saddr[4];
		__u32 daddr[4];
		__u8 family;
		__u8 _pad[3];
	} enf[ENF_LAYERS];
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
	__u8 enf_n;      /* layers noted in enf */
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

/* Notes the IP layer just read (p's addresses) for enforcement when its
 * addresses are in the prefilter. */
static __always_inline void deep_enf_note(struct pkt *p, struct deep *d)
{
	if (!cfg.enforce)
		return;
	int hit = p->family == 4 ? enf_bit(enf_bits4, p->saddr[3]) || enf_bit(enf_bits4, p->daddr[3])
				 : enf_bit(enf_bits6, p->saddr[0]) || enf_bit(enf_bits6, p->daddr[0]);
	__u32 n = d->enf_n;
	if (!hit || n >= ENF_LAYERS)
		return;
	d->enf[n].family = p->family;
	__builtin_memcpy(d->enf[n].saddr, p->saddr, 16);
	__builtin_memcpy(d->enf[n].daddr, p->daddr, 16);
	d->enf_n = n + 1;
}

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

#endif
