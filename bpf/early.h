/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* New connections on tracked or unknown tuples: segments that come before
 * a connection's first client bytes (syn_pendings), and the SYN / SYN-ACK
 * pair that starts a connection anew. */
#ifndef EDGESENSOR_EARLY_H
#define EDGESENSOR_EARLY_H

#include "tls.h"

/* Connections whose first client bytes have not come yet. A client that
 * sends the segments of its hello out of order (a network that reorders,
 * or one that wants the sensor to miss its SNI) would otherwise have them
 * pass unseen: nothing marks them as a handshake until the first bytes
 * arrive. So a client SYN of an unknown tuple is remembered (syn_pendings,
 * counted in the TLS-activity filter so later packets of the tuple look),
 * and client segments ahead of the first bytes are emitted, a few and
 * near; when the first bytes come, the wait is over: a hello starts
 * tracking as usual (userspace already has the early segments), anything
 * else ends it. */
#define EARLY_MAX 16
#define EARLY_WINDOW (64 << 10)

static __always_inline void early_syn(struct pkt *p, const struct flow_key *k, int src_is_a)
{
	struct syn_pending *old = bpf_map_lookup_elem(&syn_pendings, k);
	if (old && old->isn == p->seq)
		return; /* a retransmitted SYN */
	__u64 now = bpf_ktime_get_ns();
	struct syn_pending sp = {.ts_ns = now, .isn = p->seq, .client_is_a = src_is_a};
	if (old)
		filter_del(p, old->filter_gen);
	filter_add(p, &sp.filter_gen, now);
	bpf_map_update_elem(&syn_pendings, k, &sp, BPF_ANY);
}

/* The wait of a connection is over (its first bytes, FIN or RST came):
 * returns whether segments were emitted early. */
static __always_inline int early_end(struct pkt *p, const struct flow_key *k)
{
	struct syn_pending *sp = bpf_map_lookup_elem(&syn_pendings, k);
	if (!sp)
		return 0;
	int emitted = sp->emitted;
	filter_del(p, sp->filter_gen);
	bpf_map_delete_elem(&syn_pendings, k);
	return emitted;
}

/* A segment of an unknown tuple (not a hello): emitted if it is a client
 * segment ahead of its connection's first bytes. */
static __always_inline void early_segment(struct xdp_md *ctx, struct pkt *p, const struct flow_key *k,
					  int src_is_a, struct counter_set *c)
{
	struct syn_pending *sp = bpf_map_lookup_elem(&syn_pendings, k);
	if (!sp)
		return;
	if (p->tcp_flags & (TCP_FIN | TCP_RST)) {
		early_end(p, k);
		return;
	}
	if (src_is_a != sp->client_is_a || !p->payload_len)
		return;
	__u32 off = p->seq - (sp->isn + 1);
	if (off == 0) {
		early_end(p, k); /* the first bytes, and no hello */
		return;
	}
	if (off > EARLY_WINDOW || sp->emitted >= EARLY_MAX)
		return;
	__u8 flags = EV_F_FROM_CLIENT | (sp->emitted ? 0 : EV_F_FLOW_NEW);
	if (emit(ctx, p, NULL, EMIT_META(EV_CLASS_TLS, flags, TLS_NONE), c) == 0) {
		sp->emitted++;
		c->v[C_TLS_EARLY]++;
	}
}

/* A client's SYN: a new connection, perhaps on a tuple an earlier one
 * used. */
static __always_inline int new_connection(const struct pkt *p)
{
	return (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

static __always_inline int syn_ack(const struct pkt *p)
{
	return (p->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
}

/* A new connection on the tuple, confirmed by the server's SYN-ACK
 * (flow.h): whatever the old connection's handshake was doing is over, so
 * the new hello starts afresh. The sequence-gap test in tls_track cannot
 * tell on its own: a client reusing its port within a second or so gets
 * an ISN only a little ahead of the old stream (RFC 6528's clock), which
 * looks like more of the old connection. Events lost by the old
 * connection are not the new one's (unless the flow also carries stream
 * data). */
static __always_inline void tls_reopened(struct flow *f, struct pkt *p, struct counter_set *c)
{
	__u32 st = f->tls_state;

	if (st == TLS_NONE || st == TLS_CLOSED)
		return;
	if (st == TLS_ACTIVE) {
		if (!tls_end(f, p, TLS_CLOSED, c, C_TLS_NEW_CONN))
			return;
	} else if (__sync_val_compare_and_swap(&f->tls_state, st, TLS_CLOSED) == st) {
		c->v[C_TLS_NEW_CONN]++;
	} else {
		return;
	}
	if (!(f->kind & FLOW_STREAM)) {
		f->lost = 0;
		f->flags &= ~(FLOW_F_LOST | FLOW_F_LOST_DATA);
	}
}

#endif
