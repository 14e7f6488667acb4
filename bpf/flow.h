/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The flow table: one entry per tracked flow, keyed the same way from
 * both directions, and the rules for a new connection on a used tuple. */
#ifndef EDGESENSOR_FLOW_H
#define EDGESENSOR_FLOW_H

#include "parse.h"

/* The application of a segment's watched port (port_app), the
 * destination's before the source's; *to_watched says it travels to it.
 * 0: neither is. */
static __always_inline __u8 watched_app_ports(__u16 sport, __u16 dport, int *to_watched)
{
	__u8 app = port_app[dport];

	*to_watched = app != 0;
	return app ? app : port_app[sport];
}

/* watched_app_ports of p. */
static __always_inline __u8 watched_app(const struct pkt *p, int *to_watched)
{
	return watched_app_ports(p->sport, p->dport, to_watched);
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
	k->zone = p->zone;
	return src_is_a;
}

/* A zeroed flow to create entries from: a struct flow on the stack would
 * take a sixth of the program's stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow);
} flow_template SEC(".maps");

/* Looks the flow up, or creates it when create is set. */
static __always_inline struct flow *flow_get(const struct flow_key *k, int create,
					     int *created, struct counter_set *c)
{
	struct flow *f = bpf_map_lookup_elem(&flows, k);
	__u32 zero = 0;

	*created = 0;
	if (f || !create)
		return f;
	struct flow *nf = bpf_map_lookup_elem(&flow_template, &zero);
	if (!nf)
		return NULL;
	/* BPF_NOEXIST: another CPU may have created it meanwhile; use that. */
	if (bpf_map_update_elem(&flows, k, nf, BPF_NOEXIST) == 0) {
		*created = 1;
		c->v[C_FLOWS]++;
	}
	f = bpf_map_lookup_elem(&flows, k);
	if (f && *created)
		f->first_ns = f->last_ns = bpf_ktime_get_ns();
	return f;
}

#endif
