/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps of the sensor. Sizes here are defaults: the loader sets the ring
 * buffers and the flow tables from the config (spec.Maps[name].MaxEntries). */
#ifndef EDGESENSOR_MAPS_H
#define EDGESENSOR_MAPS_H

#include <linux/bpf.h>
#include <bpf_helpers.h>
#include "types.h"

/* Handshake class (TLS and QUIC): small, so bulk file data never starves it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} handshakes SEC(".maps");

/* Stream class: candidate file flows. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} streams SEC(".maps");

/* Fragments class: IP fragments for userspace to reassemble and re-inject.
 * Its own ring, so a fragment flood starves neither handshakes nor files. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} fragments SEC(".maps");

/* Kernel-owned state of every tracked flow, both directions under one key. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

/* Userspace's verdicts for stream flows (NEW when absent). LRU so a
 * userspace that forgets to delete can never fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct stream_verdict);
} stream_verdicts SEC(".maps");

/* Downloads held until their verdict (hold.h). An LRU: an entry pushed
 * out is a flow no longer held, which fails open. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct file_hold);
} file_holds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct hold_req);
} hold_reqs SEC(".maps");

/* Userspace's verdicts for handshakes (tls.h): end one it has read whole,
 * or raise the budget of one whose hello is still coming. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct hs_verdict);
} hs_verdicts SEC(".maps");

/* New TCP connections waiting for their first client bytes (tls.h). LRU,
 * apart from the flow table, so a SYN flood churns only this. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct syn_pending);
} syn_pendings SEC(".maps");

/* What the first fragment of a datagram said of it (frag.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct frag_key);
	__type(value, struct frag_state);
} frag_states SEC(".maps");

/* ifindex -> counter slot, written by userspace when it attaches; the
 * program reads its .bss copy (ifslot in sensor.c). Pinned, so status and
 * a restarted daemon know which slot is whose. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_IFINDEX);
	__type(key, __u32);
	__type(value, __u32);
} ifslots SEC(".maps");

/* Counters per interface slot, per CPU: no atomics on the packet path. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_IFSLOTS);
	__type(key, __u32);
	__type(value, struct counter_set);
} counters SEC(".maps");

/* TLS-activity filter (see struct tls_slot). 65536 slots. */
#define TLS_FILTER_BITS 16
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << TLS_FILTER_BITS);
	__type(key, __u32);
	__type(value, struct tls_slot);
} tls_filter SEC(".maps");

/* Per-CPU scratch for building one event: header plus frame copy, then one
 * bpf_ringbuf_output() of exactly the bytes used. */
struct scratch_buf {
	struct event hdr;
	__u8 data[MAX_SNAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch_buf);
} scratch SEC(".maps");

/* Enforcement (enforce.h). The loader shrinks all of these to nothing
 * when enforcement is off. */

/* Blocklists: exact addresses in hashes, prefixes in LPM tries, each an
 * array of two tables. Userspace fills the slot not in use and then flips
 * enf_gen, so a whole set of lists is replaced at once and no packet sees
 * one half loaded. The inner definitions are templates: userspace makes
 * the tables at the size it needs. */
struct enf_exact4_t {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_entry);
};

struct enf_exact6_t {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u8[16]);
	__type(value, struct enf_entry);
};

struct enf_prefix4_t {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct enf_lpm4);
	__type(value, struct enf_entry);
};

struct enf_prefix6_t {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct enf_lpm6);
	__type(value, struct enf_entry);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct enf_exact4_t);
} enf_exact4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct enf_exact6_t);
} enf_exact6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct enf_prefix4_t);
} enf_prefix4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct enf_prefix6_t);
} enf_prefix6 SEC(".maps");

/* Allowlists: a packet with either address in one is never acted on.
 * Twice enforce.MaxAllow: during a swap the old and the new are both in. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, struct enf_lpm4);
	__type(value, __u8);
} enf_allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, struct enf_lpm6);
	__type(value, __u8);
} enf_allow6 SEC(".maps");

/* Flows userspace blocked, both directions under one key; fblock_slots
 * (globals.h) counts them per tuple-hash slot so other packets skip the
 * lookup. A plain hash: userspace bounds and expires its entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_block);
} flow_blocks SEC(".maps");

/* Per-list counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ENF_MAX_LISTS);
	__type(key, __u32);
	__type(value, struct enf_list_stats);
} enf_lists SEC(".maps");

/* Action records (struct enf_event). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} actions SEC(".maps");

#endif
