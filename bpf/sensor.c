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
 *    per-flow state, never a byte pattern alone. A hello on a finished flow
 *    restarts tracking only when it is a new connection on the same tuple.
 *  - QUIC Initial packets, v1 and v2 (handshakes ring, EV_CLASS_QUIC), the
 *    first quic_budget per flow (again after the flow went idle).
 *  - Watched file-port flows (streams ring, EV_CLASS_STREAM), governed by
 *    userspace through stream_verdicts: NEW, CAPTURE, SKIP a sequence range,
 *    IGNORE. SYN, FIN and RST are always emitted.
 *
 * Everything else costs little. fast_ipv4() settles untagged IPv4 frames
 * that cannot matter before the full parser runs. Packets of flows that are
 * not in a handshake skip the flow-table lookup thanks to tls_filter, a
 * counting filter: a handshake counts itself in its slot when it starts and
 * uncounts itself when it ends. Counts of handshakes that vanished without
 * an end (silence, LRU eviction) are healed: a slot idle for longer than
 * tls_idle_ns starts a new generation at zero, and ends from an older
 * generation are ignored. A false positive costs a lookup; a live handshake
 * is never hidden by it.
 *
 * Needs Linux 5.18 or later (bpf_xdp_load_bytes; atomics and global
 * functions with pointer arguments need 5.12).
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
	if (class == EV_CLASS_STREAM && (f->flags & FLOW_F_BUDGET))
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
	__u64 wakeup = cfg.hs_wakeup_bytes;
	if (class == EV_CLASS_QUIC) {
		ci = C_QUIC_EVENTS;
	} else if (class == EV_CLASS_STREAM) {
		ring = &streams;
		ci = C_STREAM_EVENTS;
		wakeup = cfg.stream_wakeup_bytes;
	}
	/* Wake the reader once, when the waiting bytes cross the mark; records
	 * after that find it awake (or its poll timer finds them). */
	__u64 size = sizeof(struct event) + cap, rb_flags = 0;
	if (wakeup) {
		__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
		rb_flags = avail < wakeup && avail + size >= wakeup ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	}
	if (bpf_ringbuf_output(ring, s, size, rb_flags) < 0) {
		c->v[ci + 2]++;
		f->lost++;
		f->flags |= FLOW_F_LOST;
		return -1;
	}
	c->v[ci]++;
	c->v[ci + 1] += size;
	return 0;
}

/* Pointer to n bytes of payload at off, or NULL when the frame ends first.
 * Offsets are capped so packet-pointer arithmetic stays within what the
 * verifier accepts; frames that long only come from generic XDP on GRO'd
 * packets. */
#define PAYLOAD_MAX_OFF 0x3fff
static __always_inline __u8 *payload_at(struct xdp_md *ctx, struct pkt *p, __u32 off, __u32 n)
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

/* A payload that starts a TLS handshake record holding a ClientHello (1)
 * or ServerHello (2): record header, handshake header and the hello's
 * version must all agree, which makes look-alikes in other protocols rare. */
static __always_inline int tls_hello(struct xdp_md *ctx, struct pkt *p)
{
	if (p->payload_len < 11)
		return 0;
	__u8 *b = payload_at(ctx, p, 0, 11);
	if (!b)
		return 0;
	/* type, version major, minor 0..4; handshake length < 64 KiB */
	if (b[0] != 22 || b[1] != 3 || b[2] > 4 || b[6] != 0 || b[9] != 3)
		return 0;
	__u32 rlen = (__u32)b[3] << 8 | b[4];
	__u32 hlen = (__u32)b[7] << 8 | b[8];
	/* A hello is at least version, random, session id length (35 bytes),
	 * and alone in its record(s): the record holds no more than it. */
	if (rlen < 4 + 35 || rlen > TLS_MAX_RECORD || hlen < 35 || hlen + 4 < rlen)
		return 0;
	return b[5] == 1 ? 1 : (b[5] == 2 ? 2 : 0);
}

/* Sequence number of the first payload byte: a SYN occupies one. */
static __always_inline __u32 payload_seq(struct pkt *p)
{
	return p->seq + ((p->tcp_flags & TCP_SYN) ? 1 : 0);
}

/* "now is more than tls_idle_ns after then", safe when another CPU
 * stored a later time than our clock read. */
