/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Files held until their verdict. In block mode with holds on, a watched
 * flow is gated in the direction its files travel: HTTP and IMAP from
 * the server's SYN-ACK (HTTP again at each client request), SMTP from
 * the client's SYN. Packets of that direction that carry bytes at or
 * after the gate are copied to userspace and dropped. Userspace reads
 * them as any stream data, moves the gate past what it has judged (the
 * whole of a body of no interest, a download's body but its last byte;
 * mail, packet by packet) and re-injects them; the packet completing a
 * file waits there for the file's verdict. The kernel keeps its own
 * time: a gate that holds packets for hold_timeout_ns without
 * userspace's word lets them through, so a dead daemon delays a
 * transfer, never stops it. */
#ifndef EDGESENSOR_HOLD_H
#define EDGESENSOR_HOLD_H

/* Does p's sequence range [seq, seq+len) reach gate or beyond? */
static __always_inline int hold_reaches(__u32 seq, __u32 len, __u32 gate)
{
	return (__s32)(seq + len - gate) > 0;
}

/* How far from a flow's gate (or, opened, its judged point) a request's
 * acknowledgement may be. */
#define HOLD_MAX_BACK (1u << 30)

/* Gates the flow at seq, a connection's first byte of the direction its
 * files travel. A SYN-ACK starts a gate only where none is (a forged one
 * must not move a connection's); a new connection on a tuple that had
 * one restarts it once the flow tracker confirmed it (hold_reopened). */
static __always_inline void hold_start(const struct flow_key *k, __u32 seq, int from_client, __u64 flags,
				       struct counter_set *c)
{
	struct file_hold n = { .gate_seq = seq, .state = HOLD_GATED, .from_client = from_client };

	if (bpf_map_update_elem(&file_holds, k, &n, flags) == 0)
		c->v[C_HOLD_ARMED]++;
}

/* A client request acknowledging seq: where its response starts. It
 * gates the server's bytes there unless they are gated at or before it
 * already, and is remembered (hold_reqs) against a gate userspace opens
 * on an older packet. An acknowledgement far from the gate is no request
 * of this connection (forged, it would put the gate behind every byte to
 * come): ignored. */
static __always_inline void hold_request(const struct flow_key *k, __u32 seq, struct counter_set *c)
{
	struct file_hold *h = bpf_map_lookup_elem(&file_holds, k);

	if (!h || h->from_client || h->state == HOLD_OFF ||
	    (__u32)(seq - h->gate_seq + HOLD_MAX_BACK) >= 2 * HOLD_MAX_BACK)
		return;
	struct hold_req r = { .ns = bpf_ktime_get_ns(), .ack = seq };
	bpf_map_update_elem(&hold_reqs, k, &r, BPF_ANY);
	if (h->state == HOLD_GATED && (__s32)(seq - h->gate_seq) >= 0)
		return;
	h->gate_seq = seq;
	h->state = HOLD_GATED;
	c->v[C_HOLD_ARMED]++;
}

/* hold_check's results: not held (0), or held, the first packet since
 * userspace last wrote the gate (userspace may be asleep: wake it) or
 * one after (it is awake, reading the first). */
enum {
	HOLD_FIRST = 1,
	HOLD_MORE = 2,
};

/* Never held: a packet an allowlist covers (what is never acted on is
 * not delayed either), or any while userspace is behind
 * (hold_max_backlog bytes wait in the streams ring: it would delay every
 * transfer it holds by its backlog; they are judged after). */
static __always_inline int hold_exempt(struct pkt *p, struct counter_set *c)
{
	if (enf_allowed(p->family, p->saddr, p->daddr)) {
		c->v[C_ENF_ALLOWED]++;
		return 1;
	}
	if (hold_max_backlog && bpf_ringbuf_query(&streams, BPF_RB_AVAIL_DATA) >= hold_max_backlog) {
		c->v[C_HOLD_BUSY]++;
		return 1;
	}
	return 0;
}

/* The gate's part of hold_check: is a packet of the direction files
 * travel (the client's: mail_out), carrying [p->seq, p->seq + len), to
 * be held? */
