#!/usr/bin/env bash
# `make bench`: the data plane's figures, each beside its baseline measured
# in the same run.
#   1. BPF_PROG_TEST_RUN ns/packet per packet kind vs an empty XDP_PASS program
#   2. userspace hot path: ns/op and allocs/op
#   3. bytes to userspace: synthetic tests and a real TLS bulk download from the lab
#   4. live throughput through the lab router with and without the sensor (iperf3)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/edgesensor}
export LAB_PREFIX=${LAB_PREFIX:-esbench} LAB_NET=${LAB_NET:-80}
IPERF_TIME=${IPERF_TIME:-8}

echo "== 1. BPF_PROG_TEST_RUN, kernel ns per packet: sensor vs empty XDP_PASS (medians of 21 alternating rounds)"
go test -run '^$' -bench 'PrivilegedXDP' -benchtime 2100000x ./sensor | grep '^Benchmark' |
	awk '{printf "%-44s sensor %8.2f ns  empty %6.2f ns  ratio %6.2fx\n", $1, $5, $3, $7}'

echo
echo "== 2. userspace hot path"
go test -run '^$' -bench 'Decode|Dispatch|AppendEvent' -benchmem ./sensor ./userspace/summary | grep '^Benchmark'

echo
echo "== 3. bytes to userspace"
go test -count=1 -run 'TestPrivileged(BulkAfterHandshakeStaysInKernel|SkipKeepsBodyInKernel)' -v ./sensor |
	{ grep -E 'capture [0-9]+ bytes' || true; } | sed 's/^ *//'

work=$(mktemp -d)
sensor_pid= empty_pid= dump=
cleanup() {
	for p in "$sensor_pid" "$empty_pid" "$dump"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	scripts/lab.sh down
	rm -rf "$work"
}
trap cleanup EXIT
scripts/lab.sh up >/dev/null
eval "$(scripts/lab.sh env)"
c() { ip netns exec "$NS_CLIENT" "$@"; }

# A real capture: a 32 MiB HTTPS download, taken on the client's veth.
ip netns exec "$NS_CLIENT" tcpdump -q -i "$IF_CLIENT" -s 0 -w "$work/tls_bulk.pcap" tcp port 443 2>/dev/null &
dump=$!
sleep 1
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

echo
echo "== 4. live throughput through the router (iperf3, ${IPERF_TIME}s, one TCP stream; offloads off)"
ip netns exec "$NS_SERVER" iperf3 -s -D -p 5201 -I "$LAB_DIR/pids/iperf3-5201.pid"
sleep 0.5
gbps() { c iperf3 -c "$SERVER4" -p "$1" -t "$IPERF_TIME" -J | python3 -c \
	'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
start_sensor() {
	ip netns exec "$NS_ROUTER" "$BIN" run --iface "$IF_ROUTER_CLIENT" --iface "$IF_ROUTER_SERVER" \
		--pin-path "$BPFFS/edgesensor" -c "$1" >/dev/null 2>"$work/sensor.log" &
	sensor_pid=$!
	for _ in $(seq 100); do grep -q '"running' "$work/sensor.log" && return; sleep 0.1; done
	cat "$work/sensor.log"; exit 1
}
stop_sensor() { kill -TERM "$sensor_pid"; wait "$sensor_pid" || true; sensor_pid=; }
printf '# defaults\n' >"$work/plain.toml"
printf '[ports]\nhttp = [80, 5201]\n' >"$work/watched.toml"

go build -o "$work/xdppass" ./scripts/xdppass
start_empty() {
	ip netns exec "$NS_ROUTER" "$work/xdppass" "$IF_ROUTER_CLIENT" "$IF_ROUTER_SERVER" >"$work/xdppass.log" 2>&1 &
	empty_pid=$!
	for _ in $(seq 100); do grep -q attached "$work/xdppass.log" && return; sleep 0.1; done
	cat "$work/xdppass.log"; exit 1
}
stop_empty() { kill -TERM "$empty_pid"; wait "$empty_pid" || true; empty_pid=; }

# Alternate the three set-ups twice so drift hits them alike.
declare -a none empty sens
for round in 1 2; do
	none+=("$(gbps 5201)")
	start_empty; empty+=("$(gbps 5201)"); stop_empty
	start_sensor "$work/plain.toml"; sens+=("$(gbps 5201)"); stop_sensor
done
start_sensor "$work/watched.toml"; w=$(gbps 5201); stop_sensor
python3 - "${none[@]}" "${empty[@]}" "${sens[@]}" "$w" <<'PY'
import sys
v = list(map(float, sys.argv[1:]))
none, empty, sens, w = v[0:2], v[2:4], v[4:6], v[6]
m = lambda x: sum(x) / len(x)
print(f"no XDP program:                      {none[0]:.2f} / {none[1]:.2f} Gbit/s  mean {m(none):.2f}")
print(f"empty XDP_PASS program (native):     {empty[0]:.2f} / {empty[1]:.2f} Gbit/s  mean {m(empty):.2f}")
print(f"edgesensor, non-candidate flow:      {sens[0]:.2f} / {sens[1]:.2f} Gbit/s  mean {m(sens):.2f}"
      f"  -> {m(sens)/m(empty):.3f} of the empty program, {m(sens)/m(none):.3f} of no XDP")
print(f"edgesensor, flow on a watched port:  {w:.2f} Gbit/s (stream class, emitted up to the 64MiB budget)"
      f"  -> {w/m(empty):.3f} of the empty program")
PY
