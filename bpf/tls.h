/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TLS handshake tracking (handshakes ring, EV_CLASS_TLS).
 *
 * A TCP payload that can start a TLS record (a handshake, change_cipher_spec
 * or alert record header, however short the segment) on any port starts
 * tracking of the flow; from then on the packets of both directions are
 * emitted until the handshake is over. The program follows the record
 * lengths per direction (flow.next_rec), so bytes that merely look like a
 * record in the middle of a certificate cannot end tracking early, and it
 * ends tracking when an application_data record was seen at a boundary in
 * both directions, at FIN/RST, when userspace says so (hs_verdicts), when
 * a budget (packets and payload bytes) is spent, or when idle.
 *
 * The program must never be made blind by a packet the receiving host
 * drops: only packets it can trust move its state. A packet whose
 * checksum the interface's policy rejects, a data segment without ACK, or
 * one beyond the in-order bytes of its direction (which a later, longer
 * copy may replace at the host) is still emitted, but it neither moves the
 * record walker nor ends anything. An RST counts only at the exact next
 * sequence number (RFC 5961), a client SYN on a tracked tuple only once
 * the server's SYN-ACK confirms the new connection. Where the walker
 * loses the records, userspace, which reassembles the bytes as the host
 * does, ends the handshake through hs_verdicts, or raises the budget of a
 * hello that is still coming in small pieces.
 */
#ifndef EDGESENSOR_TLS_H
#define EDGESENSOR_TLS_H

#include "filter.h"
#include "emit.h"
#include "enforce.h"
#include "tls_record.h"

/* Ends handshake tracking once: only the CPU that wins the exchange
 * releases the filter slot and counts the reason. */
static __always_inline int tls_end(struct flow *f, struct pkt *p, __u32 why,
				   struct counter_set *c, int counter)
{
	if (__sync_val_compare_and_swap(&f->tls_state, TLS_ACTIVE, why) != TLS_ACTIVE)
		return 0;
	filter_del(p, f->filter_gen);
	c->v[counter]++;
	return 1;
}

/* Follows TLS record boundaries in this packet of direction dir. Returns
 * -1 when a boundary holds something that is not a TLS record. Record
 * headers are copied out with bpf_xdp_load_bytes(): the offsets come from
 * the wire and the helper checks them at run time, which keeps the
 * verifier's work flat.
 *
 * A direction is synchronised once, at its first record start: the one
 * that started tracking, or, for the other direction, the first segment
 * that starts with a record (so a reordered segment cannot be mistaken for
 * the start). After that only boundaries count, never bytes elsewhere. A
 * header split across two segments is kept in flow.part until the rest
 * arrives. */
__attribute__((noinline)) int tls_walk(struct xdp_md *ctx, struct pkt *p, struct flow *f, int dir,
				       struct counter_set *c)
{
	if (!ctx || !p || !f || !c)
		return 0;
	__u32 sync = dir ? TLS_F_SYNC_S : TLS_F_SYNC_C;
	__u32 seen = dir ? TLS_F_SEEN_S : TLS_F_SEEN_C;
	__u32 appdata = dir ? TLS_F_APPDATA_S : TLS_F_APPDATA_C;
	__u32 plen = p->payload_len;
	__u32 seq = payload_seq(p);
	__u8 h[6];
	int d = dir & 1;
	/* The packet starts at a record and holds only ChangeCipherSpec
	 * records so far: an application_data record next seals the rest
	 * (p->tls_sealed). */
	int lead = 0;

	if (plen == 0)
		return 0;
	if (!(f->tls_flags & seen)) {
		if (plen < 2 || bpf_xdp_load_bytes(ctx, p->payload_off, h, 2) < 0)
			return 0;
		if (h[0] < TLS_CT_CCS || h[0] > TLS_CT_HANDSHAKE || h[1] != 3)
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
		if (need > 4)
			goto desync;
		if (plen < need) {
			/* Still not whole (1-byte segments): keep collecting;
			 * next_rec stays at the record start. */
			__u32 n = plen;
			if (n < 1 || n > 3 || bpf_xdp_load_bytes(ctx, p->payload_off, tail, n) < 0)
				goto desync;
			__u8 k = have & 3;
			f->part[d][k & 3] = tail[0];
			if (plen > 1)
				f->part[d][(k + 1) & 3] = tail[1];
			if (plen > 2)
				f->part[d][(k + 2) & 3] = tail[2];
			f->part_len[d] = have + plen;
			return 0;
		}
		if (bpf_xdp_load_bytes(ctx, p->payload_off, tail, need) < 0)
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
		lead = 0;
	} else {
		if (delta < 0 || (__u32)delta >= plen)
			return 0;
		off = delta;
		lead = delta == 0;
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
		if (lead && h[0] == TLS_CT_APPDATA)
			p->tls_sealed = 1;
		if (h[0] != TLS_CT_CCS)
			lead = 0;
		off += 5 + len;
	}
	if (off < plen)
		goto desync;
	f->next_rec[d] = seq + off;
	return 0;

desync:
	/* Lost track of the records: userspace or the budget ends tracking. */
	__sync_fetch_and_and(&f->tls_flags, ~sync);
	c->v[C_TLS_DESYNC]++;
	return 0;
}

