/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Watched file-port flows (streams ring, EV_CLASS_STREAM), governed by
 * userspace through stream_verdicts: NEW, CAPTURE, SKIP a sequence range,
 * IGNORE. SYN, FIN and RST are always emitted; a bare SYN, SYN-ACK, FIN or
 * RST of a tuple without state is emitted without creating any, so a
 * flood of spoofed SYNs never churns the flow table. */
#ifndef EDGESENSOR_STREAM_H
#define EDGESENSOR_STREAM_H

#include "flow.h"
#include "emit.h"
#include "hold.h"

/* Is the payload of p inside the SKIP range of v? Modular arithmetic, so
 * the range may wrap the sequence space. */
static __always_inline int in_skip(const struct stream_verdict *v, struct pkt *p)
{
	__u32 off = p->seq - v->skip_seq;

	return (__u64)off + p->payload_len <= v->skip_len;
}

/* The side that sent a SYN is the client; without a SYN (a flow picked up
 * mid-way) the side on the watched port is the server. */
static __always_inline int stream_from_client(struct pkt *p, int to_watched)
{
	if (p->tcp_flags & TCP_SYN)
		return !(p->tcp_flags & TCP_ACK);
	return to_watched;
}

/* A packet of a tuple the table does not hold, emitted as it is. Returns
 * emit's result. */
static __always_inline int stream_stateless(struct xdp_md *ctx, struct pkt *p, int to_watched,
					    int held, struct counter_set *c)
{
	__u8 flags = stream_from_client(p, to_watched) ? EV_F_FROM_CLIENT : 0;

	if (p->tcp_flags & TCP_SYN)
		flags |= EV_F_FLOW_NEW;
	return emit(ctx, p, NULL, EMIT_META(EV_CLASS_STREAM, flags, STREAM_NEW | (held ? EV_STATE_HELD : 0)) | hold_wake(held), c);
}

/* A new connection on the tuple, confirmed by its SYN-ACK: what userspace
 * decided for the old one (IGNORE, a SKIP range, a byte limit) and the
 * bytes it spent do not carry over. */
static __always_inline void stream_reopened(struct flow *f, const struct flow_key *k,
					    struct counter_set *c)
{
	bpf_map_delete_elem(&stream_verdicts, k);
	f->stream_bytes = 0;
	f->flags &= ~(FLOW_F_BUDGET | FLOW_F_STREAM_EMITTED);
	c->v[C_STREAM_REOPENED]++;
}

/* stream_track's results. */
enum {
	ST_BODY = 1, /* inside a body userspace captures or skips: hello-like bytes there are file data */
	ST_HELD = 2, /* held (hold.h): emitted, to be dropped */
};

/* Watched file-port flow. held: hold_check said to hold the packet, so it
 * is emitted whatever the flow's state and budget (userspace hands it on)
 * and ST_HELD returned once it is in the ring. */
static __always_inline int stream_track(struct xdp_md *ctx, struct pkt *p,
					const struct flow_key *k, struct flow *f, int src_is_a,
					int to_watched, int held, struct counter_set *c)
{
	struct stream_verdict *v = bpf_map_lookup_elem(&stream_verdicts, k);
	__u8 flags = 0;
	__u8 state = v ? v->state : STREAM_NEW;

	if (!(f->kind & FLOW_STREAM)) {
		f->kind |= FLOW_STREAM;
		c->v[C_FLOWS_STREAM]++;
		int fc = stream_from_client(p, to_watched);
		f->client_is_a = fc ? src_is_a : !src_is_a;
	}
	f->last_ns = bpf_ktime_get_ns();

	int from_client = src_is_a == f->client_is_a;
	if (from_client)
		flags |= EV_F_FROM_CLIENT;
	if (!(f->flags & FLOW_F_STREAM_EMITTED))
		flags |= EV_F_FLOW_NEW;

	if (held) {
		if (emit(ctx, p, f, EMIT_META(EV_CLASS_STREAM, flags, state | EV_STATE_HELD) | hold_wake(held), c) < 0)
			return state == STREAM_CAPTURE ? ST_BODY : 0;
		f->stream_bytes += p->payload_len;
		f->flags |= FLOW_F_STREAM_EMITTED;
		return ST_HELD | (state == STREAM_CAPTURE ? ST_BODY : 0);
	}
	if (!(p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST))) {
		if (p->payload_len == 0) {
			/* A pure ACK: the receiver's window and what it got,
			 * which userspace's receiver model needs while it reads
			 * the flow; not while a body is skipped (it acknowledges
			 * that body) or the flow ignored or over its budget. */
			__u64 limit = v && v->byte_limit ? v->byte_limit : cfg.stream_budget;
			if (state == STREAM_IGNORE || f->stream_bytes >= limit)
				return 0;
			if (state == STREAM_SKIP && v && v->skip_dir == from_client &&
			    p->ack - v->skip_seq <= v->skip_len) {
				c->v[C_STREAM_SKIPPED_PACKETS]++;
				return 0;
			}
			goto out;
		}
		if (state == STREAM_IGNORE) {
			c->v[C_STREAM_IGNORED_PACKETS]++;
			return 0;
		}
		if (state == STREAM_SKIP && v && v->skip_dir == !from_client && in_skip(v, p)) {
			c->v[C_STREAM_SKIPPED_PACKETS]++;
			c->v[C_STREAM_SKIPPED_BYTES] += p->payload_len;
			return 1;
		}
		__u64 limit = cfg.stream_budget;
		/* Any verdict may carry a raised limit: a SKIP written after a
		 * CAPTURE must not drop the flow back to the default budget. */
		if (v && v->byte_limit)
			limit = v->byte_limit;
		if (f->stream_bytes >= limit) {
			c->v[C_STREAM_BUDGET_PACKETS]++;
			f->flags |= FLOW_F_BUDGET;
			return state == STREAM_CAPTURE ? ST_BODY : 0;
		}
	}
out:
	if (emit(ctx, p, f, EMIT_META(EV_CLASS_STREAM, flags, state), c) == 0) {
		f->stream_bytes += p->payload_len;
		f->flags |= FLOW_F_STREAM_EMITTED;
	}
	return state == STREAM_CAPTURE ? ST_BODY : 0;
}

#endif
