/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Steps of the deep parser (deep.h): IPv4, IPv6 and its extension chain, and TCP.
 * Each reads the header at off into b (40 bytes) and returns as
 * deep_step does: 0 for the next step, 1 to stop. */
#ifndef EDGESENSOR_DEEP_IP_H
#define EDGESENSOR_DEEP_IP_H

#include "deep_state.h"

static __always_inline long deep_ip(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
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
		deep_enf_note(p, d);
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
	deep_enf_note(p, d);
	d->l4_len = plen;
	d->off = off + 40;
	d->next = b[6];
	d->ext = 0;
			d->what = L_IP6EXT;
	return 0;
}

static __always_inline long deep_ip6ext(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
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

static __always_inline long deep_tcp(struct deep_args *a, __u32 off, __u8 *b)
{
	struct xdp_md *ctx = a->ctx;
	struct pkt *p = a->p;
	struct deep *d = a->d;
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

#endif