static __always_inline int idle_since(__u64 now, __u64 then)
{
	return (__s64)(now - then) > (__s64)cfg.tls_idle_ns;
}

#define SLOT_COUNT(w) ((__u32)(w))
#define SLOT_GEN(w) ((__u32)((w) >> 32))
#define SLOT_CAS_TRIES 4

/* Counts a starting handshake in its filter slot. A slot idle for longer
 * than tls_idle_ns only holds handshakes that are over (vanished flows,
 * LRU evictions): it starts a new generation with this one alone. */
static __always_inline void filter_add(struct pkt *p, struct flow *f, __u64 now)
{
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (!s)
		return;
	int stale = idle_since(now, s->last_ns);
	s->last_ns = now;
	for (int i = 0; i < SLOT_CAS_TRIES; i++) {
		__u64 w = s->word;
		__u64 nw = stale ? ((__u64)(SLOT_GEN(w) + 1) << 32) | 1 : w + 1;
		if (__sync_val_compare_and_swap(&s->word, w, nw) == w) {
			f->filter_gen = SLOT_GEN(nw);
			return;
		}
	}
	/* Heavy contention: count it anyway; an over-count only costs lookups. */
	__sync_fetch_and_add(&s->word, 1);
	f->filter_gen = SLOT_GEN(s->word);
}

/* Uncounts a handshake that ended, unless its slot has moved on to a new
 * generation since it was counted. */
static __always_inline void filter_del(struct pkt *p, struct flow *f)
{
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (!s)
		return;
	for (int i = 0; i < SLOT_CAS_TRIES; i++) {
		__u64 w = s->word;
		if (SLOT_GEN(w) != f->filter_gen || SLOT_COUNT(w) == 0)
			return;
		if (__sync_val_compare_and_swap(&s->word, w, w - 1) == w)
			return;
	}
}

/* Might a handshake be active in this packet's filter slot? A slot that
 * has been idle too long is healed here (new generation, count 0); this
 * packet still gets its lookup so its own flow, if any, is ended as idle. */
static __always_inline int filter_hit(struct pkt *p)
{
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (!s)
		return 0;
	__u64 w = s->word;
	if (SLOT_COUNT(w) == 0)
		return 0;
	if (idle_since(bpf_ktime_get_ns(), s->last_ns))
		__sync_val_compare_and_swap(&s->word, w, (__u64)(SLOT_GEN(w) + 1) << 32);
	return 1;
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
	filter_del(p, f);
	c->v[counter]++;
	return 1;
}

/* Checks one record header; returns its length, or -1 if it is no TLS
 * record. An application_data record marks its direction. */
static __always_inline int tls_record(const __u8 *h, struct flow *f, __u32 appdata)
{
	__u32 len = (__u32)h[3] << 8 | h[4];

	if (h[0] < TLS_CT_CCS || h[0] > TLS_CT_MAX || h[1] != 3 || len > TLS_MAX_RECORD)
		return -1;
	if (h[0] == TLS_CT_APPDATA)
		__sync_fetch_and_or(&f->tls_flags, appdata);
	return len;
}

/* Follows TLS record boundaries in this packet of direction dir. Returns
 * -1 when a boundary holds something that is not a TLS record. Record
 * headers are copied out with bpf_xdp_load_bytes(): the offsets come from
 * the wire and the helper checks them at run time, which keeps the
 * verifier's work flat.
 *
 * A direction is synchronised once, at its hello: the hello that started
 * tracking, or, for the other direction, the first segment that starts
 * with the answering hello (so a reordered segment cannot be mistaken for
 * the start). After that only boundaries count, never bytes elsewhere. A
 * header split across two segments is kept in flow.part until the rest
 * arrives. */
static __always_inline int tls_walk(struct xdp_md *ctx, struct pkt *p, struct flow *f, int dir,
				    struct counter_set *c)
{
	__u32 sync = dir ? TLS_F_SYNC_S : TLS_F_SYNC_C;
	__u32 seen = dir ? TLS_F_SEEN_S : TLS_F_SEEN_C;
	__u32 appdata = dir ? TLS_F_APPDATA_S : TLS_F_APPDATA_C;
	__u32 plen = p->payload_len;
	__u32 seq = payload_seq(p);
	__u8 h[6];
	int d = dir & 1;

