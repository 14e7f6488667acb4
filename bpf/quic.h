/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* QUIC Initial packets, v1 and v2 (handshakes ring, EV_CLASS_QUIC): the
 * first quic_budget of a flow (again after it went idle), both directions.
 * A datagram whose UDP checksum the interface's policy rejects is neither
 * emitted nor counted against the budget, so junk cannot spend it before
 * the real ClientHello; userspace, which decrypts them, raises the budget
 * when what came was undecryptable, and ends the flow once both hellos
 * are in (hs_verdicts). */
#ifndef EDGESENSOR_QUIC_H
#define EDGESENSOR_QUIC_H

#include "flow.h"
#include "filter.h"
#include "emit.h"
#include "tls.h"

#define QUIC_V1 0x00000001
#define QUIC_V2 0x6b3343cf

/* Returns the packet's action: XDP_DROP for a server Initial the hello
 * gate holds (tls.h), else XDP_PASS (0 and XDP_PASS alike to the caller). */
__attribute__((noinline)) int handle_udp(struct xdp_md *ctx, struct pkt *p,
					 struct counter_set *c)
{
	if (!ctx || !p || !c)
		return 0;
	if (!cfg.quic_enabled)
		return 0;
	/* Long header, version, DCID length. */
	if (p->payload_len < 7)
		return 0;
	__u8 b[7];
	if (bpf_xdp_load_bytes(ctx, p->payload_off, b, 7) < 0)
		return 0;
	if (!(b[0] & 0x80))
		return 0;
	__u32 version = (__u32)b[1] << 24 | (__u32)b[2] << 16 | (__u32)b[3] << 8 | b[4];
	__u8 type = (b[0] >> 4) & 3;
	if (!((version == QUIC_V1 && type == 0) || (version == QUIC_V2 && type == 1)))
		return 0;
	if (b[5] > 20)
		return 0;
	if (!csum_trusted(ctx, p, c))
		return 0;

	struct flow_key k = {};
	int src_is_a = make_key(p, &k);
	int created;
	struct flow *f = flow_get(&k, 1, &created, c);
	if (!f)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u8 flags = 0;
	/* A new flow, or a tuple reused after the old connection went idle:
	 * the first Initial seen is the client's. */
	if (!(f->kind & FLOW_QUIC) || idle_since(now, f->last_ns)) {
		f->kind |= FLOW_QUIC;
		f->client_is_a = src_is_a;
		f->packets = 0;
		bpf_map_delete_elem(&hs_verdicts, &k);
		c->v[C_FLOWS_QUIC]++;
		flags |= EV_F_FLOW_NEW;
		hello_gate(p, f, 0, now, c);
	}
	f->last_ns = now;
	__u32 budget = cfg.quic_budget;
	struct hs_verdict *v = bpf_map_lookup_elem(&hs_verdicts, &k);
	int from_client = src_is_a == f->client_is_a;
	if (from_client)
		flags |= EV_F_FROM_CLIENT;
	/* A server Initial while the hello gate is up is held, whatever the
	 * budget or userspace's end say (tls.h). */
	if (!from_client && hello_pending(p, f, v, now, c))
		return hello_hold(ctx, p, f, EMIT_META(EV_CLASS_QUIC, flags, 0), c);
	if (v) {
		if (v->action == HS_END) {
			c->v[C_QUIC_BUDGET]++;
			return 0;
		}
		if (v->packets > budget)
			budget = v->packets;
	}
	if (f->packets >= budget) {
		c->v[C_QUIC_BUDGET]++;
		return 0;
	}
	if (emit(ctx, p, f, EMIT_META(EV_CLASS_QUIC, flags, 0), c) == 0)
		f->packets++;
	return XDP_PASS;
}

#endif
