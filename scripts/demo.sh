#!/usr/bin/env bash
# `make demo`: brings up the lab, attaches edgesensor to both router
# interfaces, drives real traffic (HTTPS over IPv4 and IPv6, TLS 1.2, a Go
# client with a post-quantum key share, Chromium over QUIC, HTTP, SMTP with
# an attachment and with STARTTLS, IMAP), prints the handshake and file
# events, a CEF SIEM sink, Prometheus metrics, and what the reference cloud
# received after anonymisation, and tears everything down: it stops what it
# started by PID, lab.sh down stops whatever still runs in the lab's
# namespaces, and the demo fails if any process of either is left.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/edgesensor}
export LAB_PREFIX=${LAB_PREFIX:-esdemo} LAB_NET=${LAB_NET:-79}

out=$(mktemp -d)
pid=
cloudpid=
lab_inodes=()

# alive PID: the process runs (a zombie child waiting to be reaped does not).
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]
}

# stop PID: TERM, then KILL after 10 s, and reap it.
stop() {
	local p=$1
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null || true
	for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
	alive "$p" && kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null || true
}

# leftovers: processes the demo or the lab started that still run: any in
# one of the lab's network namespaces (deleted or not) and any running
# from the demo's files. "pid command" lines.
leftovers() {
	local p ino args
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$$" ] && continue
		ino=$(stat -L -c %i "$p/ns/net" 2>/dev/null) || continue
		args=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
		if [[ " ${lab_inodes[*]} " == *" $ino "* || $args == *"$out"* ]]; then
			echo "${p#/proc/} $args"
		fi
	done
	return 0
}

# The demo stops what it started by PID, the lab stops everything left in
# its namespaces, and then nothing of either may be running.
cleanup() {
	local status=$? left
	stop "$pid"
	stop "$cloudpid"
	scripts/lab.sh down || status=1
	left=$(leftovers)
	if [ -n "$left" ]; then
		echo "demo: FAILED: still running after the teardown:" >&2
		echo "$left" >&2
		for p in $(echo "$left" | cut -d' ' -f1); do kill -9 "$p" 2>/dev/null || true; done
		status=1
	else
		echo "no process of the demo or the lab is left running"
	fi
	rm -rf "$out"
	exit $status
}
trap cleanup EXIT
scripts/lab.sh up
eval "$(scripts/lab.sh env)"
for ns in "$NS_CLIENT" "$NS_ROUTER" "$NS_SERVER"; do
	lab_inodes+=("$(stat -L -c %i "/run/netns/$ns")")
done

PIN=$BPFFS/edgesensor
c() { ip netns exec "$NS_CLIENT" "$@"; }

r() { ip netns exec "$NS_ROUTER" "$@"; }

echo
echo "== the reference cloud (cmd/edgecloud) on the router's loopback, with a test PKI"
go build -o "$out/edgecloud" ./cmd/edgecloud
"$out/edgecloud" gen-certs "$out/pki" >/dev/null
# Not through r: a backgrounded shell function is a subshell, and $! would
# be its PID, not the cloud's (ip netns exec execs the command itself).
ip netns exec "$NS_ROUTER" "$out/edgecloud" serve --listen 127.0.0.1:18443 --cert "$out/pki/server.pem" --key "$out/pki/server.key" \
	--client-ca "$out/pki/ca.pem" --data "$out/cloud" --record-log "$out/cloud-records.ndjson" 2>"$out/cloud.log" &
cloudpid=$!
"$BIN" genkey "$out/anon.key"
cat >"$out/sensor.toml" <<CONF
[files]
spool_dir = "$out/spool"
[[output.sinks]]
name = "arcsight"
type = "file"
format = "cef"
path = "$out/events.cef"
[metrics]
listen = "127.0.0.1:19750"
[privacy]
key_file = "$out/anon.key"
email = "hash"
[uplink]
url = "https://127.0.0.1:18443"
ca_file = "$out/pki/ca.pem"
cert_file = "$out/pki/client.pem"
key_file = "$out/pki/client.key"
spool_dir = "$out/uplink"
audit_log = "$out/audit.log"
CONF
echo "config: $out/sensor.toml (a CEF file sink, metrics, the uplink with email = hash)"
echo
echo "== edgesensor disclosure: what this config lets leave the box (excerpt)"
"$BIN" disclosure -c "$out/sensor.toml" | awk '
	/^Cloud|^  [a-z]+ +(hash|none|full)$/ { print; next }
	$1 == "+" { f = $2 } $1 != "+" { f = $1 }
	f ~ /^(source\.ip|url\.original|url\.domain|email\.from\.address|email\.subject|file\.name|user_agent\.original|network\.community_id)$/ && !seen[f]++ {
		print substr($0, 1, 160) (length($0) > 160 ? "..." : "")
	}'


