//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * edgesensor XDP data plane.
 *
 * Looks at every packet, always returns XDP_PASS, and copies to userspace
 * only what the analysis needs:
 *
 *  - TLS handshakes (handshakes ring, EV_CLASS_TLS). A TCP payload that
 *    starts a ClientHello or ServerHello record, on any port, starts tracking
 *    of the flow. From then on the packets of both directions are emitted
 *    until the handshake is over: an application_data record seen in both
 *    directions, the packet budget, FIN/RST, or idleness. "Seen" means at a
 *    TLS record boundary: the program follows the record lengths per
 *    direction (flow.next_rec), so bytes that merely look like a record in
 *    the middle of a certificate cannot end tracking early. The decision is
 *    per-flow state, never a byte pattern alone.
 *  - QUIC Initial packets, v1 and v2 (handshakes ring, EV_CLASS_QUIC), the
 *    first quic_budget per flow.
 *  - Watched file-port flows (streams ring, EV_CLASS_STREAM), governed by
 *    userspace through stream_verdicts: NEW, CAPTURE, SKIP a sequence range,
 *    IGNORE. SYN, FIN and RST are always emitted.
 *
 * Everything else costs a parse, two array lookups and a counter. Packets
 * of flows that are not in a handshake skip the flow-table lookup thanks to
 * tls_filter, a counting filter with an age: a handshake increments its
 * slot when it starts and decrements it when it ends; a slot whose last
 * activity is older than tls_idle_ns is ignored, so counts left by flows
 * that vanished cost nothing after that. A false positive only costs a
 * lookup; a handshake is never hidden by it.
 */
#include <linux/bpf.h>
#include <bpf_helpers.h>
#include <bpf_endian.h>

#include "types.h"
#include "maps.h"
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

volatile const struct config cfg = {
	.stream_budget = 64ULL << 20,
	.tls_idle_ns = 30ULL * 1000000000ULL,
	.tls_budget = 32,
	.quic_budget = 8,
	.snaplen = MAX_SNAP,
	.tls_enabled = 1,
	.quic_enabled = 1,
	.stream_enabled = 1,
	.max_rearms = 3,
};

/* Watched TCP ports: port -> application (0 = not watched). A global, so
 * the per-packet check is a plain load with no lookup; userspace writes it
 * through the memory-mapped .bss, also while the program runs. */
__u8 port_app[65536];

/* ifindex -> counter slot. The pinned ifslots map is the record userspace
 * keeps; this .bss copy makes the per-packet read a plain load. */
__u8 ifslot[MAX_IFINDEX];

/* Force the shared types into BTF so bpf2go can generate them. */
const struct event *unused_event __attribute__((unused));
const struct flow_key *unused_flow_key __attribute__((unused));
const struct flow *unused_flow __attribute__((unused));
const struct stream_verdict *unused_stream_verdict __attribute__((unused));
const struct counter_set *unused_counter_set __attribute__((unused));
const struct tls_slot *unused_tls_slot __attribute__((unused));
const enum ev_class *unused_ev_class __attribute__((unused));
const enum ev_flag *unused_ev_flag __attribute__((unused));
const enum stream_state *unused_stream_state __attribute__((unused));
const enum tls_state *unused_tls_state __attribute__((unused));
const enum tls_flag *unused_tls_flag __attribute__((unused));
const enum flow_kind *unused_flow_kind __attribute__((unused));
const enum flow_flag *unused_flow_flag __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));

#define QUIC_V1 0x00000001
#define QUIC_V2 0x6b3343cf

#define TLS_CT_CCS 20
#define TLS_CT_APPDATA 23
#define TLS_CT_MAX 24 /* heartbeat */
#define TLS_MAX_RECORD (16384 + 2048)
/* Record headers followed per packet; more is a desync, not an error. */
#define TLS_RECS_PER_PACKET 16
/* Deepest payload offset the walk reads: keeps packet-pointer arithmetic
 * within what the verifier accepts. Frames this long only come from
 * generic XDP on GRO'd packets; a walk that gets there desyncs. */