static __always_inline int hold_gate(struct pkt *p, const struct flow_key *k, int mail_out, __u32 len,
				     struct counter_set *c)
{
	struct file_hold *h = bpf_map_lookup_elem(&file_holds, k);
	if (!h || h->from_client != mail_out)
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
	if (hold_exempt(p, c))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 since = h->held_ns;
	if (p->reinjected == REINJECTED_HELD) {
		/* A datagram reassembled from held fragments: userspace, alive,
		 * is handing it in, however long its fragments took. */
		if ((__s32)(p->seq - h->gate_seq) < 0)
			h->gate_seq = p->seq;
		h->held_ns = now;
		return HOLD_FIRST;
	}
	if (since && now - since >= hold_timeout_ns) {
		c->v[C_HOLD_EXPIRED]++;
		return 0;
	}
	/* The gate comes down to the held packet's first byte: a later
	 * packet carrying any of its bytes is held too and handed on after
	 * it, so the receiver keeps the copy userspace read (it would take
	 * another copy, let through first, over the held one). A held
	 * packet reaches the gate, so this moves it back by less than a
	 * packet's length. */
	if ((__s32)(p->seq - h->gate_seq) < 0)
		h->gate_seq = p->seq;
	if (!since) {
		h->held_ns = now;
		return HOLD_FIRST;
	}
	return HOLD_MORE;
}

/* Returns HOLD_FIRST or HOLD_MORE when p is to be held: the caller emits
 * it and drops it. app is the watched port's application; from_client:
 * p travels to the watched port. */
static __always_inline int hold_check(struct pkt *p, const struct flow_key *k, __u8 app, int from_client,
				      struct counter_set *c)
{
	if (!cfg.enforce || enforce_mode != ENF_BLOCK || !hold_timeout_ns)
		return 0;
	if (app != APP_HTTP && app != APP_SMTP && app != APP_IMAP)
		return 0;
	/* A datagram reassembled from fragments that passed went out as
	 * them; one of held fragments (frag_hold) is judged like a packet. */
	if ((p->tcp_flags & TCP_RST) || p->reinjected == REINJECTED_PASSED)
		return 0;
	int mail_out = app == APP_SMTP; /* files travel client -> server */
	if (p->tcp_flags & TCP_SYN) {
		/* A connection starts: the server's SYN-ACK says where each
		 * direction's first byte is. */
		if (!from_client && (p->tcp_flags & TCP_ACK))
			hold_start(k, mail_out ? p->ack : p->seq + 1, mail_out, BPF_NOEXIST, c);
		return 0;
	}
	if (from_client && app == APP_HTTP) {
		/* A request: its acknowledgement is where the response starts.
		 * (A server may send before it; the SYN-ACK gated those.) */
		if (p->payload_len && (p->tcp_flags & TCP_ACK))
			hold_request(k, p->ack, c);
		return 0;
	}
	if (from_client != mail_out)
		return 0;
	__u32 len = p->payload_len + ((p->tcp_flags & TCP_FIN) ? 1 : 0);
	if (!len)
		return 0;
	return hold_gate(p, k, mail_out, len, c);
}

/* An IPv6 extension header: a first fragment whose chain goes on past
 * its fragment header hides its transport header from the parser. */
static __always_inline int ipv6_ext(__u8 next)
{
	/* Not AH: after the fragment header is its place (RFC 8200), and a
	 * datagram with it could not be cut again; not hop-by-hop, which a
	 * host drops anywhere but first. */
	switch (next) {
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case IPPROTO_HIP:
	case IPPROTO_SHIM6:
		return 1;
	}
	return 0;
}

/* Does the first fragment p carry a tunnel (the outer datagram
 * fragmented: a tunnel whose packets outgrow the path)? */
static __always_inline int frag_tunnel(const struct pkt *p)
{
	switch (p->l4proto) {
	case IPPROTO_UDP:
		return p->payload_off && tunnel_port(p->sport, p->dport);
	case IPPROTO_GRE:
	case IPPROTO_IPIP:
	case IPPROTO_IPV6:
		return 1;
	}
	return 0;
}

