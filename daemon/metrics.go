package daemon

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/edgesensor/edgesensor/sensor"
	"github.com/edgesensor/edgesensor/userspace/config"
	"github.com/edgesensor/edgesensor/userspace/export/metrics"
	"github.com/edgesensor/edgesensor/userspace/files/filetype"
	"github.com/edgesensor/edgesensor/userspace/verdict/enforce"
)

// statusFresh is how long one read of the pinned state serves scrapes.
const statusFresh = time.Second

// families are the sensor's Prometheus metrics, read at scrape time from
// the pinned maps, the ring readers, the pipelines, sinks and uplink.
func families(cfg *config.Config, s *sensor.Sensor, a *analysis, quiet *quietWatch) []metrics.Family {
	type emitFn = func(float64, ...string)
	// One read of the pinned links and counters serves the families of a
	// scrape (they are collected one after the other); the flow table is
	// counted by kernel_flows alone.
	var (
		mu     sync.Mutex
		read   time.Time
		cached sensor.Status
	)
	status := func() sensor.Status {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(read) > statusFresh {
			cached, _ = sensor.ReadInterfaces(cfg.Sensor.PinPath, nil)
			read = time.Now()
		}
		return cached
	}
	fams := []metrics.Family{
		{Name: "xdp_packets_total", Help: "Packets the XDP program saw, per interface.", Kind: metrics.Counter, Labels: []string{"iface"},
			Read: func(emit emitFn) {
				for _, is := range status().Interfaces {
					emit(float64(is.Counters["packets"]), is.Iface)
				}
			}},
		{Name: "xdp_counter_total", Help: "Every data-plane counter (classes passed to userspace, ring drops, parse errors, verdicts), per interface.",
			Kind: metrics.Counter, Labels: []string{"iface", "counter"},
			Read: func(emit emitFn) {
				for _, is := range status().Interfaces {
					for _, k := range slices.Sorted(maps.Keys(is.Counters)) {
						emit(float64(is.Counters[k]), is.Iface, k)
					}
				}
			}},
		{Name: "xdp_attached", Help: "1 per interface with the program attached, with its mode and program id.", Kind: metrics.Gauge,
			Labels: []string{"iface", "mode"},
			Read: func(emit emitFn) {
				for _, is := range status().Interfaces {
					v := 1.0
					if is.Error != "" || is.ProgID == 0 {
						v = 0
					}
					emit(v, is.Iface, is.Mode)
				}
			}},
		{Name: "interface_quiet", Help: "1 while an attached interface has seen no packets, or no TLS/QUIC handshakes, for metrics.quiet_after.",
			Kind: metrics.Gauge, Labels: []string{"iface", "what"},
			Read: func(emit emitFn) {
				if quiet == nil {
					return
				}
				for iface, kinds := range quiet.quiet() {
					for _, what := range []string{quietPackets, quietHandshakes} {
						v := 0.0
						if slices.Contains(kinds, what) {
							v = 1
						}
						emit(v, iface, what)
					}
				}
			}},
		{Name: "memory_held_bytes", Help: "What the analysis holds of traffic now, per budget (handshakes, files, fragments: as of the last second; spool).",
			Kind: metrics.Gauge, Labels: []string{"budget"},
			Read: func(emit emitFn) {
				emit(float64(a.handshakes.Memory()), "handshakes")
				emit(float64(a.files.Memory()), "files")
				emit(float64(s.FragmentMemory()), "fragments")
				emit(float64(a.files.SpoolBytes()), "spool")
			}},
		{Name: "memory_limit_bytes", Help: "Each budget's bound: reassembly.handshake_memory, files.reassembly_memory, reassembly.fragment_memory, files.spool_limit.",
			Kind: metrics.Gauge, Labels: []string{"budget"},
			Read: func(emit emitFn) {
				emit(float64(cfg.Reassembly.HandshakeMemory), "handshakes")
				emit(float64(cfg.Files.ReassemblyMemory), "files")
				emit(float64(cfg.Reassembly.FragmentMemory), "fragments")
				emit(float64(cfg.Files.SpoolLimit), "spool")
			}},
		{Name: "kernel_flows", Help: "Flows in the data plane's flow table.", Kind: metrics.Gauge,
			Read: func(emit emitFn) {
				if n, err := s.Flows(); err == nil {
					emit(float64(n))
				}
			}},
		{Name: "ring_pending_bytes", Help: "Bytes waiting in a ring buffer for the reader.", Kind: metrics.Gauge, Labels: []string{"ring"},
			Read: func(emit emitFn) {
				for _, r := range s.Rings() {
					emit(float64(r.Pending), r.Name)
				}
			}},
		{Name: "ring_size_bytes", Help: "Size of a ring buffer.", Kind: metrics.Gauge, Labels: []string{"ring"},
			Read: func(emit emitFn) {
				for _, r := range s.Rings() {
					emit(float64(r.Size), r.Name)
				}
			}},
		{Name: "dispatch_events_total", Help: "Ring records handed to the analysis.", Kind: metrics.Counter,
			Read: func(emit emitFn) { emit(float64(s.DispatchStats().Events)) }},
		{Name: "dispatch_bad_records_total", Help: "Ring records that did not decode.", Kind: metrics.Counter,
			Read: func(emit emitFn) { emit(float64(s.DispatchStats().BadRecord)) }},
	}
	fams = append(fams, enforcementFamilies(a, func() []sensor.IfaceStatus { return status().Interfaces })...)
	return append(fams, analysisFamilies(a)...)
}