#define TLS_WALK_MAX_OFF 0x3fff

static __always_inline struct counter_set *counters_for(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 slot = ifindex < MAX_IFINDEX ? ifslot[ifindex] : 0;

	return bpf_map_lookup_elem(&counters, &slot);
}

/* Symmetric hash of the 5-tuple: the same for both directions. */
static __always_inline __u32 filter_index(__u32 saddr_lo, __u32 daddr_lo, __u16 sport, __u16 dport)
{
	/* The last address word only (the IPv4 address itself): cheap, and a
	 * collision costs one flow lookup, nothing more. */
	__u32 h = saddr_lo ^ daddr_lo ^ ((__u32)(sport ^ dport) << 16);
	h *= 0x9e3779b1;
	return h >> (32 - TLS_FILTER_BITS);
}

static __always_inline __u32 tuple_hash(struct pkt *p)
{
	return filter_index(p->saddr[3], p->daddr[3], p->sport, p->dport);
}

/* Builds the canonical key; returns 1 if the packet's source is endpoint a. */
static __always_inline int make_key(struct pkt *p, struct flow_key *k)
{
	int src_is_a = 1;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (p->saddr[i] != p->daddr[i]) {
			src_is_a = p->saddr[i] < p->daddr[i];
			goto decided;
		}
	}
	src_is_a = p->sport <= p->dport;
decided:
	if (src_is_a) {
		__builtin_memcpy(k->addr_a, p->saddr, 16);
		__builtin_memcpy(k->addr_b, p->daddr, 16);
		k->port_a = p->sport;
		k->port_b = p->dport;
	} else {
		__builtin_memcpy(k->addr_a, p->daddr, 16);
		__builtin_memcpy(k->addr_b, p->saddr, 16);
		k->port_a = p->dport;
		k->port_b = p->sport;
	}
	k->proto = p->l4proto;
	return src_is_a;
}

/* BPF calls take five arguments: class, flags and state travel as one. */
#define EMIT_META(class, flags, state) ((__u32)(class) | (__u32)(flags) << 8 | (__u32)(state) << 16)

/* Copies the frame and a header into the ring of the class. Returns 0 on
 * success. A global function: one verified copy serves every call site. */
__attribute__((noinline)) int emit(struct xdp_md *ctx, struct pkt *p, struct flow *f,
				   __u32 meta, struct counter_set *c)
{
	__u32 zero = 0;
	__u8 class = meta & 0xff;
	__u8 flags = (meta >> 8) & 0xff;
	__u8 state = (meta >> 16) & 0xff;

	if (!ctx || !p || !f || !c)
		return -1;
	struct scratch_buf *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
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
	if (f->flags & FLOW_F_LOST)
		flags |= EV_F_LOST;
	if (f->flags & FLOW_F_BUDGET)
		flags |= EV_F_BUDGET;
	if (p->truncated)
		flags |= EV_F_TRUNCATED;

	struct event *e = &s->hdr;
	e->ts_ns = bpf_ktime_get_ns();
	e->ifindex = ctx->ingress_ifindex;
	e->pkt_len = len;
	e->seq = p->seq;
	e->ack = p->ack;
	__builtin_memcpy(e->saddr, p->saddr, 16);
	__builtin_memcpy(e->daddr, p->daddr, 16);
	e->sport = p->sport;
	e->dport = p->dport;
	e->cap_len = cap;
	e->l3_off = p->l3_off;
	e->l4_off = p->l4_off;
	e->payload_off = p->payload_off;
	e->payload_len = p->payload_len;
	e->vlan[0] = p->vlan[0];
	e->vlan[1] = p->vlan[1];
	e->lost = f->lost;
	e->class = class;
	e->flags = flags;
	e->tcp_flags = p->tcp_flags;
	e->l4proto = p->l4proto;
	e->family = p->family;
	e->state = state;

	if (bpf_xdp_load_bytes(ctx, 0, s->data, cap) < 0)
		return -1;

	/* The events, bytes and drops counters of a class are consecutive. */
	void *ring = &handshakes;
	int ci = C_TLS_EVENTS;
	if (class == EV_CLASS_QUIC) {
		ci = C_QUIC_EVENTS;
	} else if (class == EV_CLASS_STREAM) {
		ring = &streams;
		ci = C_STREAM_EVENTS;
	}
	if (bpf_ringbuf_output(ring, s, sizeof(struct event) + cap, 0) < 0) {
		c->v[ci + 2]++;
		f->lost++;
		f->flags |= FLOW_F_LOST;
		return -1;
	}
	c->v[ci]++;
	c->v[ci + 1] += sizeof(struct event) + cap;
	return 0;
}

