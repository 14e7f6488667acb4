/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Steps of the deep parser (deep.h): Ethernet, VLAN tags, MPLS label stacks and PPPoE sessions.
 * Each reads the header at off into b (40 bytes) and returns as
 * deep_step does: 0 for the next step, 1 to stop. */
#ifndef EDGESENSOR_DEEP_L2_H
#define EDGESENSOR_DEEP_L2_H

#include "deep_state.h"

static __always_inline long deep_eth(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct counter_set *c = a->c;
	struct deep *d = a->d;
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
}

static __always_inline long deep_vlan(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct counter_set *c = a->c;
	struct deep *d = a->d;
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

static __always_inline long deep_mpls(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct counter_set *c = a->c;
	struct deep *d = a->d;
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
}

static __always_inline long deep_pppoe(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct counter_set *c = a->c;
	struct deep *d = a->d;
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

#endif
