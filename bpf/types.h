/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Types shared between the XDP program and Go. bpf2go generates the Go side
 * (-type for each), so never mirror these by hand in Go. Keep every struct
 * free of implicit padding: the layout is the wire format of the ring buffers. */
#ifndef EDGESENSOR_TYPES_H
#define EDGESENSOR_TYPES_H

#include <linux/types.h>

/* Largest frame copied into one event. Native XDP without multi-buffer
 * support never sees more than a page; generic XDP on a GRO'd skb may, and
 * such frames are cut and flagged (EV_F_SNAP_CUT). */
#define MAX_SNAP 9216

/* Per-interface counter slots; slot 0 collects interfaces without a slot
 * (replay, or an ifindex beyond MAX_IFINDEX). */
#define MAX_IFSLOTS 64
#define MAX_IFINDEX 16384

/* Metadata in front of a frame userspace re-injects with BPF_PROG_TEST_RUN
 * (a datagram it reassembled from fragments): the program counts it apart
 * and never treats it as wire traffic twice. */
#define REINJECT_MAGIC 0xed5e0f1au
/* Metadata in front of a frame userspace sends through the program again
 * (a held packet, once its gate is off or its flow blocked): a packet
 * like any in every way but the packet counters, which counted it when
 * it came in. The program takes it off before anything else sees the
 * frame. */
#define RESEND_MAGIC 0xed5e0f1bu
/* The second word of a re-injected datagram's metadata (after
 * REINJECT_MAGIC) when the program held its fragments (hold.h
 * frag_hold): none of it reached the receiver, so it is judged, and
 * held, like a packet of the wire. */
#define REINJECT_HOLD_MAGIC 0xed5e0f1cu

/* struct pkt's reinjected: how the frame came back from userspace. */
enum {
	REINJECTED_PASSED = 1, /* reassembled from fragments that passed */
	REINJECTED_HELD = 2,   /* reassembled from fragments that were held */
};

/* Which ring an event went to and why. */
enum ev_class {
	EV_CLASS_TLS = 1,    /* TCP packet of a flow inside its TLS handshake */
	EV_CLASS_QUIC = 2,   /* UDP QUIC long-header Initial packet */
	EV_CLASS_STREAM = 3, /* TCP packet of a watched file-port flow */
	EV_CLASS_FRAG = 4,   /* an IP fragment userspace may need to reassemble */
};

/* Bits of event.flags. */
enum ev_flag {
	EV_F_FROM_CLIENT = 1 << 0, /* packet travels client -> server */
	EV_F_LOST = 1 << 1,        /* events of this flow were lost before (ring full) */
	EV_F_SNAP_CUT = 1 << 2,    /* frame longer than snaplen: the copy is cut */
	EV_F_FLOW_NEW = 1 << 3,    /* first event of this flow and class */
	EV_F_BUDGET = 1 << 4,      /* the flow exhausted a budget; data is missing */
	EV_F_HS_DONE = 1 << 5,     /* TLS: this packet ended handshake tracking */
	EV_F_TRUNCATED = 1 << 6,   /* the IP header claims more bytes than the frame holds */
	EV_F_REINJECTED = 1 << 7,  /* the frame was re-injected by userspace (reassembled) */
};

/* event.csum: what the program found of the L4 checksum, when it looked. */
enum csum_state {
	CSUM_UNCHECKED = 0,
	CSUM_OK = 1,
	CSUM_PARTIAL = 2, /* only the pseudo-header sum (or 0): a sender's offload left it */
	CSUM_BAD = 3,
};

/* Checksum policy of an interface slot (csum_mode in sensor.c), set by
 * userspace: a packet whose checksum the policy rejects never changes the
 * program's state (it may still be emitted for userspace to count). */
enum csum_mode {
	CSUM_MODE_TOLERANT = 0, /* valid or partial pass (offloaded senders, until proven otherwise) */
	CSUM_MODE_STRICT = 1,   /* only valid checksums pass: the wire of a router */
	CSUM_MODE_OFF = 2,      /* everything passes (GRO'd generic XDP, captures without checksums) */
};

