#!/usr/bin/env bash
# `make flood`: the floods of the hostile-traffic suite at full size
# (internal/craft: 100,000 spoofed SYNs, 50,000 half-open TLS handshakes,
# 3,000 connections of never-ending HTTP headers both ways, 1,000
# connections of 1-byte out-of-order pieces), each around one real
# download or handshake. Each capture is replayed through the real
# program and pipeline with the default config; the script reports the
# time, the peak RSS against the bound the config sets (docs/hostile-traffic.md,
# "Memory"), and whether the real traffic inside the flood was still
# reported exactly (craftcheck against the truth).
#   FLOOD_SIZE=small   the unit-test sizes, for a quick look
#   FLOOD_CASES=REGEX  only those floods
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath -m "${BIN:-bin/edgesensor}") # absolute: check-config runs from $work
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/craftgen" ./internal/lab/craftgen
go build -o "$work/craftcheck" ./internal/lab/craftcheck
"$work/craftgen" -floods -flood-size "${FLOOD_SIZE:-full}" -cases "${FLOOD_CASES:-^flood_}" -out "$work"

# The bound: the RSS of a tiny capture (program, kernel types, rings) plus
# twice the memory the config lets the analysis hold (docs/hostile-traffic.md, "Memory").
base=$(/usr/bin/time -f %M "$BIN" replay testdata/corpus/tls_curl13.pcap 2>&1 >/dev/null | tail -1)
held=$(cd "$work" && "$BIN" check-config | sed -n 's/^ *held_memory=//p')
held_mib=$(python3 -c 'import sys; v=sys.argv[1]; u={"KiB":1/1024,"MiB":1,"GiB":1024}; print(int(float(v[:-3])*u[v[-3:]]))' "$held")
bound=$((base / 1024 + 2 * held_mib))
echo "== floods, replayed with the default config: held_memory=$held; RSS bound $((base / 1024)) MiB (tiny capture) + 2 x $held_mib MiB = $bound MiB"
printf '%-20s %8s %7s %6s %9s %10s %10s  %s\n' case packets MiB secs "peak RSS" "tls held" "file held" "real traffic"
fail=0
for p in "$work"/flood_*.pcap; do
	name=$(basename "$p" .pcap)
	/usr/bin/time -f '%M %e' "$BIN" replay --stats "$p" >"$work/$name.events" 2>"$work/$name.err"
	read -r rss secs < <(tail -1 "$work/$name.err")
	# The stats line is the one before time's.
	head -n -1 "$work/$name.err" | tail -1 >"$work/$name.stats"
	verdict=$("$work/craftcheck" -truth "$work/$name.truth.json" -events "$work/$name.events" -stats "$work/$name.stats") || fail=1
	read -r pkts mib tls file < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); a=s["analysis"]
print(s["packets"], "%.1f" % (s["bytes"]/2**20), a["tls_memory_peak"]>>20, a["file_memory_peak"]>>20)' "$work/$name.stats")
	[ $((rss / 1024)) -le "$bound" ] || { verdict="$verdict; OVER THE BOUND"; fail=1; }
	printf '%-20s %8d %7s %6s %5d MiB %6d MiB %6d MiB  %s\n' "$name" "$pkts" "$mib" "$secs" $((rss / 1024)) "$tls" "$file" "$verdict"
done
exit $fail
