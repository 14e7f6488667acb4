//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* count.c: the size of the flow table, for status and /metrics.
 *
 * Walking a table of up to 16M flows through bpf(2) takes seconds; the
 * kernel keeps a per-CPU element count of every hash map (Linux 6.6+),
 * which bpf_map_sum_elem_count adds up in a few hundred nanoseconds.
 * A separate object: on older kernels this program does not load and
 * userspace walks the table instead, while sensor.c loads everywhere.
 * Userspace hands in the live (or pinned) flows map in place of the one
 * declared here, sized as it is.
 */
#include <linux/bpf.h>
#include <bpf_helpers.h>

#include "types.h"

/* The kfunc's argument type: only the name matters to the loader. */
struct bpf_map {
	int id;
} __attribute__((preserve_access_index));

extern __s64 bpf_map_sum_elem_count(const struct bpf_map *map) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

/* The sum, read by userspace after each run. */
__s64 flow_count;

SEC("syscall")
int count_flows(void *ctx)
{
	flow_count = bpf_map_sum_elem_count((const struct bpf_map *)&flows);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