// analysisFamilies need no data plane (replay has none).
func analysisFamilies(a *analysis) []metrics.Family {
	type emitFn = func(float64, ...string)
	c := &a.taps.counts
	fams := []metrics.Family{
		{Name: "events_total", Help: "Events written, by dataset.", Kind: metrics.Counter, Labels: []string{"dataset"},
			Read: func(emit emitFn) {
				emit(float64(c.tls.Load()), "edgesensor.tls")
				emit(float64(c.file.Load()), "edgesensor.file")
				emit(float64(c.verdict.Load()), "edgesensor.verdict")
				emit(float64(c.other.Load()), "other")
			}},
		{Name: "verdict_latency_seconds", Help: "How long after their last packet events were written (the analysis' verdict on a handshake or a file), by dataset; live traffic only. A handshake whose server never answers waits for capture.handshake_idle.",
			Kind: metrics.Histogram, Labels: []string{"dataset"},
			ReadHistogram: func(emit func(metrics.HistogramValue, ...string)) {
				emit(c.latency[0].Value(), "edgesensor.tls")
				emit(c.latency[1].Value(), "edgesensor.file")
			}},
		{Name: "files_total", Help: "File events, by category.", Kind: metrics.Counter, Labels: []string{"category"},
			Read: func(emit emitFn) {
				for _, cat := range filetype.Categories() {
					emit(float64(c.files[cat].Load()), cat.String())
				}
			}},
		{Name: "scores_total", Help: "Events by risk score band (none: unscored or pending).", Kind: metrics.Counter, Labels: []string{"band"},
			Read: func(emit emitFn) {
				for i := range c.bands {
					emit(float64(c.bands[i].Load()), bandNames[i])
				}
			}},
		{Name: "analysis_total", Help: "Analysis counters (handshakes, file flows, reassembly, parsers, uplink), as in the stop log line.",
			Kind: metrics.Counter, Labels: []string{"counter"},
			Read: func(emit emitFn) {
				m := a.Counts()
				for _, k := range slices.Sorted(maps.Keys(m)) {
					emit(float64(m[k]), k)
				}
			}},
		{Name: "file_spool_bytes", Help: "Bytes of candidate files spooled for analysis now (files.spool_limit).", Kind: metrics.Gauge,
			Read: func(emit emitFn) { emit(float64(a.files.SpoolBytes())) }},
		{Name: "sink_queue", Help: "Events waiting for a SIEM sink.", Kind: metrics.Gauge, Labels: []string{"sink"},
			Read: func(emit emitFn) {
				for _, st := range a.taps.sinkStats() {
					emit(float64(st.Queued), st.Name)
				}
			}},
		{Name: "sink_events_total", Help: "Events per SIEM sink, by outcome.", Kind: metrics.Counter, Labels: []string{"sink", "outcome"},
			Read: func(emit emitFn) {
				for _, st := range a.taps.sinkStats() {
					emit(float64(st.Sent), st.Name, "sent")
					emit(float64(st.Dropped), st.Name, "dropped")
					emit(float64(st.Filtered), st.Name, "filtered")
					emit(float64(st.Truncated), st.Name, "truncated")
				}
			}},
		{Name: "sink_errors_total", Help: "Write errors and reconnects per SIEM sink.", Kind: metrics.Counter, Labels: []string{"sink", "kind"},
			Read: func(emit emitFn) {
				for _, st := range a.taps.sinkStats() {
					emit(float64(st.Errors), st.Name, "error")
					emit(float64(st.Reconnects), st.Name, "reconnect")
				}
			}},
		{Name: "sink_connected", Help: "1 while a SIEM sink is connected.", Kind: metrics.Gauge, Labels: []string{"sink"},
			Read: func(emit emitFn) {
				for _, st := range a.taps.sinkStats() {
					v := 0.0
					if st.Connected {
						v = 1
					}
					emit(v, st.Name)
				}
			}},
		{Name: "uplink_spool_records", Help: "Records waiting in the uplink spool.", Kind: metrics.Gauge,
			Read: func(emit emitFn) {
				if cl := a.taps.cloud.Load(); cl != nil {
					emit(float64(cl.cur.Load().client.Stats().SpoolRecords))
				}
			}},
		{Name: "uplink_spool_limit_bytes", Help: "The uplink spool's bound (uplink.spool_max): past it the oldest records are dropped.", Kind: metrics.Gauge,
			Read: func(emit emitFn) {
				if cl := a.taps.cloud.Load(); cl != nil {
					emit(float64(cl.cur.Load().client.Stats().SpoolLimit))
				}
			}},
		{Name: "uplink_spool_bytes", Help: "Bytes in the uplink spool (uplink.spool_max).", Kind: metrics.Gauge,
			Read: func(emit emitFn) {
				if cl := a.taps.cloud.Load(); cl != nil {
					emit(float64(cl.cur.Load().client.Stats().SpoolBytes))
				}
			}},
	}
	fams = append(fams, kafkaFamilies(a.taps)...)
	fams = append(fams, geoFamilies(a)...)
	fams = append(fams, captureFamilies(a)...)
	fams = append(fams, lossFamilies(&a.taps.counts.loss)...)
	return append(fams, cloudIntelFamilies(a)...)
}