	if (plen == 0)
		return 0;
	if (!(f->tls_flags & seen)) {
		if (plen < 6 || bpf_xdp_load_bytes(ctx, p->payload_off, h, 6) < 0)
			return 0;
		if (h[0] != 22 || h[1] != 3 || h[5] != (dir ? 2 : 1))
			return 0;
		f->next_rec[d] = seq;
		f->part_len[d] = 0;
		__sync_fetch_and_or(&f->tls_flags, seen | sync);
	}
	if (!(f->tls_flags & sync))
		return 0;

	/* Offset of the next boundary in this packet. Negative: the segment
	 * holding it has not come yet (reordering), wait for it; beyond the
	 * payload: a retransmission, or a record still going on. */
	__s32 delta = (__s32)(f->next_rec[d] - seq);
	__u32 off;
	__u32 have = f->part_len[d];
	if (have) {
		/* Only the segment right after the kept bytes completes them. */
		if (have > 4 || delta != -(__s32)have)
			return 0;
		__u32 need = 5 - have;
		__u8 tail[4] = {};
		if (need > 4 || plen < need ||
		    bpf_xdp_load_bytes(ctx, p->payload_off, tail, need) < 0)
			goto desync;
		/* Value by value: the compiler must not pick between two
		 * pointers, which the verifier rejects. */
		__u8 k0 = f->part[d][0], k1 = f->part[d][1], k2 = f->part[d][2], k3 = f->part[d][3];
		switch (have) {
		case 1:
			h[0] = k0, h[1] = tail[0], h[2] = tail[1], h[3] = tail[2], h[4] = tail[3];
			break;
		case 2:
			h[0] = k0, h[1] = k1, h[2] = tail[0], h[3] = tail[1], h[4] = tail[2];
			break;
		case 3:
			h[0] = k0, h[1] = k1, h[2] = k2, h[3] = tail[0], h[4] = tail[1];
			break;
		default:
			h[0] = k0, h[1] = k1, h[2] = k2, h[3] = k3, h[4] = tail[0];
			break;
		}
		f->part_len[d] = 0;
		int len = tls_record(h, f, appdata);
		if (len < 0)
			return -1;
		off = need + len;
	} else {
		if (delta < 0 || (__u32)delta >= plen)
			return 0;
		off = delta;
	}

	for (int i = 0; i < TLS_RECS_PER_PACKET; i++) {
		if (off >= plen || off > PAYLOAD_MAX_OFF)
			break;
		if (off + 5 > plen) {
			/* The header continues in the next segment: keep its
			 * first bytes; next_rec stays at the record start. */
			__u32 n = plen - off;
			if (n < 1 || n > 4 || bpf_xdp_load_bytes(ctx, p->payload_off + off, f->part[d], n) < 0)
				goto desync;
			f->part_len[d] = n;
			f->next_rec[d] = seq + off;
			return 0;
		}
		if (bpf_xdp_load_bytes(ctx, p->payload_off + off, h, 5) < 0)
			goto desync;
		int len = tls_record(h, f, appdata);
		if (len < 0)
			return -1;
		off += 5 + len;
	}
	if (off < plen)
		goto desync;
	f->next_rec[d] = seq + off;
	return 0;

desync:
	/* Lost track of the records: the packet budget ends tracking. */
	__sync_fetch_and_and(&f->tls_flags, ~sync);
	c->v[C_TLS_DESYNC]++;
	return 0;
}

/* Starts (or restarts) handshake tracking at a hello. */
static __always_inline int tls_start(struct pkt *p, struct flow *f, __u32 st, int src_is_a,
				     int pick_client, int fresh, __u64 now, struct counter_set *c)
{
	if (__sync_val_compare_and_swap(&f->tls_state, st, TLS_ACTIVE) != st)
		return 0;
	if (fresh) {
		f->rearms = 0;
	} else {
		f->rearms++;
		c->v[C_TLS_REARM]++;
	}
	f->tls_flags = 0;
	f->packets = 0;
	f->part_len[0] = f->part_len[1] = 0;
	f->kind |= FLOW_TLS;
	/* ServerHello first (asymmetric routing, sensor started late): its
	 * sender is the server. */
	if (pick_client)
		f->client_is_a = p->hello == 1 ? src_is_a : !src_is_a;
	/* The hello's own direction is in sync from its first byte. */
	int dir = (src_is_a == f->client_is_a) ? 0 : 1;
	f->next_rec[dir & 1] = payload_seq(p);
	f->tls_flags = dir ? (TLS_F_SEEN_S | TLS_F_SYNC_S) : (TLS_F_SEEN_C | TLS_F_SYNC_C);
	filter_add(p, f, now);
	c->v[C_FLOWS_TLS]++;
	return 1;
}