/* Starts (or restarts) handshake tracking at a hello. */
static __always_inline int tls_start(struct pkt *p, struct flow *f, const struct flow_key *k,
				     __u32 st, int src_is_a, int pick_client, int fresh, __u64 now,
				     struct counter_set *c)
{
	if (__sync_val_compare_and_swap(&f->tls_state, st, TLS_ACTIVE) != st)
		return 0;
	if (fresh) {
		f->rearms = 0;
	} else {
		f->rearms++;
		c->v[C_TLS_REARM]++;
	}
	/* What userspace decided of an earlier handshake on the tuple is not
	 * this one's. */
	bpf_map_delete_elem(&hs_verdicts, k);
	f->tls_flags = 0;
	f->packets = 0;
	f->hs_bytes = 0;
	f->part_len[0] = f->part_len[1] = 0;
	f->kind |= FLOW_TLS;
	/* ServerHello first (asymmetric routing, sensor started late): its
	 * sender is the server. A record start that says neither: the sender
	 * speaks first, as a TLS client does. */
	if (pick_client)
		f->client_is_a = p->hello == HELLO_SERVER ? !src_is_a : src_is_a;
	/* The hello's own direction is in sync from its first byte. */
	int dir = (src_is_a == f->client_is_a) ? 0 : 1;
	__u32 seq = payload_seq(p);
	f->next_rec[dir & 1] = seq;
	f->next_seq[dir & 1] = seq;
	f->tls_flags = dir ? (TLS_F_SEEN_S | TLS_F_SYNC_S) : (TLS_F_SEEN_C | TLS_F_SYNC_C);
	filter_add(p, &f->filter_gen, now);
	c->v[C_FLOWS_TLS]++;
	return 1;
}

/* Is this segment the next in-order bytes of its direction (so the host
 * keeps it whatever comes later)? Advances the direction's end if so. A
 * direction not yet started takes its first segment as the start. */
static __always_inline int tls_in_order(struct flow *f, struct pkt *p, int d, __u32 seen)
{
	__u32 seq = payload_seq(p);
	__u32 end = seq + p->payload_len;

	if (!(f->tls_flags & seen)) {
		f->next_seq[d & 1] = end;
		return 1;
	}
	if ((__s32)(seq - f->next_seq[d & 1]) > 0)
		return 0;
	if ((__s32)(end - f->next_seq[d & 1]) > 0)
		f->next_seq[d & 1] = end;
	return 1;
}

/* The hello gate. In block mode, while the handshake blocklists hold
 * entries (userspace sets hello_hold_ns), a ClientHello's verdict races
 * the server: a server on the same LAN answers before userspace has read
 * the hello, and a whole first exchange can complete before the flow is
 * blocked. So the server's packets of a gated handshake are held (copied
 * to userspace and dropped) until userspace has judged the hello
 * (hs_verdict.release), which hands them on or, the flow blocked, sends
 * them back through the program as the client's reset. The kernel keeps
 * its own time: past hello_hold_ns without a verdict they pass. */
static __always_inline void hello_gate(struct pkt *p, struct flow *f, __u32 seq, __u64 now,
				       struct counter_set *c)
{
	f->hello_gate_ns = 0;
	if (!hello_hold_ns || !cfg.enforce || enforce_mode != ENF_BLOCK || p->reinjected || now >= hello_alive_until)
		return;
	/* Allowlists win: what is never acted on is not delayed either. */
	if (enf_allowed(p->family, p->saddr, p->daddr))
		return;
	f->hello_gate_ns = now;
	f->hello_gate_seq = seq;
	c->v[C_HELLO_GATED]++;
}

/* Whether the flow's hello gate is up for a server packet now: userspace
 * has not opened it (v: the flow's hs_verdict, if any) and its time has
 * not run out. Nothing but a new client hello, the release of this gate
 * or the time lowers it: not the end of handshake tracking, which a
 * server's forged RST can bring about. */
static __always_inline int hello_pending(struct pkt *p, struct flow *f, struct hs_verdict *v, __u64 now,
					 struct counter_set *c)
{
	__u64 since = f->hello_gate_ns;

