#!/usr/bin/env bash
# `make bench`: the data plane's figures, each beside its baseline measured
# in the same run.
#   1. BPF_PROG_TEST_RUN ns/packet per packet kind vs an empty XDP_PASS program
#   2. userspace hot path: ns/op and allocs/op
#   3. bytes to userspace: synthetic tests and a real TLS bulk download from the lab
#   4. live throughput through the lab router with and without the sensor (iperf3)
#   5. handshake events per second through the whole live path, and the
#      rate at which none is lost
#   6. file reconstruction and scoring: MB/s of the whole file path vs the hashes alone,
#      and peak RSS replaying 10,000 concurrent HTTP downloads
#   7. privacy, uplink and SIEM outputs
#   8. CPU-seconds of `edgesensor replay` beside tshark's (JA3 + HTTP objects) on the same captures
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/edgesensor}
export LAB_PREFIX=${LAB_PREFIX:-esbench} LAB_NET=${LAB_NET:-80}
export EDGESENSOR_TEST_TIERS=all # the BPF benchmarks and tests below
IPERF_TIME=${IPERF_TIME:-8}
# BENCH_SECTIONS="4 5" runs only those sections.
want() { [[ " ${BENCH_SECTIONS:-1 2 3 4 5 6 7 8} " == *" $1 "* ]]; }

if want 1; then
echo "== 1. BPF_PROG_TEST_RUN, kernel ns per packet: sensor vs empty XDP_PASS (medians of 21 alternating rounds)"
go test -run '^$' -bench 'PrivilegedXDP' -benchtime 2100000x ./sensor | grep '^Benchmark' |
	awk '{printf "%-44s sensor %8.2f ns  empty %6.2f ns  ratio %6.2fx\n", $1, $5, $3, $7}'
echo "-- enforcement on (block), 1,000,000 addresses and 100,000 prefixes loaded: sensor enforcing / sensor without / empty"
go test -run '^$' -bench 'PrivilegedEnforce$' -benchtime 2100000x ./sensor | grep '^Benchmark' |
	awk '{printf "%-56s %8.2f ns  %6.2f ns  %6.2f ns  ratio %6.2fx\n", $1, $5, $7, $3, $9}'

fi

if want 2; then
echo
echo "== 2. userspace hot path"
go test -run '^$' -bench 'Decode|Dispatch' -benchmem ./sensor | grep '^Benchmark'
echo "-- handshake analysis: ClientHello parse + JA3 + JA4; QUIC Initials (client + server) decrypt + reassemble + parse;"
echo "   a whole TCP handshake from packet events to its JSON line"
go test -run '^$' -bench 'ClientHelloJA3JA4|InitialHandshake|HandshakeEvent' -benchmem \
	./userspace/handshake/fingerprint ./userspace/handshake/quic ./userspace/handshake | grep '^Benchmark'

fi

if want 3; then
echo
echo "== 3. bytes to userspace"
go test -count=1 -run 'TestPrivileged(BulkAfterHandshakeStaysInKernel|SkipKeepsBodyInKernel)' -v ./sensor |
	{ grep -E 'capture [0-9]+ bytes' || true; } | sed 's/^ *//'
fi

work=$(mktemp -d)
sensor_pid= empty_pid= dump= lab=
cleanup() {
	for p in "$sensor_pid" "$empty_pid" "$dump"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	[ -z "$lab" ] || scripts/lab.sh down
	rm -rf "$work"
}
trap cleanup EXIT
# Only sections 3 to 5 need the lab.
if want 3 || want 4 || want 5; then
	lab=1
	scripts/lab.sh up >/dev/null
	eval "$(scripts/lab.sh env)"
fi
c() { ip netns exec "$NS_CLIENT" "$@"; }