/* Pointer to n bytes of payload at off, or NULL when the frame ends first. */
#define PAYLOAD_MAX_OFF 0x3fff
static __always_inline __u8 *payload_at(struct xdp_md *ctx, struct pkt *p, __u32 off,
					__u32 n)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 at = (__u32)p->payload_off + off;

	/* Keep the compiler from rewriting data + at into the parser's own
	 * pointer, whose bounds check it would then lose track of. */
	asm volatile("" : "+r"(at));
	if (at > PAYLOAD_MAX_OFF)
		return NULL;
	__u8 *b = data + at;
	if ((void *)(b + n) > data_end)
		return NULL;
	return b;
}

/* A payload that starts a TLS handshake record holding a ClientHello (1) or
 * ServerHello (2) whose length fits in a 16-bit field. */
static __always_inline int tls_hello(struct xdp_md *ctx, struct pkt *p)
{
	if (p->payload_len < 9)
		return 0;
	__u8 *b = payload_at(ctx, p, 0, 9);
	if (!b)
		return 0;
	if (b[0] != 22 || b[1] != 3 || b[2] > 4 || b[6] != 0)
		return 0;
	__u32 rlen = (__u32)b[3] << 8 | b[4];
	if (rlen < 4 || rlen > TLS_MAX_RECORD)
		return 0;
	return b[5] == 1 ? 1 : (b[5] == 2 ? 2 : 0);
}

static __always_inline void filter_add(struct pkt *p, __u64 now)
{
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (s) {
		__sync_fetch_and_add(&s->count, 1);
		s->last_ns = now;
	}
}

static __always_inline void filter_del(struct pkt *p)
{
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (s && s->count > 0)
		__sync_fetch_and_sub(&s->count, 1);
}

/* Is some handshake recently active in this packet's filter slot? */
static __always_inline int filter_hit(struct pkt *p)
{
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (!s || s->count == 0)
		return 0;
	return bpf_ktime_get_ns() - s->last_ns < cfg.tls_idle_ns;
}

static __always_inline void filter_touch(struct pkt *p, __u64 now)
{
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (s)
		s->last_ns = now;
}

/* Ends handshake tracking once: only the CPU that wins the exchange
 * releases the filter slot and counts the reason. */
static __always_inline int tls_end(struct flow *f, struct pkt *p, __u32 why,
				   struct counter_set *c, int counter)
{
	if (__sync_val_compare_and_swap(&f->tls_state, TLS_ACTIVE, why) != TLS_ACTIVE)
		return 0;
	filter_del(p);
	c->v[counter]++;
	return 1;
}

/* Follows TLS record boundaries in this packet of direction dir. Returns
 * -1 when a boundary holds something that is not a TLS record. Record
 * headers are copied out with bpf_xdp_load_bytes(): the offsets come from
 * the wire and the helper checks them at run time, which keeps the
 * verifier's work flat. */
