/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IP fragments (fragments ring, EV_CLASS_FRAG). A fragment carries no
 * whole L4 segment, so the program cannot analyse it; userspace
 * reassembles datagrams as the receiving host would and re-injects each
 * whole one through this same program (BPF_PROG_TEST_RUN, marked by
 * REINJECT_MAGIC metadata), so it meets the flow table like any packet.
 *
 * To keep ordinary fragmented traffic in the kernel, the first fragment
 * (the one with the L4 header) decides for its datagram: a candidate (a
 * watched port, a TLS record start, a tracked flow, a QUIC long header, a
 * tunnel) is wanted, anything else skipped; later fragments of a skipped
 * datagram are not emitted. Fragments that come before their first one
 * are emitted, and the decision is forgotten after FRAG_DECISION_NS, as
 * identifications are reused. */
#ifndef EDGESENSOR_FRAG_H
#define EDGESENSOR_FRAG_H

#include "flow.h"
#include "tls.h"
#include "hold.h"

#define FRAG_DECISION_NS (2ULL * 1000000000ULL)

/* Can the datagram whose first fragment p is matter? */
static __always_inline int frag_wanted(struct xdp_md *ctx, struct pkt *p)
{
	if (!p->payload_off)
		return 1; /* too short to hold its L4 header: cannot tell */
	switch (p->l4proto) {
	case IPPROTO_TCP: {
		if (cfg.stream_enabled && (port_app[p->sport] | port_app[p->dport]))
			return 1;
		if (!cfg.tls_enabled)
			return 0;
		if (tls_hello(ctx, p))
			return 1;
		struct flow_key k = {};
		make_key(p, &k);
		return bpf_map_lookup_elem(&flows, &k) != NULL;
	}
	case IPPROTO_UDP: {
		if (tunnel_port(p->sport, p->dport))
			return 1;
		if (!cfg.quic_enabled || p->payload_len < 1)
			return 0;
		__u8 b0;
		if (bpf_xdp_load_bytes(ctx, p->payload_off, &b0, 1) < 0)
			return 1;
		return b0 & 0x80;
	}
	case IPPROTO_IPIP:
	case IPPROTO_IPV6:
	case IPPROTO_GRE:
		return 1;
	}
	return 0;
}

/* The first fragment p of a server datagram of a TLS flow whose hello
 * gate is up (tls.h hello_gate): is the datagram to be held? As a
 * packet, it would be (hello_pending); as fragments, it would reach the
 * client before the hello's verdict. Held, userspace reassembles it and
 * hands it in again (REINJECTED_HELD), where the gate holds it like a
 * packet of the wire. Its fail open is the gate's own clock (a gate up
 * for hello_hold_ns lets everything through). A global function: its
 * stack is its own. */
__attribute__((noinline)) int frag_hello_hold(struct pkt *p, struct counter_set *c)
{
	if (!p || !c)
		return 0;
	if (!hello_hold_ns || !cfg.enforce || !cfg.tls_enabled || enforce_mode != ENF_BLOCK)
		return 0;
	if (!p->payload_off) {
		/* Its TCP header cut (RFC 1858) or hidden (IPv6 extension
		 * headers after the fragment header): no flow to look up.
		 * Held while the daemon lives, as frag_hold does; a piece no
		 * gate holds userspace hands on. */
		return frag_tcp_hidden(p) && bpf_ktime_get_ns() < hello_alive_until;
	}
	if (p->l4proto != IPPROTO_TCP)
		return 0;
	struct flow_key k = {};
	int src_is_a = make_key(p, &k);
	struct flow *f = bpf_map_lookup_elem(&flows, &k);
	if (!f || !f->hello_gate_ns || src_is_a == f->client_is_a)
		return 0;
	struct hs_verdict *v = bpf_map_lookup_elem(&hs_verdicts, &k);
	return hello_pending(p, f, v, bpf_ktime_get_ns(), c);
}

/* Emits fragment p; one of a held datagram flagged so, waking the
 * reader. Returns emit's result. */
static __always_inline int frag_emit(struct xdp_md *ctx, struct pkt *p, struct counter_set *c, int held)
{
	if (held)
		return emit(ctx, p, NULL, EMIT_META(EV_CLASS_FRAG, 0, p->frag | EV_STATE_HELD) | EMIT_WAKE, c);
	return emit(ctx, p, NULL, EMIT_META(EV_CLASS_FRAG, 0, p->frag), c);
}

/* Returns the fragment's action: XDP_DROP for one of a held datagram
 * (hold.h frag_hold) that userspace has. */
__attribute__((noinline)) int handle_frag(struct xdp_md *ctx, struct pkt *p, struct counter_set *c)
{
	if (!ctx || !p || !c)
		return XDP_PASS;
	c->v[C_FRAGMENTS]++;
	if (!cfg.frag_enabled)
		return XDP_PASS;
	struct frag_key fk = {};
	__builtin_memcpy(fk.saddr, p->saddr, 16);
	__builtin_memcpy(fk.daddr, p->daddr, 16);
	fk.id = p->frag_id;
	fk.zone = p->zone;
	fk.proto = p->l4proto;
	__u64 now = bpf_ktime_get_ns();
	int held = 0;

	if (p->frag == 1) {
		struct frag_state st = {.ts_ns = now};
		int want = frag_wanted(ctx, p);
		/* Cut at the snaplen, a fragment could not be put together
		 * again: its datagram would be held for as long as the daemon
		 * lives. (The first fragment is the largest.) */
		held = want && p->frame_len <= cfg.snaplen ? frag_hold(ctx, p, c) || frag_hello_hold(p, c) : 0;
		st.decision = want ? FRAG_WANT : FRAG_SKIP;
		if (held) {
			/* Held only once userspace has it: a full ring lets the
			 * datagram through (fail open), and its later fragments. */
			if (frag_emit(ctx, p, c, 1) < 0) {
				c->v[C_HOLD_LOST]++;
				held = 0;
			} else {
				st.decision = FRAG_HOLD;
			}
		}
		bpf_map_update_elem(&frag_states, &fk, &st, BPF_ANY);
		if (held) {
			c->v[C_HOLD_FRAGS]++;
			return XDP_DROP;
		}
		if (!want) {
			c->v[C_FRAG_SKIPPED]++;
			return XDP_PASS;
		}
	} else {
		struct frag_state *st = bpf_map_lookup_elem(&frag_states, &fk);
		if (st && now - st->ts_ns < FRAG_DECISION_NS) {
			if (st->decision == FRAG_SKIP) {
				c->v[C_FRAG_SKIPPED]++;
				return XDP_PASS;
			}
			held = st->decision == FRAG_HOLD;
		}
	}
	if (held) {
		/* The first fragment is held: the rest cannot help the
		 * receiver before userspace hands the datagram on whole. */
		frag_emit(ctx, p, c, 1);
		c->v[C_HOLD_FRAGS]++;
		return XDP_DROP;
	}
	/* A fragment's ports (first fragment) let userspace keep a flow's
	 * fragments together; the payload offset is the fragment data. */
	frag_emit(ctx, p, c, 0);
	return XDP_PASS;
}

#endif