/* Is a TCP segment between sport and dport of a watched port's file
 * direction (HTTP's and IMAP's server bytes, SMTP's client bytes)? */
static __always_inline int file_direction(__u16 sport, __u16 dport)
{
	int to_watched;
	__u8 app = watched_app_ports(sport, dport, &to_watched);

	if (app != APP_HTTP && app != APP_SMTP && app != APP_IMAP)
		return 0;
	return to_watched == (app == APP_SMTP);
}

/* Loads n bytes at o into b; a first fragment that ends before them
 * (RFC 1858's tiny fragments, one layer down) is held, as a plain one
 * whose TCP header cannot be read is. */
#define PEEK(o, n)                                          \
	do {                                                \
		if (bpf_xdp_load_bytes(ctx, (o), b, (n)) < 0) \
			return 1;                           \
	} while (0)

/* The first fragment p of a tunnel packet: does it carry a TCP segment
 * of a watched port's file direction? (Userspace cuts the segment and
 * puts each piece back in the tunnel.) Reads one layer as the deep
 * parser does (deep_tunnel.h): VXLAN, Geneve, GTP-U with up to
 * MAX_GTP_EXT extension headers, GRE version 0 carrying IP or Ethernet,
 * IP in IP; one VLAN tag inside; an inner IPv4 header, or IPv6 without
 * extension headers. A layer it does not follow passes as before; one
 * cut short by the fragment's end is held. A global function: its stack
 * is its own. */
__attribute__((noinline)) int frag_tunnel_watched(struct xdp_md *ctx, struct pkt *p)
{
	if (!ctx || !p)
		return 0;
	__u8 b[40];
	__u32 off = p->l4_off;
	__u16 proto = 0; /* what follows the tunnel header; 0: IP of either version */

	switch (p->l4proto) {
	case IPPROTO_UDP:
		PEEK(off + 8, 12);
		if (p->dport == PORT_VXLAN) {
			if (!(b[0] & 0x08))
				return 0;
			off += 16;
			proto = ETH_P_TEB;
			break;
		}
		if (p->dport == PORT_GENEVE) {
			if (b[0] >> 6)
				return 0;
			proto = (__u16)b[2] << 8 | b[3];
			off += 16 + (b[0] & 0x3f) * 4;
			break;
		}
		/* GTP-U version 1, PT set, a G-PDU. */
		if ((b[0] >> 5) != 1 || !(b[0] & 0x10) || b[1] != 0xff)
			return 0;
		off += 16;
		if (!(b[0] & 0x07))
			break;
		off += 4;
		__u8 next = b[11];
#pragma unroll
		for (int i = 0; i < MAX_GTP_EXT; i++) {
			if (!next)
				break;
			PEEK(off, 1);
			__u32 len = (__u32)b[0] * 4;
			if (!len)
				return 0;
			PEEK(off + len - 1, 1);
			next = b[0];
			off += len;
		}
		if (next)
			return 0;
		break;
	case IPPROTO_GRE:
		PEEK(off, 4);
		/* Version 0 and no routing (RFC 2784, 2890). */
		if ((b[0] & 0x40) || (b[1] & 0x07))
			return 0;
		off += 4 + ((b[0] & 0x80) ? 4 : 0) + ((b[0] & 0x20) ? 4 : 0) + ((b[0] & 0x10) ? 4 : 0);
		proto = (__u16)b[2] << 8 | b[3];
		break;
	case IPPROTO_IPIP:
		proto = ETH_P_IP;
		break;
	case IPPROTO_IPV6:
		proto = ETH_P_IPV6;
		break;
	default:
		return 0;
	}
	if (proto == ETH_P_TEB) {
		PEEK(off, 18);
		proto = (__u16)b[12] << 8 | b[13];
		off += 14;
		if (is_vlan(proto)) {
			proto = (__u16)b[16] << 8 | b[17];
			off += 4;
		}
	}
	PEEK(off, 20);
	__u8 ver = b[0] >> 4;
	__u32 l4;
	if (ver == 4 && (proto == ETH_P_IP || !proto)) {
		__u32 ihl = (b[0] & 0x0f) * 4;
		/* Not TCP, or itself a fragment: no segment of its own here. */
		if (ihl < 20 || b[9] != IPPROTO_TCP || ((b[6] & 0x3f) | b[7]))
			return 0;
		l4 = off + ihl;
	} else if (ver == 6 && (proto == ETH_P_IPV6 || !proto)) {
		if (b[6] != IPPROTO_TCP)
			return 0;
		l4 = off + 40;
	} else {
		return 0;
	}
	PEEK(l4, 14);
	if (b[13] & (TCP_SYN | TCP_RST))
		return 0;
	return file_direction((__u16)b[0] << 8 | b[1], (__u16)b[2] << 8 | b[3]);
}