/* Stream flow states, written by userspace into the stream_verdicts map. A flow
 * without an entry is STREAM_NEW. */
enum stream_state {
	STREAM_NEW = 0,     /* emit everything: userspace is classifying */
	STREAM_CAPTURE = 1, /* emit until stream_verdict.byte_limit */
	STREAM_SKIP = 2,    /* do not emit [skip_seq, skip_seq+skip_len) of skip_dir, then as NEW */
	STREAM_IGNORE = 3,  /* emit only SYN/FIN/RST */
};

/* TLS tracking state of a flow (flow.tls_state). */
enum tls_state {
	TLS_NONE = 0,
	TLS_ACTIVE = 1,      /* inside the handshake: emit both directions */
	TLS_DONE = 2,        /* application data seen both ways: never emit again */
	TLS_BUDGET = 3,      /* budget spent without seeing the end */
	TLS_NOT_TLS = 4,     /* a record boundary held something that is not TLS */
	TLS_CLOSED = 5,      /* FIN or RST during the handshake */
	TLS_IDLE = 6,        /* no packet for handshake_idle: timed out */
	TLS_USER_DONE = 7,   /* userspace saw the handshake end (hs_verdicts) */
	TLS_USER_NOT_TLS = 8,/* userspace found the flow is not TLS (hs_verdicts) */
};

/* Bits of flow.tls_flags; index 0 is client->server, 1 server->client. */
enum tls_flag {
	TLS_F_SYNC_C = 1 << 0,    /* record boundary of the client direction known */
	TLS_F_SYNC_S = 1 << 1,
	TLS_F_APPDATA_C = 1 << 2, /* client sent an application_data record */
	TLS_F_APPDATA_S = 1 << 3,
	TLS_F_SEEN_C = 1 << 4,    /* a sync was attempted; never resync from bytes */
	TLS_F_SEEN_S = 1 << 5,
};

/* Bits of flow.kind. */
enum flow_kind {
	FLOW_TLS = 1 << 0,
	FLOW_QUIC = 1 << 1,
	FLOW_STREAM = 1 << 2,
};

/* Bits of flow.flags. */
enum flow_flag {
	FLOW_F_LOST = 1 << 0,          /* a ring reservation failed for this flow */
	FLOW_F_BUDGET = 1 << 1,        /* the stream byte budget cut this flow */
	FLOW_F_STREAM_EMITTED = 1 << 2, /* a stream event of this flow went out */
	FLOW_F_REOPEN = 1 << 3,        /* a client SYN (flow.reopen_isn) waits for its SYN-ACK */
	FLOW_F_LOST_DATA = 1 << 4,     /* a record with payload was lost: counted in C_FLOWS_LOST_* */
};