// cloudIntelFamilies are the figures of what the cloud tells the sensor:
// the feed and the hash lookups.
func cloudIntelFamilies(a *analysis) []metrics.Family {
	type emitFn = func(float64, ...string)
	fr := func(fn func(r *feedRunner, emit emitFn)) func(emitFn) {
		return func(emit emitFn) {
			if a.feed != nil {
				fn(a.feed, emit)
			}
		}
	}
	look := func(fn func(c *cloudLink, emit emitFn)) func(emitFn) {
		return func(emit emitFn) {
			if c := a.taps.cloud.Load(); c != nil {
				fn(c, emit)
			}
		}
	}
	return []metrics.Family{
		{Name: "feed_version", Help: "The version of the cloud's intel feed in force (0: none yet).", Kind: metrics.Gauge,
			Read: fr(func(r *feedRunner, emit emitFn) { emit(float64(r.f.Version())) })},
		{Name: "feed_age_seconds", Help: "How old the newest feed message in force is (when the cloud issued it); grows while the cloud cannot be reached.", Kind: metrics.Gauge,
			Read: fr(func(r *feedRunner, emit emitFn) {
				if r.f.Version() != 0 {
					emit(r.f.Age(time.Now()).Seconds())
				}
			})},
		{Name: "feed_entries", Help: "Entries of the feed in force.", Kind: metrics.Gauge,
			Read: fr(func(r *feedRunner, emit emitFn) { emit(float64(r.f.Layer.Len())) })},
		{Name: "feed_messages_total", Help: "Feed messages by outcome: applied, not_kept (in force, not written to uplink.feed_dir), refused_signature, refused_malformed, refused_expired, refused_version, refused_other (the last good feed stays).",
			Kind: metrics.Counter, Labels: []string{"outcome"},
			Read: fr(func(r *feedRunner, emit emitFn) {
				emit(float64(r.stats.Applied.Load()), "applied")
				emit(float64(r.stats.NotKept.Load()), "not_kept")
				for i, n := range refusals {
					emit(float64(r.stats.Refused[i].Load()), "refused_"+n)
				}
			})},
		{Name: "feed_polls_total", Help: "Polls of the feed, and those that failed (the cloud unreachable or refusing).", Kind: metrics.Counter, Labels: []string{"result"},
			Read: fr(func(r *feedRunner, emit emitFn) {
				emit(float64(r.stats.Polls.Load()), "all")
				emit(float64(r.stats.PollErrors.Load()), "failed")
			})},
		{Name: "feed_expired_total", Help: "Feed entries taken off at their expiry.", Kind: metrics.Counter,
			Read: fr(func(r *feedRunner, emit emitFn) { emit(float64(r.stats.Expired.Load())) })},
		{Name: "feed_apply_seconds", Help: "How long taking a feed message took (verify, parse, apply, keep on disk), over the last 1,024 (quantile 0.5, 0.99, 1).",
			Kind: metrics.Gauge, Labels: []string{"quantile"},
			Read: fr(func(r *feedRunner, emit emitFn) { quantiles(emit, &r.applyDur) })},
		{Name: "lookups_total", Help: "Hash lookups (uplink.lookups) by result: cache_hit, cache_miss (asked the cloud), failed (the cloud unavailable or too slow), listed (the intel or feed listed the hash: not asked), dropped (the queue was full).",
			Kind: metrics.Counter, Labels: []string{"result"},
			Read: look(func(c *cloudLink, emit emitFn) {
				st := c.cache.Stats()
				emit(float64(st.Hits.Load()), "cache_hit")
				emit(float64(st.Misses.Load()), "cache_miss")
				emit(float64(st.Errors.Load()), "failed")
				emit(float64(c.lookSkipped.Load()), "listed")
				emit(float64(c.lookDropped.Load()), "dropped")
			})},
		{Name: "lookup_cache_entries", Help: "Answers in the hash lookup cache (uplink.cache_entries bounds it).", Kind: metrics.Gauge,
			Read: look(func(c *cloudLink, emit emitFn) { emit(float64(c.cache.Len())) })},
		{Name: "lookup_seconds", Help: "How long the cloud took to answer hash lookups the cache could not, over the last 1,024 (quantile 0.5, 0.99, 1).",
			Kind: metrics.Gauge, Labels: []string{"quantile"},
			Read: look(func(c *cloudLink, emit emitFn) { quantiles(emit, &c.lookLatencies) })},
		{Name: "cloud_available", Help: "1 while the cloud answers hash lookups, 0 after one failed (until one succeeds).", Kind: metrics.Gauge,
			Read: look(func(c *cloudLink, emit emitFn) {
				v := 1.0
				if c.lookDown.Load() {
					v = 0
				}
				emit(v)
			})},
	}
}