static __always_inline int tls_walk(struct xdp_md *ctx, struct pkt *p, struct flow *f,
				    int dir, struct counter_set *c)
{
	__u32 sync = dir ? TLS_F_SYNC_S : TLS_F_SYNC_C;
	__u32 seen = dir ? TLS_F_SEEN_S : TLS_F_SEEN_C;
	__u32 appdata = dir ? TLS_F_APPDATA_S : TLS_F_APPDATA_C;
	__u32 plen = p->payload_len;
	__u8 h[5];

	if (plen == 0)
		return 0;
	if (!(f->tls_flags & seen)) {
		/* The first payload of a direction must start a record. */
		__sync_fetch_and_or(&f->tls_flags, seen);
		if (plen < 3 || bpf_xdp_load_bytes(ctx, p->payload_off, h, 3) < 0)
			return 0;
		if (h[0] < TLS_CT_CCS || h[0] > TLS_CT_MAX || h[1] != 3)
			return -1;
		f->next_rec[dir & 1] = p->seq;
		__sync_fetch_and_or(&f->tls_flags, sync);
	}
	if (!(f->tls_flags & sync))
		return 0;

	/* Offset of the next boundary in this packet. Negative: we have not
	 * seen the segment holding it yet (reordering); wait for it. Beyond
	 * the payload: a retransmission, or a record still going on. */
	__s32 d = (__s32)(f->next_rec[dir & 1] - p->seq);
	if (d < 0 || (__u32)d >= plen)
		return 0;

	__u32 off = d;
	for (int i = 0; i < TLS_RECS_PER_PACKET; i++) {
		if (off >= plen)
			break;
		if (off > TLS_WALK_MAX_OFF)
			break;
		if (off + 5 > plen ||
		    bpf_xdp_load_bytes(ctx, (__u32)p->payload_off + off, h, 5) < 0) {
			/* Header split across segments or beyond a truncated
			 * frame: stop following; the budget ends tracking. */
			__sync_fetch_and_and(&f->tls_flags, ~sync);
			c->v[C_TLS_DESYNC]++;
			return 0;
		}
		if (h[0] < TLS_CT_CCS || h[0] > TLS_CT_MAX || h[1] != 3)
			return -1;
		if (h[0] == TLS_CT_APPDATA)
			__sync_fetch_and_or(&f->tls_flags, appdata);
		off += 5 + ((__u32)h[3] << 8 | h[4]);
	}
	if (off < plen) {
		__sync_fetch_and_and(&f->tls_flags, ~sync);
		c->v[C_TLS_DESYNC]++;
		return 0;
	}
	f->next_rec[dir & 1] = p->seq + off;
	return 0;
}

/* TLS handshake tracking for one TCP packet. hello is tls_hello(); created
 * says nothing else has decided which side is the client yet. */
static __always_inline void tls_track(struct xdp_md *ctx, struct pkt *p,
				      struct flow *f, int src_is_a, int hello, int pick_client,
				      struct counter_set *c)
{
	__u64 now = bpf_ktime_get_ns();
	__u8 flags = 0;
	__u32 st = f->tls_state;

	if (st == TLS_ACTIVE && now - f->last_ns > cfg.tls_idle_ns) {
		tls_end(f, p, TLS_IDLE, c, C_TLS_IDLE);
		st = f->tls_state;
	}
	if (st != TLS_ACTIVE) {
		/* Encrypted traffic after a finished handshake is never
		 * looked at again; other ends may be restarted by a new hello. */
		if (!hello || st == TLS_DONE)
			return;
		if (st != TLS_NONE) {
			if (f->rearms >= cfg.max_rearms)
				return;
			f->rearms++;
			c->v[C_TLS_REARM]++;
		}
		if (__sync_val_compare_and_swap(&f->tls_state, st, TLS_ACTIVE) != st)
			return;
		f->tls_flags = 0;
		f->packets = 0;
		f->kind |= FLOW_TLS;
		/* ServerHello first (asymmetric routing, sensor started late):
		 * its sender is the server. */
		if (pick_client)
			f->client_is_a = hello == 1 ? src_is_a : !src_is_a;
		filter_add(p, now);
		c->v[C_FLOWS_TLS]++;
		flags |= EV_F_FLOW_NEW;
	}
	f->last_ns = now;
	filter_touch(p, now);