/* Per-interface, per-CPU counters: index into counter_set.v. */
enum counter {
	C_PACKETS = 0,
	C_BYTES,
	C_NON_IP,         /* ARP, LLDP, PPPoE control, ... */
	C_PARSE_ERRORS,   /* malformed headers */
	C_TRUNCATED,      /* headers or IP length beyond the frame */
	C_FRAGMENTS,      /* IP fragments seen */
	C_VLAN_DEPTH,     /* more VLAN tags than we follow */
	C_IPV6_EXT_DEPTH, /* longer IPv6 extension chains than we follow */
	C_TLS_EVENTS,     /* events and bytes into the handshakes ring, TLS */
	C_TLS_BYTES,
	C_TLS_DROPS,      /* failed reservations in the handshakes ring, TLS */
	C_QUIC_EVENTS,
	C_QUIC_BYTES,
	C_QUIC_DROPS,
	C_STREAM_EVENTS,
	C_STREAM_BYTES,
	C_STREAM_DROPS,
	C_FRAG_EVENTS,    /* fragments into the fragments ring */
	C_FRAG_BYTES,
	C_FRAG_DROPS,
	C_FLOWS,          /* entries created in the flow table */
	C_FLOWS_TLS,      /* flows whose TLS tracking started (or restarted) */
	C_FLOWS_QUIC,
	C_FLOWS_STREAM,
	C_TLS_DONE,       /* handshakes ended by application data both ways */
	C_TLS_BUDGET,     /* handshakes ended by the budget */
	C_TLS_NOT_TLS,    /* flows found not to be TLS at a record boundary */
	C_TLS_CLOSED,     /* FIN/RST during the handshake */
	C_TLS_IDLE,       /* handshakes timed out */
	C_TLS_DESYNC,     /* record tracking lost: userspace or the budget ends these */
	C_TLS_REARM,      /* a new ClientHello restarted tracking on a flow */
	C_TLS_USER_END,   /* handshakes userspace ended (hs_verdicts) */
	C_TLS_EXTENDED,   /* budgets userspace raised for an unfinished hello */
	C_TLS_UNTRUSTED,  /* packets emitted but not let change the state (checksum, no ACK, out of order) */
	C_QUIC_BUDGET,    /* Initial packets beyond the per-flow budget */
	C_STREAM_SKIPPED_PACKETS,
	C_STREAM_SKIPPED_BYTES,
	C_STREAM_IGNORED_PACKETS,
	C_STREAM_BUDGET_PACKETS, /* not emitted: the flow's byte budget is spent */
	C_STREAM_REOPENED, /* a new connection on a stream flow's tuple, confirmed by its SYN-ACK */
	C_SNAP_CUT,       /* emitted frames cut at snaplen */
	C_TLS_NEW_CONN,   /* a new connection on a tuple that had handshake state */
	C_CSUM_BAD,       /* checksums found wrong where the program looked */
	C_CSUM_PARTIAL,   /* checksums found partial (offloaded sender) */
	C_TUNNELED,       /* packets whose analysed flow was inside a tunnel */
	C_MPLS,           /* packets with an MPLS label stack */
	C_PPPOE,          /* packets of PPPoE sessions */
	C_NOT_FOLLOWED,   /* encapsulations the parser does not follow (depth, version, ESP...) */
	C_FRAG_SKIPPED,   /* fragments of datagrams known to carry nothing of interest */
	C_REINJECTED,     /* frames userspace re-injected (reassembled datagrams) */
	C_TLS_EARLY,      /* segments emitted before a connection's first bytes (tls.h) */
	C_ENF_DROP_ADDR,  /* packets dropped: an address on a blocklist (enforce.h) */
	C_ENF_DROP_FLOW,  /* packets dropped: a flow userspace blocked (handshake, file) */
	C_ENF_DROP_BYTES, /* bytes of the packets dropped */
	C_ENF_WOULD_ADDR, /* monitor mode: packets that would have been dropped, by address */
	C_ENF_WOULD_FLOW, /* monitor mode: ... of blocked flows */
	C_ENF_RESETS,     /* TCP resets sent back instead of a dropped packet */
	C_ENF_ALLOWED,    /* blocklist hits an allowlist overruled */
	C_ENF_STALE,      /* blocklist hits passed: the list is older than its maximum age */
	C_ENF_EXPIRED,    /* blocklist hits passed: the entry expired */
	C_ENF_EVENTS,     /* action records into the actions ring */
	C_ENF_EVENT_DROPS,/* action records lost (ring full) */
	C_ENF_TINY_FRAG,  /* first fragments too short for their ports, dropped while flows are blocked */
	C_HOLD_ARMED,     /* downloads gated: a server's SYN-ACK or a client's request (hold.h) */
	C_HOLD_DIVERTED,  /* server packets held: emitted to userspace and dropped until it hands them on */
	C_HOLD_EXPIRED,   /* packets passed: held past hold_timeout without word from userspace, or first fragments while it has not said it lives (fail open) */
	C_HOLD_LOST,      /* packets passed: holding needed an event its ring (streams; fragments) had no room for */
	C_HOLD_BUSY,      /* packets passed: userspace was behind (hold_max_backlog bytes waiting in the ring) */
	C_FLOWS_LOST_TLS, /* flows that lost their first record with payload to a full ring, by the */
	C_FLOWS_LOST_QUIC, /*  record's class: the flows whose analysis the loss hurt, event or none (emit.h) */
	C_FLOWS_LOST_STREAM,
	C_DROPS_NO_FLOW,  /* records lost to a full ring with no flow to flag (SYN, FIN, RST, fragments) */
	C_HELLO_GATED,    /* ClientHellos whose server packets wait for their verdict (block mode, tls.h) */
	C_HELLO_HELD,     /* server packets held for a hello's verdict: emitted to userspace and dropped */
	C_HELLO_EXPIRED,  /* server packets passed: the hello's verdict took longer than hello_hold_ns (fail open) */
	C_HELLO_LOST,     /* server packets passed: holding needed an event the handshakes ring had no room for */
	C_RESENT,         /* held frames userspace sent through the program again (counted in packets when they came in) */
	C_HOLD_FRAGS,     /* fragments of held datagrams (hold.h frag_hold): emitted to userspace and dropped */
	C_MAX,
};