# capture FILE FILTER...: tcpdump on the client veth, returning once it listens.
capture() {
	local f=$1; shift
	ip netns exec "$NS_CLIENT" tcpdump -q -U --immediate-mode -i "$IF_CLIENT" -s 0 -w "$f" "$@" 2>"$f.log" &
	dump=$!
	for _ in $(seq 100); do grep -q 'listening on' "$f.log" && return; sleep 0.1; done
	cat "$f.log"; exit 1
}
if want 3; then
# A real capture: a 32 MiB HTTPS download, taken on the client's veth.
capture "$work/tls_bulk.pcap" tcp port 443
c curl -sS -o /dev/null --cacert "$CA" --resolve "$HOSTNAME:443:$SERVER4" "https://$HOSTNAME/32m.bin"
sleep 0.5
kill "$dump"; wait "$dump" 2>/dev/null || true; dump=
"$BIN" replay --stats "$work/tls_bulk.pcap" 2>"$work/stats.json" >/dev/null
python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
e = s["emitted"]["handshakes"]["bytes"] + s["emitted"]["streams"]["bytes"]
print(f'lab capture, 32 MiB HTTPS download: {s["packets"]} packets, {s["bytes"]} bytes; '
      f'emitted {s["emitted"]["handshakes"]["events"]} events, {e} bytes = {100*e/s["bytes"]:.4f}% of the capture')
PY
# The same download through a VXLAN link whose MTU leaves no room for its
# headers: every full-sized packet crosses as two outer fragments. The
# first fragment of each datagram settles it in the kernel; only those of
# undecided datagrams go to userspace.
for ns in "$NS_CLIENT" "$NS_SERVER"; do
	if [ "$ns" = "$NS_CLIENT" ]; then l=$CLIENT4 r=$SERVER4 a=10.97.0.1; else l=$SERVER4 r=$CLIENT4 a=10.97.0.2; fi
	ip netns exec "$ns" ip link add esbvx type vxlan id 4343 local "$l" remote "$r" dstport 4789
	ip netns exec "$ns" ip link set esbvx mtu 1500
	ip netns exec "$ns" ip addr add "$a/24" dev esbvx
	ip netns exec "$ns" ip link set esbvx up
done
capture "$work/tls_frag.pcap" udp port 4789 or '(ip[6:2] & 0x1fff) != 0'
c curl -sS -o /dev/null --cacert "$CA" --resolve "$HOSTNAME:443:10.97.0.2" "https://$HOSTNAME/32m.bin"
sleep 0.5
kill "$dump"; wait "$dump" 2>/dev/null || true; dump=
for ns in "$NS_CLIENT" "$NS_SERVER"; do ip netns exec "$ns" ip link del esbvx; done
"$BIN" replay --stats "$work/tls_frag.pcap" 2>"$work/stats.json" >/dev/null
python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
em, c = s["emitted"], s["counters"]
e = em["handshakes"]["bytes"] + em["streams"]["bytes"] + em["fragments"]["bytes"]
print(f'the same over VXLAN with outer fragments: {s["packets"]} packets, {c["fragments"]} of them fragments '
      f'({100*c["fragments"]/s["packets"]:.1f}%); {s["fragments"]["reassembled"]} datagrams reassembled in userspace; '
      f'emitted {e} bytes = {100*e/s["bytes"]:.4f}% of the capture')
PY
fi