	/* A datagram of fragments that passed went out as them; one of held
	 * fragments (frag.h frag_hello_hold) is gated like a packet. */
	if (!since || p->reinjected == REINJECTED_PASSED)
		return 0;
	if (v && v->release && v->release_seq == f->hello_gate_seq) {
		f->hello_gate_ns = 0;
		return 0;
	}
	if (enforce_mode != ENF_BLOCK || now - since >= hello_hold_ns) {
		f->hello_gate_ns = 0;
		c->v[C_HELLO_EXPIRED]++;
		return 0;
	}
	return 1;
}

/* Emits a server packet the hello gate holds, flagged held and waking
 * the reader (a gate holds a few packets, each waited for). Returns the
 * packet's action: XDP_DROP once held, XDP_PASS when the ring had no
 * room (it goes on unheld). */
static __always_inline int hello_hold(struct xdp_md *ctx, struct pkt *p, struct flow *f, __u32 meta,
				      struct counter_set *c)
{
	meta |= (__u32)EV_STATE_HELD << 16 | EMIT_WAKE;
	if (emit(ctx, p, f, meta, c) < 0) {
		c->v[C_HELLO_LOST]++;
		return XDP_PASS;
	}
	c->v[C_HELLO_HELD]++;
	return XDP_DROP;
}

/* TLS handshake tracking for one TCP packet. Returns the packet's action:
 * XDP_DROP for one the hello gate holds. A global function, as are
 * tls_walk, filter_add and filter_del: each is verified once, not once
 * for every path its caller arrives by (this cut the verifier's work, and
 * every replay's start-up, by two fifths). */
