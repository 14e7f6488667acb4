/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The TLS-activity filter: a counting filter of handshakes in progress, so
 * packets of flows that are not inside one skip the flow-table lookup.
 *
 * A handshake counts itself in its slot when it starts and uncounts itself
 * when it ends. Counts of handshakes that vanished without an end
 * (silence, LRU eviction) are healed: a slot idle for longer than
 * tls_idle_ns starts a new generation at zero, and ends from an older
 * generation are ignored. A false positive costs a lookup; a live
 * handshake is never hidden by it.
 */
#ifndef EDGESENSOR_FILTER_H
#define EDGESENSOR_FILTER_H

#include "parse.h"

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
__attribute__((noinline)) int filter_add(struct pkt *p, __u32 *gen, __u64 now)
{
	if (!p || !gen)
		return 0;
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (!s)
		return 0;
	int stale = idle_since(now, s->last_ns);
	s->last_ns = now;
	for (int i = 0; i < SLOT_CAS_TRIES; i++) {
		__u64 w = s->word;
		__u64 nw = stale ? ((__u64)(SLOT_GEN(w) + 1) << 32) | 1 : w + 1;
		if (__sync_val_compare_and_swap(&s->word, w, nw) == w) {
			*gen = SLOT_GEN(nw);
			return 0;
		}
	}
	/* Heavy contention: count it anyway; an over-count only costs lookups. */
	__sync_fetch_and_add(&s->word, 1);
	*gen = SLOT_GEN(s->word);
	return 0;
}

/* Uncounts a handshake that ended, unless its slot has moved on to a new
 * generation since it was counted. */
__attribute__((noinline)) int filter_del(struct pkt *p, __u32 gen)
{
	if (!p)
		return 0;
	__u32 idx = tuple_hash(p);
	struct tls_slot *s = bpf_map_lookup_elem(&tls_filter, &idx);

	if (!s)
		return 0;
	for (int i = 0; i < SLOT_CAS_TRIES; i++) {
		__u64 w = s->word;
		if (SLOT_GEN(w) != gen || SLOT_COUNT(w) == 0)
			return 0;
		if (__sync_val_compare_and_swap(&s->word, w, w - 1) == w)
			return 0;
	}
	return 0;
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

#endif