echo
echo "== edgesensor run on $NS_ROUTER: $IF_ROUTER_CLIENT (client side) and $IF_ROUTER_SERVER (server side)"
ip netns exec "$NS_ROUTER" "$BIN" run -c "$out/sensor.toml" --iface "$IF_ROUTER_CLIENT" --iface "$IF_ROUTER_SERVER" \
	--pin-path "$PIN" >"$out/events.ndjson" 2>"$out/sensor.log" &
pid=$!
for _ in $(seq 100); do grep -q '"running' "$out/sensor.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"running' "$out/sensor.log" || { cat "$out/sensor.log"; exit 1; }
ip netns exec "$NS_ROUTER" "$BIN" status --pin-path "$PIN" | head -4

echo
echo "== driving traffic from $NS_CLIENT"
CURL=(curl -sS --max-time 20 -o /dev/null -w '%{http_code} %{size_download}B\n' --cacert "$CA")
echo -n "HTTPS TLS 1.3 (1 MiB download): "; c "${CURL[@]}" --resolve "$HOSTNAME:443:$SERVER4" "https://$HOSTNAME/1m.bin"
echo -n "HTTPS over IPv6:                "; c "${CURL[@]}" -6 --resolve "$HOSTNAME:443:[$SERVER6]" "https://$HOSTNAME/"
echo -n "TLS 1.2, RSA certificate:       "; c "${CURL[@]}" --tls-max 1.2 --resolve "$HOSTNAME:8443:$SERVER4" "https://$HOSTNAME:8443/"
echo -n "HTTP download sample.exe:       "; c "${CURL[@]}" "http://$SERVER4/sample.exe"
echo -n "HTTP gzip + chunked (8080):     "; c "${CURL[@]}" --compressed "http://$SERVER4:8080/sample.exe"
echo -n "EICAR, invoice.pdf.exe:         "; c "${CURL[@]}" -o /dev/null "http://$SERVER4/eicar.com" "http://$SERVER4/invoice.pdf.exe"
echo -n "keep-alive: video, then a PDF:  "; c "${CURL[@]}" -o /dev/null "http://$SERVER4/video.mp4" "http://$SERVER4/report.pdf"
echo -n "SMTP mail with an attachment:   "; c swaks --to user@example.test --from alice@example.test --server "$SERVER4" \
	--attach "$LAB_DIR/www/sample.exe" --attach "$LAB_DIR/www/report.pdf" --h-Subject "demo" 2>&1 | grep -o '250 2.0.0 Ok.*' || true
echo -n "SMTP with STARTTLS (587):       "; c swaks --to user@example.test --server "$SERVER4" -p 587 --tls 2>&1 | grep -o '220 2.0.0 Ready to start TLS' || true
sleep 1
echo -n "IMAP fetch of that mail:        "; c curl -sS --max-time 20 "imap://$SERVER4/INBOX;UID=1" -u user:secret -o "$out/mail.eml"
grep -m1 '^Subject:' "$out/mail.eml" || echo "(no mail)"
go build -o "$out/tlsclient" ./internal/lab/tlsclient
echo -n "Go client, X25519MLKEM768:      "; c "$out/tlsclient" -addr "$SERVER4:443" -sni "$HOSTNAME" -ca "$CA"
echo -n "openssl without SNI:            "; c openssl s_client -noservername -connect "$SERVER4:443" </dev/null 2>/dev/null |
	grep -m1 -o 'Protocol *: *TLSv1.3' || echo "done"
if command -v chromium >/dev/null; then
	# The lab has no QUIC server; the UDP sink on 443 keeps Chromium sending
	# its whole ClientHello, and the sensor needs nothing more.
	echo -n "Chromium over QUIC:             "
	c timeout 8 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$out/chromium" --ignore-certificate-errors \
		--host-resolver-rules="MAP $HOSTNAME $SERVER4" --enable-quic --origin-to-force-quic-on="$HOSTNAME:443" \
		--dump-dom "https://$HOSTNAME/" >/dev/null 2>&1 || true
	echo "done"