struct counter_set {
	__u64 v[C_MAX];
};

/* Header of every ring-buffer record; cap_len frame bytes follow it. All
 * fields host byte order except the addresses (network order, IPv4 as
 * IPv4-mapped IPv6). For a fragment (EV_CLASS_FRAG) l3_off is the
 * fragmented IP header and payload_off/payload_len its fragment data. */
struct event {
	__u64 ts_ns;       /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;     /* ingress interface */
	__u32 pkt_len;     /* frame length on the wire */
	__u32 seq;         /* TCP sequence number */
	__u32 ack;         /* TCP acknowledgement number */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 zone;        /* tunnel identity (see struct flow_key) */
	__u16 sport;
	__u16 dport;
	__u16 cap_len;     /* frame bytes following this header */
	__u16 l3_off;      /* offset of the (innermost) IP header in the frame */
	__u16 l4_off;      /* offset of the TCP/UDP header */
	__u16 payload_off; /* offset of the L4 payload */
	__u16 payload_len; /* L4 payload length per the IP header */
	__u16 vlan[2];     /* outermost two VLAN ids, 0 if untagged */
	__u16 lost;        /* events of this flow lost so far */
	__u8 class;        /* enum ev_class */
	__u8 flags;        /* enum ev_flag */
	__u8 tcp_flags;    /* FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 */
	__u8 l4proto;      /* IPPROTO_TCP or IPPROTO_UDP (fragments: the IP protocol) */
	__u8 family;       /* 4 or 6 */
	__u8 state;        /* stream_state or tls_state at emission */
	__u8 tunnels;      /* tunnel layers around the analysed packet */
	__u8 csum;         /* enum csum_state */
	__u8 _pad[8];
};

/* Flow key, canonical for both directions: endpoint a is the lower of the
 * two (address words, then port), so one entry serves both interfaces of a
 * router. zone separates overlapping address spaces: it hashes the tunnel
 * identity (VXLAN/Geneve VNI, GRE key, the outer address pair of keyless
 * tunnels, and with capture.vlan_tracking the VLAN ids and PPPoE session),
 * all of which are the same in both directions. The interface is
 * deliberately not part of it. */
struct flow_key {
	__u32 addr_a[4];
	__u32 addr_b[4];
	__u32 zone;
	__u16 port_a;
	__u16 port_b;
	__u8 proto;
	__u8 _pad[3];
};

/* Kernel-owned flow state (LRU). Userspace only reads it. Both directions
 * of a flow may be processed at once on two CPUs: tls_state and tls_flags
 * change atomically; the counters (packets, lost, stream_bytes) may miss
 * an increment under such a race, which only moves a budget by one. */