/* TLS handshake tracking for one TCP packet. pick_client says nothing else
 * has decided which side is the client yet. */
static __always_inline void tls_track(struct xdp_md *ctx, struct pkt *p, struct flow *f,
				      int src_is_a, int pick_client, struct counter_set *c)
{
	__u64 now = bpf_ktime_get_ns();
	__u8 flags = 0;
	__u32 st = f->tls_state;
	int hello = p->hello;

	if (st == TLS_ACTIVE && idle_since(now, f->last_ns)) {
		tls_end(f, p, TLS_IDLE, c, C_TLS_IDLE);
		st = f->tls_state;
	}
	if (st != TLS_ACTIVE) {
		if (!hello)
			return;
		/* A hello after the end: a new connection on the same tuple
		 * (idle since, closed, or a ClientHello far from where the old
		 * client stream was), or within the same one (a false start
		 * after a look-alike: limited restarts; never after a finished
		 * handshake, whose encrypted bytes may look like anything). */
		__s32 gap = (__s32)(payload_seq(p) - f->next_rec[0]);
		int fresh = st == TLS_NONE || st == TLS_CLOSED || idle_since(now, f->last_ns) ||
			    (hello == 1 && src_is_a == f->client_is_a && (gap < -65536 || gap > (1 << 24)));
		if (!fresh && (st == TLS_DONE || f->rearms >= cfg.max_rearms))
			return;
		if (!tls_start(p, f, st, src_is_a, pick_client || fresh, fresh, now, c))
			return;
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
	/* Pure ACKs carry nothing for the analysis and spend no budget. */
	int will_emit = p->payload_len > 0 || (p->tcp_flags & (TCP_FIN | TCP_RST));
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
	} else if (will_emit && f->packets + 1 >= cfg.tls_budget) {
		end_reason = TLS_BUDGET;
		counter = C_TLS_BUDGET;
		flags |= EV_F_BUDGET;
	}
	if (end_reason)
		flags |= EV_F_HS_DONE;
	if (will_emit &&
	    emit(ctx, p, f, EMIT_META(EV_CLASS_TLS, flags, end_reason ? end_reason : TLS_ACTIVE), c) == 0)
		f->packets++;
	if (end_reason)
		tls_end(f, p, end_reason, c, counter);
}

/* A client's SYN: a new connection, perhaps on a tuple an earlier one
 * used. One flow lookup per SYN finds out. */