fi
echo "(waiting 4 s: a QUIC handshake without a server answer is written after 3 s of quiet)"
sleep 4

echo
ip netns exec "$NS_ROUTER" "$BIN" status --pin-path "$PIN" | head -4
echo
echo "== Prometheus /metrics (excerpt)"
r curl -s http://127.0.0.1:19750/metrics | grep -E '^edgesensor_(xdp_packets_total|files_total|scores_total|events_total|sink_events_total\{sink="arcsight",outcome="sent"|uplink_spool_records)' | head -16
kill -TERM "$pid"
wait "$pid" || true
pid=
tail -3 "$out/sensor.log"

echo
echo "== what crossed to userspace: $(wc -l <"$out/events.ndjson") events (one NDJSON line each)"
echo
echo "== edgesensor.tls: one event per TLS or QUIC handshake"
python3 - "$out/events.ndjson" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"]["dataset"] != "edgesensor.tls":
        continue
    t, d = e["tls"], e["edgesensor"]["tls"]
    c = t.get("client", {})
    state = "complete" if d["complete"] else "missing " + ",".join(d.get("missing", []))
    print(f'{e["network"]["protocol"]:4} {e["source"]["ip"]:>14}:{e["source"]["port"]:<5} -> {e["destination"]["ip"]}:{e["destination"]["port"]:<5}'
          f' TLS {t.get("version", "?"):3} {t.get("cipher", "")[:28]:28} sni {c.get("server_name", "-"):17}'
          f' alpn {t.get("next_protocol", "-"):8} ja4 {c.get("ja4", "-"):36} {state}')
PY
echo
echo "== one of them as the SIEM receives it (TLS 1.2, with the server's certificate):"
python3 - "$out/events.ndjson" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"]["dataset"] == "edgesensor.tls" and e["tls"].get("version") == "1.2":
        print(line, end=""); break
PY
echo
echo "== edgesensor.file: one event per candidate file (executables, documents, archives)"
python3 - "$out/events.ndjson" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"]["dataset"] != "edgesensor.file":
        continue
    f, d = e["file"], e["edgesensor"]["file"]
    h = f.get("hash", {}).get("sha256", "-")[:16]
    where = e.get("url", {}).get("original") or ("mail from " + ",".join(e.get("email", {}).get("from", {}).get("address", [])))
    state = "complete" if d["complete"] else "cut: " + d.get("cut", "?")
    sc = e["edgesensor"].get("score", {})
    why = ",".join(r["rule"] for r in sc.get("reasons", [])) or "-"
    print(f'{e["network"]["protocol"]:4} {f.get("name", "-"):16} {d["category"]:10} {d.get("kind", ""):6} {f["size"]:8} B'
          f' sha256 {h}  {state:9} score {e["event"].get("risk_score", "?"):>2} ({why}) {where}')
PY
echo
echo "== one of them as the SIEM receives it:"
python3 - "$out/events.ndjson" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"]["dataset"] == "edgesensor.file" and e["network"]["protocol"] == "smtp":
        print(line, end=""); break
PY

echo
echo "== the CEF sink (an ArcSight/QRadar-style SIEM reads this file):"
grep -m2 'edgesensor.file' "$out/events.cef" || true
echo
echo "== what the cloud received: $(wc -l <"$out/cloud-records.ndjson") records; the SMTP file's record, anonymised:"
python3 - "$out/cloud-records.ndjson" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    rec = r["record"]
    if rec.get("network", {}).get("protocol") == "smtp":
        print(json.dumps(rec)[:900]); break
PY
echo "audit log: $(head -1 "$out/audit.log")"

echo
echo "== replay of a capture through the same XDP program (BPF_PROG_TEST_RUN):"
"$BIN" replay --stats testdata/corpus/tls_go_pq.pcap 2>&1 >/dev/null | python3 -c "
import json,sys; s=json.loads(sys.stdin.read()); s.pop('counters')
print(json.dumps(s))"
echo
echo "demo done; the lab is torn down on exit, and nothing it started may be left running"
