/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Steps of the deep parser (deep.h): GRE, and the UDP tunnels: VXLAN, Geneve, GTP-U.
 * Each reads the header at off into b (40 bytes) and returns as
 * deep_step does: 0 for the next step, 1 to stop. */
#ifndef EDGESENSOR_DEEP_TUNNEL_H
#define EDGESENSOR_DEEP_TUNNEL_H

#include "deep_state.h"

static __always_inline long deep_gre(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
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

static __always_inline long deep_udp(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
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

static __always_inline long deep_vxlan(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
	if (bpf_xdp_load_bytes(ctx, off, b, 8) < 0)
		return deep_stop(a, C_TRUNCATED);
	if (!(b[0] & 0x08))
		return deep_stop(a, C_NOT_FOLLOWED);
	p->zone = zone_add(p->zone, Z_VNI, (__u32)b[4] << 16 | (__u32)b[5] << 8 | b[6]);
	d->off = off + 8;
	d->what = L_ETH;
	return 0;
}

static __always_inline long deep_geneve(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
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

static __always_inline long deep_gtp(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
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
}

static __always_inline long deep_gtpext(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct deep *d = a->d;
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

#endif
