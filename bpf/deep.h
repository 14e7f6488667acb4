/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The deep parser (see parse.h): one header per bpf_loop() step, its
 * state in a per-CPU map value (deep_state.h), so the verifier checks
 * one step rather than every path through a stack of encapsulations.
 * The steps are in deep_l2.h, deep_ip.h and deep_tunnel.h. */
#ifndef EDGESENSOR_DEEP_H
#define EDGESENSOR_DEEP_H

#include "deep_state.h"
#include "deep_l2.h"
#include "deep_ip.h"
#include "deep_tunnel.h"

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
		return deep_eth(a, off, b);
	case L_VLAN:
		return deep_vlan(a, off, b);
	case L_MPLS:
		return deep_mpls(a, off, b);
	case L_PPPOE:
		return deep_pppoe(a, off, b);
	case L_IP:
		return deep_ip(a, off, b);
	case L_IP6EXT:
		return deep_ip6ext(a, off, b);
	case L_TCP:
		return deep_tcp(a, off, b);
	case L_GRE:
		return deep_gre(a, off, b);
	case L_UDP:
		return deep_udp(a, off, b);
	case L_VXLAN:
		return deep_vxlan(a, off, b);
	case L_GENEVE:
		return deep_geneve(a, off, b);
	case L_GTP:
		return deep_gtp(a, off, b);
	case L_GTPEXT:
		return deep_gtpext(a, off, b);
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