// enforcementFamilies are the figures of [enforcement]: what the data
// plane dropped (or, monitoring, would have), per interface and reason,
// per list, and the state of the lists.
func enforcementFamilies(a *analysis, ifaces func() []sensor.IfaceStatus) []metrics.Family {
	type emitFn = func(float64, ...string)
	byReason := func(addr, flow string) func(emit emitFn) {
		return func(emit emitFn) {
			for _, is := range ifaces() {
				emit(float64(is.Counters[addr]), is.Iface, "address")
				emit(float64(is.Counters[flow]), is.Iface, "flow")
			}
		}
	}
	lists := func(pick func(sensor.ListStats) uint64) func(emit emitFn) {
		return func(emit emitFn) {
			e := a.enf.Load()
			if e == nil {
				return
			}
			st, err := e.k.ListStats()
			if err != nil {
				return
			}
			for name, v := range st {
				emit(float64(pick(v)), name)
			}
		}
	}
	gauge := func(f func(*enforcer) float64) func(emit emitFn) {
		return func(emit emitFn) {
			if e := a.enf.Load(); e != nil {
				emit(f(e))
			}
		}
	}
	// held reads the holder of held files, when there is one.
	held := func(f func(h *holder, emit emitFn)) func(emit emitFn) {
		return func(emit emitFn) {
			if e := a.enf.Load(); e != nil && e.hold != nil {
				f(e.hold, emit)
			}
		}
	}
	return []metrics.Family{
		{Name: "xdp_dropped_packets_total", Help: "Packets enforcement dropped (enforcement.mode = block), per interface and reason: address (a blocklisted source or destination) or flow (a blocked handshake or file).",
			Kind: metrics.Counter, Labels: []string{"iface", "reason"}, Read: byReason("enf_drop_addr", "enf_drop_flow")},
		{Name: "xdp_would_drop_packets_total", Help: "Packets enforcement would have dropped (enforcement.mode = monitor), per interface and reason.",
			Kind: metrics.Counter, Labels: []string{"iface", "reason"}, Read: byReason("enf_would_addr", "enf_would_flow")},
		{Name: "enforcement_mode", Help: "1 for the enforcement mode in force (off, monitor or block).", Kind: metrics.Gauge, Labels: []string{"mode"},
			Read: func(emit emitFn) {
				m := enforce.Off
				if e := a.enf.Load(); e != nil {
					m = e.set.Load().ModeValue()
				}
				for _, x := range []enforce.Mode{enforce.Off, enforce.Monitor, enforce.Block} {
					v := 0.0
					if x == m {
						v = 1
					}
					emit(v, x.String())
				}
			}},
		{Name: "enforcement_list_dropped_packets_total", Help: "Packets dropped per blocklist (intel source).", Kind: metrics.Counter, Labels: []string{"list"},
			Read: lists(func(s sensor.ListStats) uint64 { return s.Packets })},
		{Name: "enforcement_list_would_drop_packets_total", Help: "Packets monitor mode would have dropped, per blocklist.", Kind: metrics.Counter, Labels: []string{"list"},
			Read: lists(func(s sensor.ListStats) uint64 { return s.WouldPackets })},
		{Name: "enforcement_blocklist_entries", Help: "Blocklist addresses and prefixes in force (at or above enforcement.threshold).", Kind: metrics.Gauge,
			Read: gauge(func(e *enforcer) float64 { return float64(e.k.Stats.Entries.Load()) })},
		{Name: "enforcement_blocked_flows", Help: "Flows blocked for their handshake now (enforcement.max_blocked_flows bounds them).", Kind: metrics.Gauge,
			Read: gauge(func(e *enforcer) float64 { return float64(e.k.BlockedFlows()) })},
		{Name: "enforcement_flows_evicted_total", Help: "Flow blocks removed early for new ones: enforcement.max_blocked_flows, or 64 for one client, were reached.", Kind: metrics.Counter,
			Read: gauge(func(e *enforcer) float64 { return float64(e.k.Stats.FlowsEvicted.Load()) })},
		{Name: "enforcement_swaps_total", Help: "Whole sets of blocklists swapped into the data plane.", Kind: metrics.Counter,
			Read: gauge(func(e *enforcer) float64 { return float64(e.k.Stats.Replaces.Load()) })},
		{Name: "enforcement_lists_age_seconds", Help: "Since the daemon last confirmed the lists in force; at enforcement.max_age the data plane stops enforcing them.", Kind: metrics.Gauge,
			Read: gauge(func(e *enforcer) float64 { return time.Since(time.Unix(0, e.confirmed.Load())).Seconds() })},
		{Name: "enforcement_decision_seconds", Help: "From a condemned hello's last packet in the data plane to its flow's block in force, over the last 1,024 blocks (quantile 0.5, 0.99, 1).",
			Kind: metrics.Gauge, Labels: []string{"quantile"},
			Read: func(emit emitFn) {
				if e := a.enf.Load(); e != nil {
					quantiles(emit, &e.decided)
				}
			}},
		{Name: "enforcement_flows_blocked_total", Help: "Flows blocked for their handshake.", Kind: metrics.Counter,
			Read: gauge(func(e *enforcer) float64 { return float64(e.k.Stats.FlowsBlocked.Load()) })},
		{Name: "enforcement_flow_blocks_expired_total", Help: "Flow blocks that lapsed (enforcement.flow_block_for).", Kind: metrics.Counter,
			Read: gauge(func(e *enforcer) float64 { return float64(e.k.Stats.FlowsExpired.Load()) })},
		{Name: "enforcement_errors_total", Help: "Enforcement's writes into the data plane that failed, and action records that did not decode.", Kind: metrics.Counter,
			Read: gauge(func(e *enforcer) float64 { return float64(e.k.Stats.Errors.Load()) })},
		{Name: "enforcement_max_age_seconds", Help: "enforcement.max_age: how long the data plane keeps lists in force unconfirmed.", Kind: metrics.Gauge,
			Read: gauge(func(e *enforcer) float64 { return time.Duration(e.set.Load().MaxAge).Seconds() })},
		{Name: "enforcement_action_events_total", Help: "edgesensor.action events written (at most one per entry or flow per second; the packet counters have every packet).", Kind: metrics.Counter,
			Read: gauge(func(e *enforcer) float64 { return float64(e.actions.Load()) })},
		{Name: "xdp_hold_packets_total", Help: "Held downloads in the data plane, per interface: gated (flows gated by a SYN-ACK or request), held (server packets held for userspace), expired (let through after hold_timeout without word: fail open), lost (let through: the ring it went to was full), busy (let through unheld: the daemon was behind, a quarter of the streams ring waiting), fragments (IP fragments of a watched port's file direction, or whose TCP header cannot be read, held: userspace reassembles the datagram and judges it like a packet); expired also counts first fragments let through while the daemon has not said it lives for two seconds.",
			Kind: metrics.Counter, Labels: []string{"iface", "event"},
			Read: func(emit emitFn) {
				for _, is := range ifaces() {
					emit(float64(is.Counters["hold_armed"]), is.Iface, "gated")
					emit(float64(is.Counters["hold_diverted"]), is.Iface, "held")
					emit(float64(is.Counters["hold_expired"]), is.Iface, "expired")
					emit(float64(is.Counters["hold_lost"]), is.Iface, "lost")
					emit(float64(is.Counters["hold_busy"]), is.Iface, "busy")
					emit(float64(is.Counters["hold_frags"]), is.Iface, "fragments")
				}
			}},
		{Name: "enforcement_held_downloads_total", Help: "Downloads whose last packet was held for the verdict, by outcome: released (clean), blocked (malicious), timeout (no verdict within hold_timeout: on_timeout applied); not_held counts malicious files nothing held (cut after the fact in block mode).",
			Kind: metrics.Counter, Labels: []string{"outcome"},
			Read: held(func(h *holder, emit emitFn) {
				st := &h.stats
				emit(float64(st.Released.Load()), "released")
				emit(float64(st.Blocked.Load()), "blocked")
				emit(float64(st.Timeouts.Load()), "timeout")
				emit(float64(st.AfterTheFact.Load()), "not_held")
			})},
		{Name: "enforcement_held_packets_total", Help: "Held packets the daemon read, by fate: passed (handed on at once), kept (while a verdict was awaited), not_kept (over a bound or cut at the snaplen: left to the sender's retransmission), dropped (of a flow whose wait ended in a block: the sender's copy of the held bytes, dropped rather than handed on).",
			Kind: metrics.Counter, Labels: []string{"fate"},
			Read: held(func(h *holder, emit emitFn) {
				emit(float64(h.stats.Passed.Load()), "passed")
				emit(float64(h.stats.Kept.Load()), "kept")
				emit(float64(h.stats.NotKept.Load()), "not_kept")
				emit(float64(h.stats.AfterBlock.Load()), "dropped")
			})},
		{Name: "enforcement_hello_held_packets_total", Help: "Server packets the hello gate held for their ClientHello's verdict (block mode, handshake intel loaded; the data plane's counters hello_gated, hello_held, hello_expired, hello_lost say what it did), by fate here: released (the hello allowed), blocked (the flow blocked: a TCP packet turned into the client's reset, a QUIC one dropped), not_kept (cut at the snaplen: the sender's retransmission carries it), waiting (the hello still to come: dropped, the sender retransmits), error (a write or hand-on failed).",
			Kind: metrics.Counter, Labels: []string{"fate"},
			Read: func(emit emitFn) {
				e := a.enf.Load()
				if e == nil {
					return
				}
				st := &e.helloStats
				emit(float64(st.Released.Load()), "released")
				emit(float64(st.Blocked.Load()), "blocked")
				emit(float64(st.NotKept.Load()), "not_kept")
				emit(float64(st.Waiting.Load()), "waiting")
				emit(float64(st.Errors.Load()), "error")
			}},
		{Name: "enforcement_hold_errors_total", Help: "Gate writes and hand-ons of held packets that failed (the data plane's hold_timeout then lets the packets through).", Kind: metrics.Counter,
			Read: held(func(h *holder, emit emitFn) { emit(float64(h.stats.Errors.Load())) })},
		{Name: "enforcement_hold_cloud_lookup_seconds", Help: "How long held downloads' hash lookups (enforcement.hold_cloud) took, the lookup cache's answers included, over the last 1,024 (quantile 0.5, 0.99, 1).",
			Kind: metrics.Gauge, Labels: []string{"quantile"},
			Read: held(func(h *holder, emit emitFn) { quantiles(emit, &h.cloudTook) })},
		{Name: "enforcement_hold_cloud_errors_total", Help: "Held downloads' cloud lookups that failed or were not answered within the hold (the local verdict, or on_timeout, decided).", Kind: metrics.Counter,
			Read: held(func(h *holder, emit emitFn) { emit(float64(h.stats.CloudErrors.Load())) })},
		{Name: "enforcement_hold_seconds", Help: "How long held packets waited, from the data plane holding them to their release, over the last 1,024 of each stage: verdict (a clean download's last packet), read (packets handed on once read) (quantile 0.5, 0.99, 1).",
			Kind: metrics.Gauge, Labels: []string{"stage", "quantile"},
			Read: held(func(h *holder, emit emitFn) {
				quantiles(emit, &h.waited, "verdict")
				quantiles(emit, &h.read, "read")
			})},
	}
}