struct flow {
	__u64 first_ns;
	__u64 last_ns;
	__u64 stream_bytes; /* payload bytes emitted into the streams ring */
	__u64 hello_gate_ns; /* block mode: when the ClientHello whose verdict the server's packets wait for came (tls.h); 0: none */
	__u32 hello_gate_seq; /* that hello's first sequence number (QUIC: 0): the gate's name in hs_verdict.release_seq */
	__u32 hs_bytes;     /* TLS: payload bytes emitted for the handshake */
	__u32 next_rec[2];  /* TLS: sequence number of the next record, per direction */
	__u32 next_seq[2];  /* TLS: end of the in-order bytes seen, per direction */
	__u32 reopen_isn;   /* the ISN of a client SYN waiting for its SYN-ACK */
	__u32 tls_state;    /* enum tls_state; u32 for atomic compare-and-swap */
	__u32 tls_flags;    /* enum tls_flag; u32 for atomic or */
	__u32 filter_gen;   /* generation of the tls_filter slot this handshake counts in */
	__u16 packets;      /* TLS or QUIC events emitted */
	__u16 lost;         /* failed ring reservations */
	__u8 part[2][4];    /* TLS: a record header split across segments, per direction */
	__u8 part_len[2];
	__u8 kind;          /* enum flow_kind */
	__u8 client_is_a;   /* the client (initiator) is endpoint a of the key */
	__u8 rearms;        /* TLS tracking restarts within one connection */
	__u8 flags;         /* enum flow_flag */
	__u8 _pad[2];
};

/* event.state bit: the program held this packet (dropped it after the
 * copy); userspace hands it on, or not, once the file is judged. */
#define EV_STATE_HELD 0x80
/* event.state bit (TLS): every byte of the packet is past its direction's
 * plaintext handshake (tls.h p->tls_sealed): a hole before it holds
 * nothing the analysis reads, unless the lost flag says a record that
 * could was lost. */
#define EV_STATE_SEALED 0x40

/* port_app values (datapath.App*) of the protocols hold.h gates. */
#define APP_HTTP 1
#define APP_SMTP 2
#define APP_IMAP 3

/* A download's gate (hold.h), keyed like stream_verdicts. Server bytes at
 * or after gate_seq are held: emitted to userspace and dropped, until
 * userspace moves the gate past what it has judged and re-injects them.
 * held_ns is the kernel's own clock for fail-open: a gate userspace has
 * not serviced for hold_timeout_ns lets packets through. */
struct file_hold {
	__u64 held_ns;  /* first packet held since userspace last wrote the entry; 0: none */
	__u64 open_ns;  /* OPEN: the time of the packet userspace decided it on */
	__u32 gate_seq;    /* first sequence number not yet judged, of the gated direction */
	__u8 state;        /* enum hold_state */
	__u8 from_client;  /* the gated direction: 1 client -> server (SMTP), 0 server -> client */
	__u8 _pad[2];
};

/* A flow's latest client request, kernel-owned (hold_reqs): userspace's
 * OPEN, decided on an older packet, must not undo the gate a newer
 * request set. */
struct hold_req {
	__u64 ns;  /* when it passed */
	__u32 ack; /* where its response starts */
	__u32 _pad;
};

enum hold_state {
	HOLD_OPEN = 0,  /* nothing held; a client's request gates the flow again */
	HOLD_GATED = 1, /* hold the gated direction's bytes from gate_seq on */
	HOLD_OFF = 2,   /* nothing more to judge on this connection (an upgrade, a tunnel, TLS): never gated again */
};

/* Userspace-owned stream control. The kernel only reads it, and deletes it
 * when a new connection on the tuple is confirmed (its SYN-ACK). */
struct stream_verdict {
	__u64 byte_limit; /* any state: cap on flow.stream_bytes; 0 means the config default */
	__u32 skip_seq;   /* SKIP: first sequence number not emitted */
	__u32 skip_len;   /* SKIP: length of the range */
	__u8 state;       /* enum stream_state */
	__u8 skip_dir;    /* SKIP: 0 client->server, 1 server->client */
	__u8 _pad[6];
};