	int from_client = src_is_a == f->client_is_a;
	int dir = from_client ? 0 : 1;
	if (from_client)
		flags |= EV_F_FROM_CLIENT;

	int not_tls = tls_walk(ctx, p, f, dir, c) < 0;
	__u32 tf = f->tls_flags;
	int end_reason = 0, counter = 0;

	if (p->tcp_flags & (TCP_FIN | TCP_RST)) {
		end_reason = TLS_CLOSED;
		counter = C_TLS_CLOSED;
	} else if (not_tls) {
		end_reason = TLS_NOT_TLS;
		counter = C_TLS_NOT_TLS;
	} else if ((tf & (TLS_F_APPDATA_C | TLS_F_APPDATA_S)) ==
		   (TLS_F_APPDATA_C | TLS_F_APPDATA_S)) {
		end_reason = TLS_DONE;
		counter = C_TLS_DONE;
	} else if (f->packets + 1 >= cfg.tls_budget) {
		end_reason = TLS_BUDGET;
		counter = C_TLS_BUDGET;
		flags |= EV_F_BUDGET;
	}
	if (end_reason)
		flags |= EV_F_HS_DONE;
	/* Pure ACKs carry nothing for the analysis. */
	if (p->payload_len > 0 || (p->tcp_flags & (TCP_FIN | TCP_RST))) {
		if (emit(ctx, p, f,
			 EMIT_META(EV_CLASS_TLS, flags, end_reason ? end_reason : TLS_ACTIVE),
			 c) == 0)
			f->packets++;
	}
	if (end_reason)
		tls_end(f, p, end_reason, c, counter);
}

/* Looks the flow up, or creates it when create is set. */
static __always_inline struct flow *flow_get(const struct flow_key *k, int create,
					     int *created, struct counter_set *c)
{
	struct flow *f = bpf_map_lookup_elem(&flows, k);

	*created = 0;
	if (f || !create)
		return f;
	struct flow nf = {};
	nf.first_ns = bpf_ktime_get_ns();
	nf.last_ns = nf.first_ns;
	/* BPF_NOEXIST: another CPU may have created it meanwhile; use that. */
	if (bpf_map_update_elem(&flows, k, &nf, BPF_NOEXIST) == 0) {
		*created = 1;
		c->v[C_FLOWS]++;
	}
	return bpf_map_lookup_elem(&flows, k);
}

/* Is seq..seq+len inside the SKIP range of ctl? Modular arithmetic, so the
 * range may wrap the sequence space. */
static __always_inline int in_skip(const struct stream_verdict *ctl, struct pkt *p)
{
	__u32 off = p->seq - ctl->skip_seq;

	return off < ctl->skip_len && (__u64)off + p->payload_len <= ctl->skip_len;
}

/* Watched file-port flow. Returns the stream state so TLS tracking knows
 * whether userspace is inside a body. */