gbps() { c iperf3 -c "$SERVER4" -p "$1" -t "$IPERF_TIME" -J | python3 -c \
	'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
start_sensor() { # $1: config; $2: where events go (default: nowhere)
	ip netns exec "$NS_ROUTER" "$BIN" run --iface "$IF_ROUTER_CLIENT" --iface "$IF_ROUTER_SERVER" \
		--pin-path "$BPFFS/edgesensor" -c "$1" >"${2:-/dev/null}" 2>"$work/sensor.log" &
	sensor_pid=$!
	# Up to a minute: with the enforcing config the lists load first.
	for _ in $(seq 600); do grep -q '"running' "$work/sensor.log" && return; sleep 0.1; done
	cat "$work/sensor.log"; exit 1
}
stop_sensor() { kill -TERM "$sensor_pid"; wait "$sensor_pid" || true; sensor_pid=; }
printf '# defaults\n' >"$work/plain.toml"
printf '[ports]\nhttp = [80, 5201]\n' >"$work/watched.toml"
# Enforcement on (block) with the issue's lists: 1,000,000 addresses and
# 100,000 prefixes, none the lab's (10.0.0.0/8).
enforcing_config() {
	python3 - "$work/blocklist.txt" <<'PY'
import random, sys
r = random.Random(1)
def addr():
    while True:
        a = r.getrandbits(32)
        if a >> 24 not in (0, 10) and a >> 24 < 224:
            return a
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        a = addr(); f.write(f"{a>>24}.{a>>16&255}.{a>>8&255}.{a&255} 9\n")
    for i in range(100_000):
        n = r.randint(20, 31); a = addr() & (0xffffffff << (32 - n)) & 0xffffffff
        f.write(f"{a>>24}.{a>>16&255}.{a>>8&255}.{a&255}/{n} 9\n")
PY
	printf '[[intel.sources]]\npath = "%s"\nkind = "ip"\n\n[enforcement]\nmode = "block"\n' "$work/blocklist.txt" >"$work/enforcing.toml"
}
start_enforcing() {
	start_sensor "$work/enforcing.toml"
	for _ in $(seq 600); do grep -q 'blocklists swapped in' "$work/sensor.log" && return; sleep 0.1; done
	cat "$work/sensor.log"; exit 1
}

go build -o "$work/xdppass" ./scripts/xdppass
start_empty() {
	ip netns exec "$NS_ROUTER" "$work/xdppass" "$IF_ROUTER_CLIENT" "$IF_ROUTER_SERVER" >"$work/xdppass.log" 2>&1 &
	empty_pid=$!
	for _ in $(seq 100); do grep -q attached "$work/xdppass.log" && return; sleep 0.1; done
	cat "$work/xdppass.log"; exit 1
}
stop_empty() { kill -TERM "$empty_pid"; wait "$empty_pid" || true; empty_pid=; }

if want 4; then
echo
echo "== 4. live throughput through the router (iperf3, ${IPERF_TIME}s, one TCP stream; offloads off)"
ip netns exec "$NS_SERVER" iperf3 -s -D -p 5201 -I "$LAB_DIR/pids/iperf3-5201.pid"
sleep 0.5
# Alternate the three set-ups twice so drift hits them alike.
declare -a none empty sens enf
enforcing_config
for round in 1 2; do
	none+=("$(gbps 5201)")
	start_empty; empty+=("$(gbps 5201)"); stop_empty
	start_sensor "$work/plain.toml"; sens+=("$(gbps 5201)"); stop_sensor
	start_enforcing; enf+=("$(gbps 5201)"); stop_sensor
done
start_sensor "$work/watched.toml"; w=$(gbps 5201); stop_sensor
python3 - "${none[@]}" "${empty[@]}" "${sens[@]}" "$w" "${enf[@]}" <<'PY'
import sys
v = list(map(float, sys.argv[1:]))
none, empty, sens, w, enf = v[0:2], v[2:4], v[4:6], v[6], v[7:9]
m = lambda x: sum(x) / len(x)
print(f"no XDP program:                      {none[0]:.2f} / {none[1]:.2f} Gbit/s  mean {m(none):.2f}")
print(f"empty XDP_PASS program (native):     {empty[0]:.2f} / {empty[1]:.2f} Gbit/s  mean {m(empty):.2f}")
print(f"edgesensor, non-candidate flow:      {sens[0]:.2f} / {sens[1]:.2f} Gbit/s  mean {m(sens):.2f}"
      f"  -> {m(sens)/m(empty):.3f} of the empty program, {m(sens)/m(none):.3f} of no XDP")
print(f"edgesensor, flow on a watched port:  {w:.2f} Gbit/s (stream class, emitted up to the 64MiB budget)"
      f"  -> {w/m(empty):.3f} of the empty program")
print(f"edgesensor enforcing (block), 1,000,000 addresses and 100,000 prefixes loaded:"
      f" {enf[0]:.2f} / {enf[1]:.2f} Gbit/s  mean {m(enf):.2f}  -> {m(enf)/m(empty):.3f} of the empty program")
PY
fi

if want 5; then
echo
echo "== 5. handshake events per second through the live path (XDP -> ring -> workers -> edgesensor.tls lines)"
go build -o "$work/tlsclient" ./internal/lab/tlsclient
go build -o "$work/hsreplay" ./internal/lab/hsreplay
run_sensor_for() { # $1: label; the rest: the load command, run in the client namespace
	start_sensor "$work/plain.toml" "$work/events.ndjson"
	# In this lab a load started within a few hundred ms of "running"
	# intermittently loses its first ~0.2 s of frames before the program
	# counts them (not yet explained, see bpf/README.md); settle first.
	sleep 1
	local label=$1; shift
	c "$@" >"$work/load.json"
	sleep 1
	ip netns exec "$NS_ROUTER" "$BIN" status --json --pin-path "$BPFFS/edgesensor" >"$work/status.json"
	stop_sensor
	python3 - "$label" "$work/load.json" "$work/status.json" "$work/events.ndjson" "$IF_ROUTER_CLIENT" <<'PY'
import json, sys
label, load, status, events, ifc = sys.argv[1:]
load, status = json.load(open(load)), json.load(open(status))
made = load.get("ok", load.get("handshakes"))
n = done = 0
for line in open(events):
    if '"dataset":"edgesensor.tls"' in line:
        n += 1
        done += json.loads(line)["edgesensor"]["tls"]["complete"]
cs = [i["counters"] for i in status["interfaces"]]
seen = sum(c["packets"] for c in cs)
drops = sum(c["tls_drops"] for c in cs)
frames = f', {load["frames"]} frames sent, {seen} seen by XDP' if "frames" in load else ""
print(f"{label:<34} {made:>7} handshakes at {load['per_second']:>6.0f}/s -> {done:>7} complete events"
      f" ({n - done} incomplete), lost {made - done}; ring drops {drops}{frames}")
PY
}
# Real clients and a real server: every connection a full TLS 1.3 handshake.
# On a small machine the client's and nginx's crypto set the pace.
run_sensor_for "real Go clients against nginx" "$work/tlsclient" -addr "$SERVER4:443" -sni "$HOSTNAME" -ca "$CA" -n 5000 -c 8

# Faster than real clients can: one captured handshake replayed with a new
# client address/port per copy, sent on the client veth to a MAC nobody
# owns (XDP on the router sees it; nothing is forwarded).
capture "$work/hs.pcap" tcp port 443
c "$work/tlsclient" -addr "$SERVER4:443" -sni "$HOSTNAME" -ca "$CA" >/dev/null
sleep 0.5
kill "$dump"; wait "$dump" 2>/dev/null || true; dump=
for rate in 5000 10000 20000 0; do
	label="replayed handshakes, rate ${rate}/s"
	[ "$rate" = 0 ] && label="replayed handshakes, fastest"
	run_sensor_for "$label" "$work/hsreplay" -pcap "$work/hs.pcap" -server "$SERVER4:443" -iface "$IF_CLIENT" \
		-n $((rate ? rate * 6 : 200000)) -rate "$rate"
done
fi

if want 6; then
echo
echo "== 6. file reconstruction"
echo "-- one 64 MiB download: reassembly + HTTP + typing + SHA-256/SHA-1/MD5 + spool + metadata + event,"
echo "   beside SHA-256 alone, MD5 alone, the standard library's three hashes one after the other and the"
echo "   fused three-digest pass, on the same bytes (1448-byte segments, one core)"
go test -run '^$' -bench 'LargeFile|SHA256$|MD5$|ThreeHashes|FusedHashes|NonCandidate' -benchtime 5x -benchmem ./userspace/files | grep '^Benchmark'
echo "-- stages: reassembly in order, HTTP identity/chunked/gzip, MIME base64, SMTP DATA, IMAP literal"
go test -run '^$' -bench 'InOrder|Identity|Chunked|Gzip|Base64|DATA10MB|Literal10MB' -benchmem \
	./userspace/packet/reassembly ./userspace/files/httpx ./userspace/files/mime ./userspace/files/smtp ./userspace/files/imap | grep '^Benchmark'
echo "-- scoring: a 2 MB PE from its last byte to its score; intel loading and lookups"
go test -run '^$' -bench 'Score2MBPE' -benchmem ./userspace/files | grep '^Benchmark'
go test -run '^$' -bench 'LoadMillion|Lookups' -benchmem ./userspace/verdict/intel | grep '^Benchmark'
echo "-- a /metrics scrape with the kernel flow table full at its largest (capture.max_flows = 16777216; ~2.5 GiB of kernel memory)"
EDGESENSOR_SCRAPE_FLOWS=16777216 go test -count=1 -timeout 14m -run 'TestPrivilegedScrapeCost' -v ./cmd/edgesensor | grep 'scrape_lab_test'
echo "-- the cloud's feed: a 1M-hash + 100k-prefix snapshot, a 10k delta; the same delta into the data plane"
go test -run '^$' -bench 'FeedSnapshotMillion|FeedDelta10k' -benchtime 3x ./userspace/verdict/feed | grep '^Benchmark'
go test -run '^$' -bench 'PrivilegedFeedDelta' -benchtime 10x ./sensor | grep '^Benchmark'
echo "-- 10,000 concurrent HTTP downloads (16 KiB each, all open at once) replayed: peak RSS vs a tiny capture"
fg=$(mktemp -d)
go run ./internal/lab/flowgen -flows 10000 -size 16384 -o "$fg/flows.pcap"
base=$(/usr/bin/time -f %M "$BIN" replay testdata/corpus/tls_curl13.pcap 2>&1 >/dev/null | tail -1)
/usr/bin/time -f '%M %e' "$BIN" replay --stats "$fg/flows.pcap" >"$fg/events" 2>"$fg/err"
read -r rss secs < <(tail -1 "$fg/err")
files=$(grep -c '"edgesensor.file"' "$fg/events" || true)
echo "replay of 10,000 flows: $files file events in ${secs}s, peak RSS $((rss / 1024)) MiB (tiny capture: $((base / 1024)) MiB)"
rm -rf "$fg"
fi

if want 7; then
echo
echo "== 7. privacy, uplink and SIEM outputs"
echo "-- Crypto-PAn: IPv4 with the /24 prefix cache (4096 prefixes), without it, and IPv6"
go test -run '^$' -bench 'CryptoPAn' -benchmem ./userspace/export/anon | grep '^Benchmark'
echo "-- one event to its anonymised cloud record (the allowlist walk), real corpus events"
go test -run '^$' -bench 'Record$' -benchmem ./userspace/export/privacy | grep '^Benchmark'
echo "-- uplink: records spooled and delivered end to end to the reference cloud over loopback (mTLS 1.3)"
go test -run '^$' -bench UplinkLoopback -benchtime 50000x ./cmd/edgecloud | grep '^Benchmark'
echo "-- SIEM: formatting one event as CEF and as RFC 5424, and the fan-out write"
go test -run '^$' -bench 'Format|FanoutWrite' -benchmem ./userspace/export/siem | grep '^Benchmark'
fi

if want 8; then
echo
echo "== 8. replay CPU beside tshark: CPU-seconds (user+sys) of \`edgesensor replay\` and of tshark computing"
echo "   every ClientHello's JA3 plus \`tshark --export-objects http\` (two runs, summed) on the same capture;"
echo "   medians of 3 alternating rounds. The corpus mix is every corpus capture 8 times over, the copies"
echo "   on their own addresses and interleaved (internal/lab/corpusmix); the tiny capture shows start-up"
cpu() { # CPU-seconds of a command; its stdout to $work/out, its stderr to $work/err
	/usr/bin/time -f '%U %S' -o "$work/time" "$@" >"$work/out" 2>"$work/err"
	awk '{print $1 + $2}' "$work/time"
}
go run ./internal/lab/corpusmix -copies 8 -o "$work/mix.pcap"
for cap in "$work/mix.pcap" testdata/corpus/http_keepalive.pcap testdata/corpus/tls_curl13.pcap; do
	es=() ts=()
	for _ in 1 2 3; do
		es+=("$(cpu "$BIN" replay --stats "$cap")")
		mv "$work/out" "$work/events"; tail -1 "$work/err" >"$work/stats"
		ja3=$(cpu tshark -r "$cap" -T fields -e tls.handshake.ja3 -Y tls.handshake.type==1)
		mv "$work/out" "$work/ja3"
		rm -rf "$work/objects" && mkdir "$work/objects"
		obj=$(cpu tshark -r "$cap" --export-objects "http,$work/objects" -q)
		ts+=("$ja3 $obj")
	done
	python3 - "$cap" "$work" "${es[@]}" "${ts[@]}" <<'PY'
import json, os, statistics, sys
cap, work, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
es = [float(x) for x in runs[:3]]
ts = [sum(map(float, x.split())) for x in runs[3:]]
st = json.load(open(os.path.join(work, "stats")))
events = open(os.path.join(work, "events")).read()
ja3 = sum(1 for l in open(os.path.join(work, "ja3")) if l.strip())
objs = len(os.listdir(os.path.join(work, "objects")))
name = "corpus mix, 8 copies" if cap.endswith("mix.pcap") else os.path.basename(cap)
e, t = statistics.median(es), statistics.median(ts)
tls, files = events.count('"dataset":"edgesensor.tls"'), events.count('"dataset":"edgesensor.file"')
print(f'{name} ({st["packets"]} packets, {st["bytes"] / 1e6:.1f} MB): edgesensor {e:.2f} CPU-s '
      f'({tls} tls, {files} file events); '
      f'tshark {t:.2f} CPU-s ({ja3} JA3, {objs} objects) -> {t / e:.1f}x less')
PY
done
fi
