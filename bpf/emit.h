/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Handing a packet to userspace: a fixed header (struct event) and the
 * frame, built in the per-CPU scratch buffer and sent with one
 * bpf_ringbuf_output() of exactly the bytes used. */
#ifndef EDGESENSOR_EMIT_H
#define EDGESENSOR_EMIT_H

#include "csum.h"

/* BPF calls take five arguments: class, flags and state travel as one,
 * with EMIT_WAKE: wake the ring's reader now. */
#define EMIT_META(class, flags, state) ((__u32)(class) | (__u32)(flags) << 8 | (__u32)(state) << 16)
#define EMIT_WAKE (1u << 24)

/* Copies the frame and a header into the ring of the class. f is NULL for
 * packets emitted without flow state. Returns 0 on success. A global
 * function: one verified copy serves every call site. */
__attribute__((noinline)) int emit(struct xdp_md *ctx, struct pkt *p, struct flow *f,
				   __u32 meta, struct counter_set *c)
{
	__u8 class = meta & 0xff;
	__u8 flags = (meta >> 8) & 0xff;
	__u8 state = (meta >> 16) & 0xff;

	if (!ctx || !p || !c)
		return -1;

	__u32 len = p->frame_len;
	__u32 cap = len;
	if (cap > cfg.snaplen) {
		cap = cfg.snaplen;
		flags |= EV_F_SNAP_CUT;
		c->v[C_SNAP_CUT]++;
	}
	if (cap > MAX_SNAP)
		cap = MAX_SNAP;
	if (cap < 1)
		return -1;
	struct scratch_buf *s = stage(ctx, p);
	if (!s)
		return -1;
	/* A handshake's next event says lost only when a lost record held
	 * what the analysis reads (FLOW_F_LOST_DATA): the records past the
	 * plaintext handshake, or a FIN, it does without. A stream's says so
	 * for any: window updates were among them. */
	if (f && (f->flags & (class == EV_CLASS_TLS ? FLOW_F_LOST_DATA : FLOW_F_LOST)))
		flags |= EV_F_LOST;
	if (f && class == EV_CLASS_STREAM && (f->flags & FLOW_F_BUDGET))
		flags |= EV_F_BUDGET;
	if (p->truncated)
		flags |= EV_F_TRUNCATED;
	if (p->reinjected)
		flags |= EV_F_REINJECTED;

	struct event *e = &s->hdr;
	e->ts_ns = bpf_ktime_get_ns();
	e->ifindex = ctx->ingress_ifindex;
	e->pkt_len = len;
	e->seq = p->seq;
	e->ack = p->ack;
	__builtin_memcpy(e->saddr, p->saddr, 16);
	__builtin_memcpy(e->daddr, p->daddr, 16);
	e->zone = p->zone;
	e->sport = p->sport;
	e->dport = p->dport;
	e->cap_len = cap;
	e->l3_off = p->l3_off;
	e->l4_off = p->l4_off;
	e->payload_off = p->payload_off;
	e->payload_len = p->payload_len;
	e->vlan[0] = p->vlan[0];
	e->vlan[1] = p->vlan[1];
	e->lost = f ? f->lost : 0;
	e->class = class;
	e->flags = flags;
	e->tcp_flags = p->tcp_flags;
	e->l4proto = p->l4proto;
	e->family = p->family;
	e->state = state;
	e->tunnels = p->tunnels;
	e->csum = p->csum;

	/* The events, bytes and drops counters of a class are consecutive. */
	void *ring = &handshakes;
	int ci = C_TLS_EVENTS;
	__u64 wakeup = cfg.hs_wakeup_bytes;
	if (class == EV_CLASS_QUIC) {
		ci = C_QUIC_EVENTS;
	} else if (class == EV_CLASS_STREAM) {
		ring = &streams;
		ci = C_STREAM_EVENTS;
		wakeup = cfg.stream_wakeup_bytes;
	} else if (class == EV_CLASS_FRAG) {
		ring = &fragments;
		ci = C_FRAG_EVENTS;
		wakeup = 0;
	}
	/* Wake the reader once, when the waiting bytes cross the mark; records
	 * after that find it awake (or its poll timer finds them). */
	__u64 size = sizeof(struct event) + cap, rb_flags = 0;
	if (cfg.enforce && enforce_mode != ENF_OFF && class != EV_CLASS_STREAM && class != EV_CLASS_FRAG &&
	    (flags & EV_F_FROM_CLIENT)) {
		/* Enforcing: a client's hello is decided on as soon as it is
		 * read, before the handshake it starts can finish. */
		rb_flags = BPF_RB_FORCE_WAKEUP;
	} else if (meta & EMIT_WAKE) {
		/* A held packet waits for userspace to read it. */
		rb_flags = BPF_RB_FORCE_WAKEUP;
	} else if (wakeup) {
		__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
		rb_flags = avail < wakeup && avail + size >= wakeup ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	}
	if (bpf_ringbuf_output(ring, s, size, rb_flags) < 0) {
		c->v[ci + 2]++;
		if (f) {
			/* A lost ACK, FIN or RST without payload costs the analysis
			 * nothing it cannot do without: only a lost payload hurts,
			 * and of a handshake only one that may hold plaintext
			 * handshake bytes (p->tls_sealed: all past the direction's
			 * first application_data record). */
			if (p->payload_len && class <= EV_CLASS_STREAM && !(class == EV_CLASS_TLS && p->tls_sealed)) {
				if (!(f->flags & FLOW_F_LOST_DATA))
					c->v[C_FLOWS_LOST_TLS + (class == EV_CLASS_QUIC) + 2 * (class == EV_CLASS_STREAM)]++;
				f->flags |= FLOW_F_LOST_DATA;
			}
			f->lost++;
			f->flags |= FLOW_F_LOST;
		} else {
			c->v[C_DROPS_NO_FLOW]++;
		}
		return -1;
	}
	c->v[ci]++;
	c->v[ci + 1] += size;
	return 0;
}

#endif
