/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading TLS records in a packet: what a payload's start says (a hello,
 * a record start too short to tell) and one record header's length. */
#ifndef EDGESENSOR_TLS_RECORD_H
#define EDGESENSOR_TLS_RECORD_H

#include "filter.h"
#include "emit.h"

#define TLS_CT_CCS 20
#define TLS_CT_ALERT 21
#define TLS_CT_HANDSHAKE 22
#define TLS_CT_APPDATA 23
#define TLS_CT_MAX 24 /* heartbeat */
#define TLS_MAX_RECORD (16384 + 2048)
/* Record headers followed per packet; more is a desync, not an error. */
#define TLS_RECS_PER_PACKET 16

/* What p->hello says. */
#define HELLO_NONE 0
#define HELLO_CLIENT 1 /* a ClientHello record starts the payload */
#define HELLO_SERVER 2 /* a ServerHello record */
#define HELLO_MAYBE 3  /* a record start too short to tell, or a CCS/alert record first */

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

/* Reads what the first n (1..11) payload bytes say of a record start. The
 * tests are loose on purpose: a receiver takes a ClientHello in 1-byte
 * segments, in 1-byte records, with record versions 3.0 to 3.255, after a
 * warning alert; the program only has to start following such a flow, and
 * userspace, which sees the bytes, ends what is not TLS at once. */
static __always_inline int tls_record_start(const __u8 *b, __u32 n)
{
	if (n >= 2 && b[1] != 3)
		return HELLO_NONE;
	__u32 rlen = 0;
	if (n >= 5) {
		rlen = (__u32)b[3] << 8 | b[4];
		if (rlen == 0 || rlen > TLS_MAX_RECORD)
			return HELLO_NONE;
	}
	switch (b[0]) {
	case TLS_CT_HANDSHAKE:
		if (n < 6)
			return HELLO_MAYBE;
		if (b[5] != 1 && b[5] != 2)
			return HELLO_NONE;
		if (rlen >= 4 && n >= 9) {
			/* The handshake header is in this record: a hello is at
			 * least version, random and session id length, and
			 * within the largest message a stack takes. */
			__u32 hlen = (__u32)b[6] << 16 | (__u32)b[7] << 8 | b[8];
			if (hlen < 35 || hlen > (1 << 17))
				return HELLO_NONE;
			if (rlen >= 5 && n >= 10 && b[9] != 3)
				return HELLO_NONE;
		}
		return b[5];
	case TLS_CT_CCS:
		if (n >= 5 && rlen != 1)
			return HELLO_NONE;
		if (n >= 6 && b[5] != 1)
			return HELLO_NONE;
		if (n >= 7 && (b[6] < TLS_CT_CCS || b[6] > TLS_CT_HANDSHAKE))
			return HELLO_NONE;
		return HELLO_MAYBE;
	case TLS_CT_ALERT:
		if (n >= 5 && rlen != 2)
			return HELLO_NONE;
		if (n >= 6 && b[5] != 1 && b[5] != 2)
			return HELLO_NONE;
		if (n >= 8 && (b[7] < TLS_CT_CCS || b[7] > TLS_CT_HANDSHAKE))
			return HELLO_NONE;
		return HELLO_MAYBE;
	}
	return HELLO_NONE;
}

/* What the payload's start says (HELLO_*). The first byte is read directly
 * (it rules out nearly every packet); the rest with a helper. */
static __always_inline int tls_hello(struct xdp_md *ctx, struct pkt *p)
{
	__u32 n = p->payload_len;

	if (n == 0)
		return HELLO_NONE;
	__u8 *d = payload_at(ctx, p, 0, 1);
	if (!d || d[0] < TLS_CT_CCS || d[0] > TLS_CT_HANDSHAKE)
		return HELLO_NONE;
	if (n > 11)
		n = 11;
	__u8 b[11] = {};
	if (bpf_xdp_load_bytes(ctx, p->payload_off, b, n) < 0)
		return HELLO_NONE;
	return tls_record_start(b, n);
}

/* Sequence number of the first payload byte: a SYN occupies one. */
static __always_inline __u32 payload_seq(struct pkt *p)
{
	return p->seq + ((p->tcp_flags & TCP_SYN) ? 1 : 0);
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

#endif