/* What userspace decided for a handshake (hs_verdicts): it reads the
 * reassembled bytes, so it knows better than the program when a
 * handshake is over or whether a flow is TLS at all. */
enum hs_action {
	HS_EXTEND = 0,  /* keep following: budgets raised to the given ones */
	HS_END = 1,     /* stop now: userspace has what it needs (reason in end_state) */
};

struct hs_verdict {
	__u32 packets;   /* HS_EXTEND: packet budget for the flow */
	__u32 bytes;     /* HS_EXTEND: payload byte budget */
	__u8 action;     /* enum hs_action */
	__u8 end_state;  /* HS_END: TLS_USER_DONE or TLS_USER_NOT_TLS */
	__u8 release;    /* userspace judged the ClientHello of gate release_seq: the server's packets wait no more */
	__u8 _pad;
	__u32 release_seq; /* the gate it opens (flow.hello_gate_seq): an older hello's word opens no newer gate */
};

/* A new TCP connection whose first client bytes have not come yet (tls.h):
 * segments that come before them (reordered, or sent out of order on
 * purpose) are emitted in case the first bytes start a hello. */
struct syn_pending {
	__u64 ts_ns;
	__u32 isn;         /* the client's initial sequence number */
	__u32 filter_gen;  /* generation of the tls_filter slot it counts in */
	__u8 client_is_a;
	__u8 emitted;      /* segments emitted before the first bytes */
	__u8 _pad[6];
};

/* Fragment of a datagram: whether its first fragment said it can matter. */
struct frag_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 id;
	__u32 zone;
	__u8 proto;
	__u8 _pad[3];
};

enum frag_decision {
	FRAG_UNKNOWN = 0, /* first fragment not seen yet: emit */
	FRAG_WANT = 1,
	FRAG_SKIP = 2,
	FRAG_HOLD = 3, /* held (hold.h frag_hold): emitted and dropped */
};

struct frag_state {
	__u64 ts_ns;
	__u8 decision; /* enum frag_decision */
	__u8 _pad[7];
};

/* Slot of the TLS-activity filter: lets a packet of a flow that is not
 * inside a handshake skip the flow lookup. word holds a generation (high
 * 32 bits) and the number of handshakes hashed here (low 32 bits), changed
 * only by compare-and-swap; last_ns is the last activity. A slot idle for
 * longer than tls_idle_ns is reset to a new generation, which heals counts
 * left by handshakes that vanished (see filter.h). */
struct tls_slot {
	__u64 word;
	__u64 last_ns;
};

/* Runtime configuration, a volatile const set by the loader before the
 * program is verified, so disabled classes are pruned by the verifier. */
struct config {
	__u64 stream_budget;    /* payload bytes per stream flow unless stream_verdicts says otherwise */
	__u64 tls_idle_ns;      /* a handshake with no packet for this long is over */
	__u32 tls_budget;       /* packets emitted per TLS handshake, both directions */
	__u32 tls_byte_budget;  /* payload bytes emitted per TLS handshake, both directions */
	__u32 quic_budget;      /* Initial packets emitted per QUIC flow */
	__u32 snaplen;          /* frame bytes copied per event, <= MAX_SNAP */
	__u8 tls_enabled;
	__u8 quic_enabled;
	__u8 stream_enabled;
	__u8 max_rearms;        /* TLS restarts allowed per flow */
	__u8 vlan_tracking;     /* VLAN ids and PPPoE sessions are part of the flow zone */
	__u8 frag_enabled;      /* emit fragments for userspace to reassemble */
	__u8 enforce;           /* enforcement compiled in (enforce.h); enforce_mode picks the mode */
	__u8 _pad[1];
	/* Ring buffer wakeups: userspace is woken only when this many bytes
	 * wait in the ring (it also polls on a timer), not for every record:
	 * one wakeup per record costs more than the record. 0: every record. */
	__u32 hs_wakeup_bytes;
	__u32 stream_wakeup_bytes;
};