#undef PEEK

/* A first fragment p with no L4 header read (payload_off 0): may it hide
 * a TCP header (cut short, RFC 1858, or behind IPv6 extension headers
 * after the fragment header)? Both holds hold such a one. */
static __always_inline int frag_tcp_hidden(const struct pkt *p)
{
	return p->l4proto == IPPROTO_TCP || (p->family == 6 && ipv6_ext(p->l4proto));
}

/* The first fragment p of a datagram (frag.h): is the datagram to be
 * held? Then its fragments are emitted and dropped; userspace
 * reassembles them, hands the datagram in again (REINJECTED_HELD), and
 * hold_check judges it like any packet: the receiver gets the bytes
 * userspace read, never fragments it might put together otherwise.
 *
 * Every TCP datagram of a watched port's file direction is held, gate or
 * none: a first fragment sent before its flow is gated (before the
 * SYN-ACK, or while a keep-alive connection's gate is open) waits in the
 * receiver's reassembly queue for up to 30 s, to be completed by
 * fragments sent once a file is under way. So is one whose TCP header
 * cannot be read (too short, RFC 1858, or behind IPv6 extension headers
 * after the fragment header): real senders make neither. Its own fail
 * open is the daemon's word (hold_alive_until), not a gate's clock: no
 * gate may be there to keep time. Inside a tunnel alike (userspace puts
 * the pieces back in it); a tunnel packet fragmented outside is read
 * through (frag_tunnel_watched). A global function: its
 * stack is its own (beside frag_wanted's TLS walk the two would not fit
 * in one frame). */
__attribute__((noinline)) int frag_hold(struct xdp_md *ctx, struct pkt *p, struct counter_set *c)
{
	if (!ctx || !p || !c)
		return 0;
	if (!cfg.enforce || enforce_mode != ENF_BLOCK || !hold_timeout_ns || !cfg.stream_enabled)
		return 0;
	if (frag_tunnel(p)) {
		if (!frag_tunnel_watched(ctx, p))
			return 0;
	} else if (p->payload_off) {
		if (p->l4proto != IPPROTO_TCP || (p->tcp_flags & (TCP_SYN | TCP_RST)) ||
		    !file_direction(p->sport, p->dport))
			return 0;
	} else if (!frag_tcp_hidden(p)) {
		return 0;
	}
	if (bpf_ktime_get_ns() >= hold_alive_until) {
		c->v[C_HOLD_EXPIRED]++;
		return 0;
	}
	return !hold_exempt(p, c);
}

/* A new connection on a tuple with a gate, confirmed by its SYN-ACK p
 * (sensor.c reopen): its gate starts again. */
static __always_inline void hold_reopened(struct pkt *p, const struct flow_key *k, struct counter_set *c)
{
	if (!cfg.enforce || enforce_mode != ENF_BLOCK || !hold_timeout_ns)
		return;
	__u8 app = port_app[p->sport];
	if (app == APP_HTTP || app == APP_IMAP)
		hold_start(k, p->seq + 1, 0, BPF_ANY, c);
	else if (app == APP_SMTP)
		hold_start(k, p->ack, 1, BPF_ANY, c);
}

/* The emit meta bit that wakes userspace for a held packet: the first of
 * a gate's; the reader it woke finds the rest. (A forced wakeup costs
 * microseconds: an interrupt of the CPU's own.) */
static __always_inline __u32 hold_wake(int held)
{
	return held == HOLD_FIRST ? EMIT_WAKE : 0;
}

#endif