static __always_inline __u8 stream_track(struct xdp_md *ctx, struct pkt *p,
					 const struct flow_key *k, struct flow *f, int src_is_a,
					 int to_watched, int created, struct counter_set *c)
{
	struct stream_verdict *ctl = bpf_map_lookup_elem(&stream_verdicts, k);
	__u8 state = ctl ? ctl->state : STREAM_NEW;
	__u8 flags = 0;

	if (created) {
		flags |= EV_F_FLOW_NEW;
		c->v[C_FLOWS_STREAM]++;
	}
	if (!(f->kind & FLOW_STREAM)) {
		f->kind |= FLOW_STREAM;
		/* The SYN's sender is the client; without a SYN (flow picked up
		 * mid-way) the side on the watched port is the server. */
		if (p->tcp_flags & TCP_SYN)
			f->client_is_a = (p->tcp_flags & TCP_ACK) ? !src_is_a : src_is_a;
		else
			f->client_is_a = to_watched ? src_is_a : !src_is_a;
	}
	f->last_ns = bpf_ktime_get_ns();

	int from_client = src_is_a == f->client_is_a;
	if (from_client)
		flags |= EV_F_FROM_CLIENT;

	if (!(p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST))) {
		if (p->payload_len == 0)
			return state;
		if (state == STREAM_IGNORE) {
			c->v[C_STREAM_IGNORED_PACKETS]++;
			return state;
		}
		if (state == STREAM_SKIP && ctl && ctl->skip_dir == !from_client && in_skip(ctl, p)) {
			c->v[C_STREAM_SKIPPED_PACKETS]++;
			c->v[C_STREAM_SKIPPED_BYTES] += p->payload_len;
			return state;
		}
		__u64 limit = cfg.stream_budget;
		if (state == STREAM_CAPTURE && ctl && ctl->byte_limit)
			limit = ctl->byte_limit;
		if (f->stream_bytes >= limit) {
			c->v[C_STREAM_BUDGET_PACKETS]++;
			f->flags |= FLOW_F_BUDGET;
			return state;
		}
	}
	if (emit(ctx, p, f, EMIT_META(EV_CLASS_STREAM, flags, state), c) == 0)
		f->stream_bytes += p->payload_len;
	return state;
}

/* TCP: stream and TLS classes. A global function: verified once, on its own. */
__attribute__((noinline)) int handle_tcp(struct xdp_md *ctx, struct pkt *p,
					 struct counter_set *c)
{
	if (!ctx || !p || !c)
		return 0;
	__u8 app = 0;
	int to_watched = 0; /* the destination port is the watched one */

	if (cfg.stream_enabled) {
		app = port_app[p->dport];
		if (app)
			to_watched = 1;
		else
			app = port_app[p->sport];
	}

	int hello = 0;
	if (cfg.tls_enabled)
		hello = tls_hello(ctx, p);

	if (!app && !cfg.tls_enabled)
		return 0;

	struct flow_key k = {};
	int src_is_a = make_key(p, &k);
	int created;
	struct flow *f = flow_get(&k, app || hello, &created, c);
	if (!f)
		return 0;

	__u8 sstate = STREAM_IGNORE;
	if (app) {
		f->app = app;
		sstate = stream_track(ctx, p, &k, f, src_is_a, to_watched, created, c);
	}
	if (!cfg.tls_enabled)
		return 0;
	/* Inside a body userspace is capturing or skipping, a hello-like
	 * payload is file data, not a handshake: it must neither start
	 * tracking nor take the flow from the stream class. */
	if (app && hello && sstate != STREAM_NEW)
		hello = 0;
	if (hello || f->tls_state == TLS_ACTIVE)
		tls_track(ctx, p, f, src_is_a, hello, !(f->kind & (FLOW_TLS | FLOW_STREAM)), c);
	return 0;
}

/* UDP: QUIC Initial packets. A global function: verified once, on its own. */
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
	__u8 *b = payload_at(ctx, p, 0, 7);
	if (!b)
		return 0;
	if (!(b[0] & 0x80))
		return 0;
	__u32 version = (__u32)b[1] << 24 | (__u32)b[2] << 16 | (__u32)b[3] << 8 | b[4];
	__u8 type = (b[0] >> 4) & 3;
	if (!((version == QUIC_V1 && type == 0) || (version == QUIC_V2 && type == 1)))
		return 0;
	if (b[5] > 20)
		return 0;

	struct flow_key k = {};
	int src_is_a = make_key(p, &k);
	int created;
	struct flow *f = flow_get(&k, 1, &created, c);
	if (!f)
		return 0;
	__u8 flags = 0;
	if (!(f->kind & FLOW_QUIC)) {
		f->kind |= FLOW_QUIC;
		/* The first Initial seen is the client's: it opens the flow. */
		f->client_is_a = src_is_a;
		c->v[C_FLOWS_QUIC]++;
		flags |= EV_F_FLOW_NEW;
	}
	if (f->packets >= cfg.quic_budget) {
		c->v[C_QUIC_BUDGET]++;
		return 0;
	}
	if (src_is_a == f->client_is_a)
		flags |= EV_F_FROM_CLIENT;
	f->last_ns = bpf_ktime_get_ns();
	if (emit(ctx, p, f, EMIT_META(EV_CLASS_QUIC, flags, 0), c) == 0)
		f->packets++;
	return 0;
}