/* Enforcement (enforce.h). Blocklists are numbered; each has its own
 * freshness and counters. */
#define ENF_MAX_LISTS 64
/* The prefilter: one bit per /24 of IPv4 and per top 24 bits of IPv6. */
#define ENF_PREFILTER_BITS 24
#define ENF_PREFILTER_WORDS (1 << (ENF_PREFILTER_BITS - 6))
/* Blocked flows counted per slot of the tuple hash (filter_index). */
#define FBLOCK_BITS 16
/* One action record per blocklist entry or blocked flow per this long. */
#define ENF_REPORT_NS 1000000000ULL

/* enforce_mode: what a blocklist hit does. */
enum enf_mode {
	ENF_OFF = 0,
	ENF_MONITOR = 1, /* count and report "would block", pass */
	ENF_BLOCK = 2,   /* drop (and reset a blocked TCP flow) */
};

/* What an action was taken on. */
enum enf_what {
	ENF_ADDR = 1, /* a source or destination address on a blocklist */
	ENF_FLOW = 2, /* a flow userspace blocked (flow_blocks) */
};

/* How a blocked TCP flow's client learned of it. */
enum enf_reset_how {
	ENF_RESET_NONE = 0,
	ENF_RESET_TX = 1,      /* the client's packet came back as a reset (XDP_TX) */
	ENF_RESET_FORWARD = 2, /* the server's packet went on as a reset to the client */
};

/* Which address of the packet matched (ENF_ADDR). */
enum enf_side {
	ENF_SIDE_SRC = 1,
	ENF_SIDE_DST = 2,
};

/* Value of the blocklist tables (exact addresses and prefixes). */
struct enf_entry {
	__u64 expires_ns;  /* CLOCK_MONOTONIC; 0: never */
	__u64 reported_ns; /* last action record for this entry (the program writes it) */
	__u16 list;        /* < ENF_MAX_LISTS */
	__u8 level;        /* threat level 0..10 */
	__u8 prefixlen;    /* the listed prefix's length (32 or 128: an address) */
	__u8 _pad[4];
};

struct enf_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct enf_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* A flow userspace blocked: a handshake or a file it judged malicious. */
struct flow_block {
	__u64 expires_ns;  /* CLOCK_MONOTONIC; the block lapses then */
	__u64 reported_ns; /* last action record for this flow */
	__u16 list;        /* the list whose entry decided it (freshness, counters) */
	__u8 level;
	__u8 reason;       /* userspace's reason code, echoed in the records */
	__u8 client_is_a;  /* the client is endpoint a of the key */
	__u8 _pad[3];
};

/* Per-list counters, per CPU. */
struct enf_list_stats {
	__u64 packets; /* dropped */
	__u64 bytes;
	__u64 would_packets; /* monitor mode */
	__u64 would_bytes;
};

/* Record of the actions ring: one action, at most one per entry or flow
 * per ENF_REPORT_NS (the counters have every packet). */
struct enf_event {
	__u64 ts_ns;
	__u32 ifindex;
	__u32 pkt_len;
	__u8 saddr[16];     /* network order, IPv4 as IPv4-mapped IPv6 */
	__u8 daddr[16];
	__u32 zone;
	__u16 sport;
	__u16 dport;
	__u16 list;
	__u8 what;          /* enum enf_what */
	__u8 side;          /* enum enf_side (ENF_ADDR) */
	__u8 level;
	__u8 reason;        /* flow_block.reason (ENF_FLOW) */
	__u8 prefixlen;     /* the matched prefix's length (ENF_ADDR) */
	__u8 blocked;       /* 1 dropped, 0 monitor mode */
	__u8 family;
	__u8 l4proto;
	__u8 tcp_flags;
	__u8 reset;         /* a TCP reset went to the client (enum enf_reset) */
	__u8 _pad[4];
};

#endif