__attribute__((noinline)) int tls_track(struct xdp_md *ctx, struct pkt *p, struct flow *f,
					const struct flow_key *k, struct counter_set *c)
{
	if (!ctx || !p || !f || !k || !c)
		return XDP_PASS;
	int src_is_a = p->src_is_a;
	/* A flow of neither class yet: this hello names its client. */
	int pick_client = !(f->kind & (FLOW_TLS | FLOW_STREAM));
	__u64 now = bpf_ktime_get_ns();
	__u8 flags = 0;
	__u32 st = f->tls_state;
	int started = 0;
	int hello = p->hello;

	if (st == TLS_ACTIVE && idle_since(now, f->last_ns)) {
		tls_end(f, p, TLS_IDLE, c, C_TLS_IDLE);
		st = f->tls_state;
	}
	/* Userspace's word on this handshake. */
	struct hs_verdict *v = bpf_map_lookup_elem(&hs_verdicts, k);
	/* A server packet while the hello gate is up: held, whatever the
	 * tracking (ended by a forged RST, say) would do with it. */
	int gated = src_is_a != f->client_is_a && hello_pending(p, f, v, now, c);
	if (gated && st != TLS_ACTIVE) {
		if (!p->payload_len)
			return XDP_PASS;
		return hello_hold(ctx, p, f, EMIT_META(EV_CLASS_TLS, 0, st), c);
	}
	if (st != TLS_ACTIVE) {
		if (!hello)
			return XDP_PASS;
		/* A hello the host drops starts nothing. */
		if (!csum_trusted(ctx, p, c) || !(p->tcp_flags & (TCP_ACK | TCP_SYN))) {
			c->v[C_TLS_UNTRUSTED]++;
			return XDP_PASS;
		}
		/* A hello after the end: a new connection on the same tuple
		 * (idle since, closed, or a ClientHello far from where the old
		 * client stream was), or within the same one (a false start
		 * after a look-alike: limited restarts; never after a finished
		 * handshake, whose encrypted bytes may look like anything). */
		__s32 gap = (__s32)(payload_seq(p) - f->next_rec[0]);
		int fresh = st == TLS_NONE || st == TLS_CLOSED || idle_since(now, f->last_ns) ||
			    (hello == HELLO_CLIENT && src_is_a == f->client_is_a &&
			     (gap < -65536 || gap > (1 << 24)));
		if (!fresh && (st == TLS_DONE || st == TLS_USER_DONE || f->rearms >= cfg.max_rearms ||
			       hello != HELLO_CLIENT))
			return XDP_PASS;
		if (!tls_start(p, f, k, st, src_is_a, pick_client || fresh, fresh, now, c))
			return XDP_PASS;
		started = 1;
		/* After segments emitted early (early_segment), userspace has
		 * the flow already. */
		if (!p->early)
			flags |= EV_F_FLOW_NEW;
	}
	f->last_ns = now;
	filter_touch(p, now);

	int from_client = src_is_a == f->client_is_a;
	int dir = from_client ? 0 : 1;
	if (from_client)
		flags |= EV_F_FROM_CLIENT;
	/* A client's hello (or a record start too short to tell: a hello in
	 * small pieces) raises the gate; a server's restarts nothing of it. */
	if (started && from_client && hello != HELLO_SERVER)
		hello_gate(p, f, payload_seq(p), now, c);
	if (started)
		v = NULL; /* tls_start deleted it: an earlier handshake's */

	__u32 pkt_budget = cfg.tls_budget, byte_budget = cfg.tls_byte_budget;
	if (v) {
		if (v->action == HS_END) {
			__u8 why = v->end_state == TLS_USER_NOT_TLS ? TLS_USER_NOT_TLS : TLS_USER_DONE;
			tls_end(f, p, why, c, C_TLS_USER_END);
			return XDP_PASS;
		}
		if (v->packets > pkt_budget)
			pkt_budget = v->packets;
		if (v->bytes > byte_budget)
			byte_budget = v->bytes;
	}

	int not_tls = 0, trusted = 0;
	__u32 seen = dir ? TLS_F_SEEN_S : TLS_F_SEEN_C;
	/* Past its direction's first application_data record (which only an
	 * in-order walk marks) a packet holds nothing the analysis reads: a
	 * lost copy of it costs the analysis nothing (emit.h). */
	p->tls_sealed = !!(f->tls_flags & (dir ? TLS_F_APPDATA_S : TLS_F_APPDATA_C));
	if (csum_trusted(ctx, p, c) && (p->tcp_flags & (TCP_ACK | TCP_SYN))) {
		if (p->payload_len == 0 || tls_in_order(f, p, dir, seen)) {
			trusted = 1;
			not_tls = tls_walk(ctx, p, f, dir, c) < 0;
		}
	}
	if (!trusted && (p->payload_len || (p->tcp_flags & (TCP_FIN | TCP_RST))))
		c->v[C_TLS_UNTRUSTED]++;

	__u32 tf = f->tls_flags;
	/* Pure ACKs carry nothing for the analysis and spend no budget. */
	int will_emit = p->payload_len > 0 || (p->tcp_flags & (TCP_FIN | TCP_RST));
	int end_reason = 0, counter = 0;

	if (trusted && (p->tcp_flags & TCP_RST)) {
		/* RFC 5961: an RST resets only at the exact next sequence
		 * number; a direction the program has not followed cannot be
		 * checked, and is believed. */
		if (!(tf & seen) || p->seq == f->next_seq[dir & 1]) {
			end_reason = TLS_CLOSED;
			counter = C_TLS_CLOSED;
		}
	} else if (trusted && (p->tcp_flags & TCP_FIN)) {
		end_reason = TLS_CLOSED;
		counter = C_TLS_CLOSED;
	} else if (not_tls) {
		end_reason = TLS_NOT_TLS;
		counter = C_TLS_NOT_TLS;
	} else if ((tf & (TLS_F_APPDATA_C | TLS_F_APPDATA_S)) == (TLS_F_APPDATA_C | TLS_F_APPDATA_S)) {
		end_reason = TLS_DONE;
		counter = C_TLS_DONE;
	}
	if (!end_reason && will_emit &&
	    (f->packets + 1 >= pkt_budget || f->hs_bytes + p->payload_len >= byte_budget)) {
		end_reason = TLS_BUDGET;
		counter = C_TLS_BUDGET;
		flags |= EV_F_BUDGET;
	}
	/* While the gate is up the server ends nothing (its RST, FIN or
	 * junk would otherwise end the tracking that routes its packets
	 * here); its packets count against no budget. */
	if (gated)
		end_reason = 0, flags &= ~EV_F_BUDGET;
	if (end_reason)
		flags |= EV_F_HS_DONE;
	__u32 meta = EMIT_META(EV_CLASS_TLS, flags, end_reason ? end_reason : TLS_ACTIVE);
	if (p->tls_sealed)
		meta |= (__u32)EV_STATE_SEALED << 16;
	if (gated && p->payload_len)
		return hello_hold(ctx, p, f, meta, c);
	int err = will_emit ? emit(ctx, p, f, meta, c) : -1;
	if (err == 0) {
		f->packets++;
		f->hs_bytes += p->payload_len;
	}
	/* The packet that completes the handshake, lost: the next one (both
	 * directions' application data are marked) ends it where userspace
	 * sees it, which would otherwise time the handshake out. */
	if (end_reason == TLS_DONE && err != 0)
		return XDP_PASS;
	if (end_reason)
		tls_end(f, p, end_reason, c, counter);
	return XDP_PASS;
}

#endif