static __always_inline int new_connection(const struct pkt *p)
{
	return (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

/* A SYN on a tuple with handshake state opens a new connection: its
 * hello starts afresh. The sequence-gap test in tls_track cannot tell on
 * its own: a client reusing its port within a second or so gets an ISN
 * only a little ahead of the old stream (RFC 6528's clock), which looks
 * like more of the old connection. Events lost by the old connection are
 * not the new one's (unless the flow also carries stream data). */
static __always_inline void tls_reopen(struct flow *f, struct pkt *p, struct counter_set *c)
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
		f->flags &= ~FLOW_F_LOST;
	}
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

/* Is the payload of p inside the SKIP range of v? Modular arithmetic, so
 * the range may wrap the sequence space. */
static __always_inline int in_skip(const struct stream_verdict *v, struct pkt *p)
{
	__u32 off = p->seq - v->skip_seq;

	return (__u64)off + p->payload_len <= v->skip_len;
}

/* Watched file-port flow. Returns 1 when the packet is inside a body
 * userspace is capturing or skipping: hello-like bytes there are file
 * data, not a handshake. */
static __always_inline int stream_track(struct xdp_md *ctx, struct pkt *p,
					const struct flow_key *k, struct flow *f, int src_is_a,
					int to_watched, struct counter_set *c)
{
	struct stream_verdict *v = bpf_map_lookup_elem(&stream_verdicts, k);
	__u8 flags = 0;

	/* A client's SYN opens a new connection on the tuple: what userspace
	 * decided for the old one (IGNORE, a SKIP range, a byte limit) and
	 * the bytes it spent do not carry over. */
	if (new_connection(p) && (f->kind & FLOW_STREAM)) {
		if (v) {
			bpf_map_delete_elem(&stream_verdicts, k);
			v = NULL;
		}
		f->stream_bytes = 0;
		f->flags &= ~FLOW_F_BUDGET;
	}
	__u8 state = v ? v->state : STREAM_NEW;

	if (!(f->kind & FLOW_STREAM)) {
		f->kind |= FLOW_STREAM;
		c->v[C_FLOWS_STREAM]++;
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
	if (!(f->flags & FLOW_F_STREAM_EMITTED))
		flags |= EV_F_FLOW_NEW;

	if (!(p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST))) {
		if (p->payload_len == 0)
			return 0;
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
			return state == STREAM_CAPTURE;
		}
	}
	if (emit(ctx, p, f, EMIT_META(EV_CLASS_STREAM, flags, state), c) == 0) {
		f->stream_bytes += p->payload_len;
		f->flags |= FLOW_F_STREAM_EMITTED;
	}
	return state == STREAM_CAPTURE;
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

	struct flow_key k = {};
	int src_is_a = make_key(p, &k);
	int created;
	struct flow *f = flow_get(&k, app || p->hello, &created, c);
	if (!f)
		return 0;

	if (cfg.tls_enabled && new_connection(p))
		tls_reopen(f, p, c);
	if (app && stream_track(ctx, p, &k, f, src_is_a, to_watched, c))
		p->hello = 0;
	if (cfg.tls_enabled && (p->hello || f->tls_state == TLS_ACTIVE))
		tls_track(ctx, p, f, src_is_a, !(f->kind & (FLOW_TLS | FLOW_STREAM)), c);
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
	__u64 now = bpf_ktime_get_ns();
	__u8 flags = 0;
	/* A new flow, or a tuple reused after the old connection went idle:
	 * the first Initial seen is the client's. */
	if (!(f->kind & FLOW_QUIC) || idle_since(now, f->last_ns)) {
		f->kind |= FLOW_QUIC;
		f->client_is_a = src_is_a;
		f->packets = 0;
		c->v[C_FLOWS_QUIC]++;
		flags |= EV_F_FLOW_NEW;
	}
	f->last_ns = now;
	if (f->packets >= cfg.quic_budget) {
		c->v[C_QUIC_BUDGET]++;
		return 0;
	}
	if (src_is_a == f->client_is_a)
		flags |= EV_F_FROM_CLIENT;
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
		if (tot < sizeof(*ip) + sizeof(*uh))
			return 0;
		if (tot == sizeof(*ip) + sizeof(*uh) || (void *)(b + 1) > data_end)
			return 1;
		return !cfg.quic_enabled || !(b[0] & 0x80);
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
		return !(th->flags & (TCP_FIN | TCP_RST)) && (th->flags & (TCP_SYN | TCP_ACK)) != TCP_SYN;
	/* Anything that starts like a handshake record takes the full path,
	 * which looks closer; so does a flow whose filter slot is taken. */
	__u8 *b = (void *)th + (doff & 0x3c);
	if ((void *)(b + 1) > data_end || b[0] == 22)
		return 0;
	__u32 idx = filter_index(ip->saddr, ip->daddr, sport, dport);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);
	return s && SLOT_COUNT(s->word) == 0;
}

/* The general fast path: can this TCP packet matter? Only a watched port,
 * a hello, or a handshake possibly active in this flow's filter slot send
 * it to handle_tcp. Records the hello for it. */
static __always_inline int tcp_candidate(struct xdp_md *ctx, struct pkt *p)
{
	if (cfg.tls_enabled)
		p->hello = tls_hello(ctx, p);
	if (cfg.stream_enabled && (port_app[p->dport] | port_app[p->sport]))
		return 1;
	if (!cfg.tls_enabled)
		return 0;
	if (p->payload_len == 0)
		return ((p->tcp_flags & (TCP_FIN | TCP_RST)) && filter_hit(p)) || new_connection(p);
	return p->hello || filter_hit(p);
}

/* UDP: only a QUIC long header can matter. */
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
