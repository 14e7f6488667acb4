/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Downloads held until their verdict. In block mode with holds on, an
 * HTTP flow is gated from the server's SYN-ACK (and again by each client
 * request): server packets that carry bytes at or after the gate are
 * copied to userspace and dropped. Userspace reads them as any stream
 * data, moves the gate past what it has judged (the whole of a
 * non-candidate body, a candidate's body but its last byte) and
 * re-injects them; the packet completing a candidate file waits there
 * for the file's verdict. The kernel keeps its own time: a gate that
 * holds packets for hold_timeout_ns without userspace's word lets them
 * through, so a dead daemon delays a download, never stops it. */
#ifndef EDGESENSOR_HOLD_H
#define EDGESENSOR_HOLD_H

/* Does p's sequence range [seq, seq+len) reach gate or beyond? */
static __always_inline int hold_reaches(__u32 seq, __u32 len, __u32 gate)
{
	return (__s32)(seq + len - gate) > 0;
}

/* Gates the flow at seq unless it is gated at or before it already. */
static __always_inline void hold_arm(const struct flow_key *k, __u32 seq, struct counter_set *c)
{
	struct file_hold *h = bpf_map_lookup_elem(&file_holds, k);

	if (h) {
		if (h->state == HOLD_GATED && (__s32)(seq - h->gate_seq) >= 0)
			return;
		h->gate_seq = seq;
		h->state = HOLD_GATED;
	} else {
		struct file_hold n = { .gate_seq = seq, .state = HOLD_GATED };
		bpf_map_update_elem(&file_holds, k, &n, BPF_ANY);
	}
	c->v[C_HOLD_ARMED]++;
}

/* hold_check's results: not held (0), or held, the first packet since
 * userspace last wrote the gate (userspace may be asleep: wake it) or
 * one after (it is awake, reading the first). */
enum {
	HOLD_FIRST = 1,
	HOLD_MORE = 2,
};

/* Returns HOLD_FIRST or HOLD_MORE when p is to be held: the caller emits
 * it and drops it. */
static __always_inline int hold_check(struct pkt *p, const struct flow_key *k, int from_client,
				      struct counter_set *c)
{
	if (!cfg.enforce || enforce_mode != ENF_BLOCK || !hold_timeout_ns)
		return 0;
	if (port_app[from_client ? p->dport : p->sport] != APP_HTTP)
		return 0;
	/* A datagram userspace reassembled went out as its fragments. */
	if ((p->tcp_flags & TCP_RST) || p->reinjected)
		return 0;
	if (from_client) {
		/* A request: its acknowledgement is where the response starts.
		 * (A server may send before it; the SYN-ACK gated those.) */
		if (p->payload_len && (p->tcp_flags & TCP_ACK) && !(p->tcp_flags & TCP_SYN)) {
			struct hold_req r = { .ns = bpf_ktime_get_ns(), .ack = p->ack };
			bpf_map_update_elem(&hold_reqs, k, &r, BPF_ANY);
			hold_arm(k, p->ack, c);
		}
		return 0;
	}
	if ((p->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
		hold_arm(k, p->seq + 1, c);
		return 0;
	}
	__u32 len = p->payload_len + ((p->tcp_flags & TCP_FIN) ? 1 : 0);
	if (!len)
		return 0;
	struct file_hold *h = bpf_map_lookup_elem(&file_holds, k);
	if (!h)
		return 0;
	if (h->state == HOLD_OPEN) {
		/* A request newer than what userspace opened the gate on
		 * gates the flow again. */
		struct hold_req *r = bpf_map_lookup_elem(&hold_reqs, k);
		if (!r || r->ns <= h->open_ns)
			return 0;
		h->gate_seq = r->ack;
		h->held_ns = 0;
		h->state = HOLD_GATED;
		c->v[C_HOLD_ARMED]++;
	}
	if (h->state != HOLD_GATED || !hold_reaches(p->seq, len, h->gate_seq))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 since = h->held_ns;
	if (!since) {
		h->held_ns = now;
		return HOLD_FIRST;
	}
	if (now - since >= hold_timeout_ns) {
		c->v[C_HOLD_EXPIRED]++;
		return 0;
	}
	return HOLD_MORE;
}

/* The emit meta bit that wakes userspace for a held packet: the first of
 * a gate's; the reader it woke finds the rest. (A forced wakeup costs
 * microseconds: an interrupt of the CPU's own.) */
static __always_inline __u32 hold_wake(int held)
{
	return held == HOLD_FIRST ? EMIT_WAKE : 0;
}

#endif
