/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Checksums of the packets whose bytes change the program's state.
 *
 * A receiver drops a segment whose TCP or IPv4 header checksum is wrong,
 * so such a segment must not end a handshake, move the record walker, or
 * spend a budget: a sender could otherwise blind the sensor with packets
 * the host never sees. Only those packets are checked (handshake and QUIC
 * packets, a stream flow's SYN-ACK), after their frame was copied into the
 * per-CPU scratch buffer that emit() sends from anyway, with
 * bpf_csum_diff() in 512-byte steps.
 *
 * Senders with checksum offload leave only the pseudo-header sum (or 0)
 * in the field, and an XDP program on such a sender's veth, or a capture
 * taken on it, sees that: CSUM_PARTIAL. Whether partial passes is the
 * interface's csum_mode, which userspace sets (tolerant until it has seen
 * the interface carry full checksums, then strict; or as configured).
 */
#ifndef EDGESENSOR_CSUM_H
#define EDGESENSOR_CSUM_H

#include "parse.h"

static __always_inline __u32 csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u32)((sum & 0xffff) + (sum >> 16)) & 0xffff;
}

/* Adds n bytes of the scratch frame from start to sum. Returns -1 when the
 * bytes are not all in the scratch buffer (the caller treats the packet as
 * unchecked). */
static __always_inline __s64 csum_scratch(struct scratch_buf *s, __u32 start, __u32 n, __u32 sum)
{
	__u32 done = 0;

	for (int i = 0; i < MAX_SNAP / 512; i++) {
		if (n - done < 512)
			break;
		__u32 at = start + done;
		if (at > MAX_SNAP - 512)
			return -1;
		__s64 r = bpf_csum_diff(NULL, 0, (__be32 *)&s->data[at], 512, sum);
		if (r < 0)
			return -1;
		sum = (__u32)r;
		done += 512;
	}
	if (n - done >= 512)
		return -1;
	__u32 rest = n - done;
	__u32 at = start + done;
	__u32 rest4 = rest & ~3u;
	if (at > MAX_SNAP - 512)
		return -1;
	if (rest4) {
		__s64 r = bpf_csum_diff(NULL, 0, (__be32 *)&s->data[at], rest4 & 0x1fc, sum);
		if (r < 0)
			return -1;
		sum = (__u32)r;
	}
	if (rest & 3) {
		/* The last one to three bytes, zero-padded as the sum wants. */
		__u8 tail[4] = {};
		__u32 t = at + rest4;
		if (t > MAX_SNAP - 4)
			return -1;
		tail[0] = s->data[t];
		if ((rest & 3) > 1)
			tail[1] = s->data[t + 1];
		if ((rest & 3) > 2)
			tail[2] = s->data[t + 2];
		__s64 r = bpf_csum_diff(NULL, 0, (__be32 *)tail, 4, sum);
		if (r < 0)
			return -1;
		sum = (__u32)r;
	}
	return sum;
}

/* Copies the frame into the scratch buffer once per packet; emit() sends
 * from the same copy. */
static __always_inline struct scratch_buf *stage(struct xdp_md *ctx, struct pkt *p)
{
	__u32 zero = 0;
	struct scratch_buf *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s)
		return NULL;
	if (p->staged)
		return s;
	__u32 len = p->frame_len;
	if (len > MAX_SNAP)
		len = MAX_SNAP;
	if (len < 1)
		return NULL;
	if (bpf_xdp_load_bytes(ctx, 0, s->data, len) < 0)
		return NULL;
	p->staged = 1;
	return s;
}

/* Checks the innermost IPv4 header and the L4 checksum of p and records
 * the result in p->csum. A global function: verified once, on its own. */
__attribute__((noinline)) int csum_verify(struct xdp_md *ctx, struct pkt *p, struct counter_set *c)
{
	if (!ctx || !p || !c)
		return CSUM_UNCHECKED;
	p->csum = CSUM_UNCHECKED;
	if (p->truncated || p->frag || p->reinjected)
		return p->csum; /* the sender's checksum covers bytes we do not have, or we made it */
	__u32 l4_len = p->l4_len;
	if (p->frame_len > MAX_SNAP || l4_len > MAX_SNAP || p->l4_off + l4_len > p->frame_len)
		return p->csum;
	struct scratch_buf *s = stage(ctx, p);
	if (!s)
		return p->csum;

	int partial = 0;
	if (p->family == 4) {
		__u32 l3 = p->l3_off;
		if (l3 > MAX_SNAP - 64)
			return p->csum;
		__u32 ihl = (s->data[l3] & 0x0f) * 4;
		__s64 r = csum_scratch(s, l3, ihl, 0);
		if (r < 0)
			return p->csum;
		if (csum_fold(r) != 0xffff) {
			if (s->data[l3 + 10] | s->data[l3 + 11]) {
				p->csum = CSUM_BAD;
				c->v[C_CSUM_BAD]++;
				return p->csum;
			}
			partial = 1; /* no header checksum at all (captures, tools) */
		}
	}

	/* The pseudo header. */
	__be32 ph[10] = {};
	__u32 ph_len;
	if (p->family == 4) {
		ph[0] = p->saddr[3];
		ph[1] = p->daddr[3];
		ph[2] = bpf_htonl(((__u32)p->l4proto << 16) | (l4_len & 0xffff));
		ph_len = 12;
	} else {
		__builtin_memcpy(&ph[0], p->saddr, 16);
		__builtin_memcpy(&ph[4], p->daddr, 16);
		ph[8] = bpf_htonl(l4_len);
		ph[9] = bpf_htonl(p->l4proto);
		ph_len = 40;
	}
	__s64 pr = bpf_csum_diff(NULL, 0, ph, ph_len, 0);
	if (pr < 0)
		return p->csum;
	__s64 r = csum_scratch(s, p->l4_off, l4_len, (__u32)pr);
	if (r < 0)
		return p->csum;

	__u32 fo = p->l4_off + (p->l4proto == IPPROTO_TCP ? 16 : 6);
	if (fo > MAX_SNAP - 2)
		return p->csum;
	/* Loaded in memory order, as the sums are computed. */
	__u16 field;
	__builtin_memcpy(&field, &s->data[fo], 2);
	if (csum_fold(r) == 0xffff) {
		p->csum = partial ? CSUM_PARTIAL : CSUM_OK;
	} else if (field == 0 && p->l4proto == IPPROTO_UDP && p->family == 4) {
		p->csum = partial ? CSUM_PARTIAL : CSUM_OK; /* UDP over IPv4 without a checksum */
	} else if (field == 0 || field == csum_fold((__u32)pr)) {
		p->csum = CSUM_PARTIAL;
	} else {
		p->csum = CSUM_BAD;
		c->v[C_CSUM_BAD]++;
		return p->csum;
	}
	if (p->csum == CSUM_PARTIAL)
		c->v[C_CSUM_PARTIAL]++;
	return p->csum;
}

/* Does the interface's checksum policy let p change the program's state? */
static __always_inline int csum_trusted(struct xdp_md *ctx, struct pkt *p, struct counter_set *c)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 slot = ifindex < MAX_IFINDEX ? ifslot[ifindex] : 0;
	__u8 mode = slot < MAX_IFSLOTS ? csum_modes[slot] : CSUM_MODE_TOLERANT;

	if (mode == CSUM_MODE_OFF)
		return 1;
	__u8 st = p->csum ? p->csum : csum_verify(ctx, p, c);
	if (st == CSUM_BAD)
		return 0;
	if (st == CSUM_PARTIAL && mode == CSUM_MODE_STRICT)
		return 0;
	return 1;
}

#endif