/* The fastest path, for the commonest frames: untagged IPv4 without
 * options carrying TCP or UDP that cannot matter. Returns 1 when the
 * packet is done with; 0 sends it through the full parser (which also does
 * all the error counting), so this only ever shortcuts the boring case. */
static __always_inline int fast_ipv4(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *uh = (void *)(ip + 1);

	if ((void *)(uh + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ver_ihl != 0x45 ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if ((void *)ip + tot > data_end)
		return 0;

	if (ip->protocol == IPPROTO_UDP) {
		/* Only a long header (QUIC Initial candidate) goes on. */
		__u8 *b = (void *)(uh + 1);
		if (!cfg.quic_enabled)
			return 1;
		if ((void *)(b + 1) > data_end)
			return tot <= sizeof(*ip) + sizeof(*uh);
		return !(b[0] & 0x80);
	}
	if (ip->protocol != IPPROTO_TCP)
		return 0;
	struct tcphdr *th = (void *)(ip + 1);
	if ((void *)(th + 1) > data_end)
		return 0;
	__u16 sport = bpf_ntohs(th->source), dport = bpf_ntohs(th->dest);
	if (cfg.stream_enabled && (port_app[sport] | port_app[dport]))
		return 0;
	__u32 doff = (th->doff_res >> 4) * 4;
	if (doff < sizeof(*th) || tot < sizeof(*ip) + doff)
		return 0;
	if (!cfg.tls_enabled)
		return 1;
	if (tot == sizeof(*ip) + doff)
		return !(th->flags & (TCP_FIN | TCP_RST));
	/* Anything that starts like a handshake record takes the full path,
	 * which looks closer; so does a flow whose filter slot is taken. */
	__u8 *b = (void *)th + (doff & 0x3c);
	if ((void *)(b + 1) > data_end || b[0] == 22)
		return 0;
	__u32 idx = filter_index(ip->saddr, ip->daddr, sport, dport);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);
	return s && s->count == 0;
}

/* The fast path, inline in the entry point: can this TCP packet matter?
 * Only a watched port, a hello, or a handshake possibly active in this
 * flow's filter slot send it to handle_tcp. */
static __always_inline int tcp_candidate(struct xdp_md *ctx, struct pkt *p)
{
	if (cfg.stream_enabled && (port_app[p->dport] | port_app[p->sport]))
		return 1;
	if (!cfg.tls_enabled)
		return 0;
	if (p->payload_len == 0)
		return (p->tcp_flags & (TCP_FIN | TCP_RST)) && filter_hit(p);
	return tls_hello(ctx, p) || filter_hit(p);
}

/* UDP fast path: only a QUIC long header can matter. */
static __always_inline int udp_candidate(struct xdp_md *ctx, struct pkt *p)
{
	if (!cfg.quic_enabled || p->payload_len < 7)
		return 0;
	__u8 *b = payload_at(ctx, p, 0, 1);
	return b && (b[0] & 0x80);
}

SEC("xdp")
int edgesensor_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct counter_set *c = counters_for(ctx);

	if (!c)
		return XDP_PASS;
	c->v[C_PACKETS]++;
	c->v[C_BYTES] += data_end - data;
	if (fast_ipv4(data, data_end))
		return XDP_PASS;

	struct pkt p = {};
	if (parse_packet(data, data_end, &p, c) != PARSE_OK)
		return XDP_PASS;
	if (p.l4proto == IPPROTO_TCP) {
		if (tcp_candidate(ctx, &p))
			handle_tcp(ctx, &p, c);
	} else if (udp_candidate(ctx, &p)) {
		handle_udp(ctx, &p, c);
	}
	return XDP_PASS;
}