// health is what /healthz answers: the output writable and (live) the
// data plane attached, and no interface quiet (metrics.quiet_after).
func health(s *sensor.Sensor, a *analysis, cfg *config.Config, quiet *quietWatch) func() error {
	return func() error {
		select {
		case <-a.out.Failed():
			return errors.New("events cannot be written")
		default:
		}
		if s == nil {
			return nil
		}
		st, err := sensor.ReadInterfaces(cfg.Sensor.PinPath, nil)
		if err != nil {
			return err
		}
		for _, is := range st.Interfaces {
			if is.Error != "" {
				return errors.New(is.Iface + ": " + is.Error)
			}
		}
		if quiet != nil {
			return quiet.err(time.Now())
		}
		return nil
	}
}

// MetricNames lists every metric the sensor exports, with its prefix: what
// the shipped alert rules and dashboard may name.
func MetricNames() []string {
	var names []string
	for _, f := range families(&config.Config{}, nil, &analysis{taps: &taps{}}, nil) {
		names = append(names, "edgesensor_"+f.Name)
		if f.Kind == metrics.Histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names = append(names, "edgesensor_"+f.Name+s)
			}
		}
	}
	return names
}

// quantiles emits the 0.5, 0.99 and 1 quantiles of l, after labels.
func quantiles(emit func(float64, ...string), l *latencies, labels ...string) {
	if q, ok := l.quantiles(0.5, 0.99, 1); ok {
		for i, name := range []string{"0.5", "0.99", "1"} {
			emit(q[i].Seconds(), append(labels, name)...)
		}
	}
}
