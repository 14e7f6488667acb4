#!/usr/bin/env bash
# The edgesensor lab: three network namespaces joined by veths,
#
#   client ──veth── router (ip_forward=1, the sensor attaches here) ──veth── server
#
# with real servers in the server namespace (nginx HTTP/HTTPS with TLS 1.2
# and 1.3, postfix SMTP with STARTTLS, dovecot IMAP, tinyproxy on 3128
# when installed) and real clients in
# the client namespace (curl, openssl, swaks, python3). Offloads are off so
# packets look like the wire. Nothing touches the host's own interfaces.
#
#   scripts/lab.sh up        build it (idempotent: tears down a stale one first)
#   scripts/lab.sh down      stop the servers and delete the namespaces
#   scripts/lab.sh env       print the lab's names and addresses as shell variables
#
# Exit status 3 means a tool the lab needs is not installed.
#
# LAB_PREFIX (default "es") names the namespaces and veths and LAB_NET (default
# 77) picks the subnets 10.$LAB_NET.{1,2}.0/24 and fd00:$LAB_NET:{1,2}::/64, so
# two labs can run side by side.
set -euo pipefail

P=${LAB_PREFIX:-es}
N=${LAB_NET:-77}
DIR=${LAB_DIR:-/tmp/edgesensor-lab-$P}
HERE=$(cd "$(dirname "$0")" && pwd)

NS_C=$P-client NS_R=$P-router NS_S=$P-server
IF_C=$P-c0 IF_R0=$P-r0 IF_R1=$P-r1 IF_S=$P-s0
C4=10.$N.1.2 R04=10.$N.1.1 R14=10.$N.2.1 S4=10.$N.2.2
C6=fd00:$N:1::2 R06=fd00:$N:1::1 R16=fd00:$N:2::1 S6=fd00:$N:2::2
DOMAIN=example.test
HOST=www.$DOMAIN

print_env() {
	cat <<EOF
LAB_PREFIX=$P
LAB_DIR=$DIR
NS_CLIENT=$NS_C
NS_ROUTER=$NS_R
NS_SERVER=$NS_S
IF_CLIENT=$IF_C
IF_ROUTER_CLIENT=$IF_R0
IF_ROUTER_SERVER=$IF_R1
IF_SERVER=$IF_S
CLIENT4=$C4
CLIENT6=$C6
SERVER4=$S4
SERVER6=$S6
ROUTER_CLIENT4=$R04
ROUTER_SERVER4=$R14
HOSTNAME=$HOST
CA=$DIR/tls/ca.crt
BPFFS=$DIR/bpffs
EOF
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

need() {
	local missing=()
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "lab: missing ${missing[*]}: run scripts/deps.sh (or make deps)" >&2
		exit 3
	fi
}

# kill_pidfile FILE COMM: stop the process a pid file names, if it still
# is the one we started (its command name matches COMM), not a recycled PID.
kill_pidfile() {
	local f=$1 comm=$2 pid
	[ -f "$f" ] || return 0
	pid=$(tr -dc '0-9' <"$f" | head -c 10)
	rm -f "$f"
	[ -n "$pid" ] || return 0
	ours() { [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == $comm* ]]; }
	ours || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do ours || return 0; sleep 0.1; done
	ours && kill -9 "$pid" 2>/dev/null || true
}

# ns_pids NS: the processes running in a lab namespace, one line.
ns_pids() { ip netns pids "$1" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//'; }

# stop_ns NS: stop every process still running in a lab namespace,
# whoever started it there (a server that forked away from its pid file,
# the sensor or the reference cloud a test or the demo ran there): TERM,
# then KILL after 5 s. Deleting a namespace does not stop what runs in
# it: the process keeps the namespace alive, orphaned, and keeps
# listening. Fails, naming them, if some survive.
stop_ns() {
	local ns=$1 pids
	pids=$(ns_pids "$ns")
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086 # a list of PIDs
	kill $pids 2>/dev/null || true
	local end=$((SECONDS + 5))
	while [ $SECONDS -lt $end ]; do
		sleep 0.2
		pids=$(ns_pids "$ns")
		[ -n "$pids" ] || return 0
	done
	# shellcheck disable=SC2086
	kill -9 $pids 2>/dev/null || true
	end=$((SECONDS + 3))
	while [ $SECONDS -lt $end ]; do
		sleep 0.2
		pids=$(ns_pids "$ns")
		[ -n "$pids" ] || return 0
	done
	echo "lab: processes survive in $ns: $pids" >&2
	return 1
}

# orphans INODE...: processes whose network namespace is one of these
# (the lab's, once deleted), as "pid comm" lines.
orphans() {
	local p ino i
	for p in /proc/[0-9]*; do
		ino=$(stat -L -c %i "$p/ns/net" 2>/dev/null) || continue
		for i in "$@"; do
			[ "$ino" = "$i" ] && echo "${p#/proc/} $(cat "$p/comm" 2>/dev/null)"
		done
	done
	return 0
}

down() {
	# Servers first, by the PIDs they wrote, so they stop cleanly; then
	# whatever still runs in the namespaces; then the namespaces (their
	# veths go with them). Nothing may outlive them.
	if [ -d "$DIR" ]; then
		kill_pidfile "$DIR/nginx/nginx.pid" nginx
		[ -d "$DIR/postfix/etc" ] && in_ns "$NS_S" postfix -c "$DIR/postfix/etc" stop >/dev/null 2>&1 || true
		kill_pidfile "$DIR/postfix/queue/pid/master.pid" master
		kill_pidfile "$DIR/dovecot/run/master.pid" dovecot
		# Helpers started by scripts record pids/NAME.pid, NAME the command.
		for f in "$DIR"/pids/*.pid; do [ -e "$f" ] && kill_pidfile "$f" "$(basename "$f" .pid | cut -d- -f1)"; done
	fi
	local inodes=() failed=0 ns left
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		[ -e "/run/netns/$ns" ] || continue
		inodes+=("$(stat -L -c %i "/run/netns/$ns")")
		stop_ns "$ns" || failed=1
	done
	if [ -d "$DIR" ] && mountpoint -q "$DIR/bpffs" 2>/dev/null; then umount "$DIR/bpffs" || true; fi
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$DIR"
	if [ ${#inodes[@]} -gt 0 ]; then
		left=$(orphans "${inodes[@]}")
		if [ -n "$left" ]; then
			echo "lab: still running in a deleted lab namespace:" >&2
			echo "$left" >&2
			failed=1
		fi
	fi
	return $failed
}

offloads_off() {
	local ns=$1 dev=$2
	in_ns "$ns" ethtool -K "$dev" tso off gso off gro off tx off >/dev/null 2>&1 || true
}

make_net() {
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		ip netns add "$ns"
		in_ns "$ns" ip link set lo up
	done
	ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_R0" netns "$NS_R"
	ip link add "$IF_R1" netns "$NS_R" type veth peer name "$IF_S" netns "$NS_S"

	in_ns "$NS_C" ip addr add "$C4/24" dev "$IF_C"
	in_ns "$NS_C" ip -6 addr add "$C6/64" dev "$IF_C" nodad
	in_ns "$NS_R" ip addr add "$R04/24" dev "$IF_R0"
	in_ns "$NS_R" ip -6 addr add "$R06/64" dev "$IF_R0" nodad
	in_ns "$NS_R" ip addr add "$R14/24" dev "$IF_R1"
	in_ns "$NS_R" ip -6 addr add "$R16/64" dev "$IF_R1" nodad
	in_ns "$NS_S" ip addr add "$S4/24" dev "$IF_S"
	in_ns "$NS_S" ip -6 addr add "$S6/64" dev "$IF_S" nodad
	for pair in "$NS_C:$IF_C" "$NS_R:$IF_R0" "$NS_R:$IF_R1" "$NS_S:$IF_S"; do
		in_ns "${pair%%:*}" ip link set "${pair#*:}" up
		offloads_off "${pair%%:*}" "${pair#*:}"
	done
	in_ns "$NS_C" ip route add default via "$R04"
	in_ns "$NS_C" ip -6 route add default via "$R06"
	in_ns "$NS_S" ip route add default via "$R14"
	in_ns "$NS_S" ip -6 route add default via "$R16"
	in_ns "$NS_R" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1
}

make_tls() {
	local d=$DIR/tls
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=edgesensor lab CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	local san="subjectAltName=DNS:$HOST,DNS:mail.$DOMAIN,DNS:imap.$DOMAIN,IP:$S4,IP:$S6"
	# RSA leaf (TLS 1.2 RSA suites and TLS 1.3) and ECDSA leaf.
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$HOST" -keyout "$d/rsa.key" -out "$d/rsa.csr" 2>/dev/null
	openssl x509 -req -in "$d/rsa.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
		-extfile <(echo "$san") -out "$d/rsa.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$HOST" \
		-keyout "$d/ecdsa.key" -out "$d/ecdsa.csr" 2>/dev/null
	openssl x509 -req -in "$d/ecdsa.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
		-extfile <(echo "$san") -out "$d/ecdsa.crt" 2>/dev/null
	chmod 644 "$d"/*.crt "$d"/*.key
}

make_content() {
	local w=$DIR/www
	mkdir -p "$w"
	printf 'hello from the edgesensor lab\n' >"$w/index.html"
	printf 'plain notes, not a candidate\n' >"$w/notes.txt"
	# A harmless file that starts like a Windows executable.
	{ printf 'MZ'; head -c 58 /dev/zero; printf '\x40\x00\x00\x00'; head -c 200000 /dev/urandom; } >"$w/sample.exe"
	# A small PDF (a document candidate) with an Info dictionary.
	printf '%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n3 0 obj << /Author (Lab Author) /Producer (edgesensor lab) >> endobj\ntrailer << /Root 1 0 R /Info 3 0 R >>\n%%%%EOF\n' >"$w/report.pdf"
	# The EICAR test file (scores 10), and a double extension.
	printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$w/eicar.com"
	cp "$w/sample.exe" "$w/invoice.pdf.exe"
	head -c 1048576 /dev/urandom >"$w/1m.bin"
	head -c 8388608 /dev/urandom >"$w/video.mp4"
	head -c 33554432 /dev/urandom >"$w/32m.bin"
	chmod -R a+rX "$w"
}

start_nginx() {
	local d=$DIR/nginx
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
daemon on;
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile off;
	keepalive_requests 1000;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	types { text/html html; text/plain txt; application/octet-stream bin exe; video/mp4 mp4; }
	default_type application/octet-stream;
	server {
		# Every address of the namespace: tests add tunnel links.
		listen 80; listen [$S6]:80;
		root $DIR/www;
	}
	server {
		# Compressed on the fly: gzip content coding, chunked transfer.
		listen $S4:8080;
		root $DIR/www;
		gzip on; gzip_min_length 0; gzip_types application/octet-stream application/pdf;
	}
	server {
		listen 443 ssl http2; listen [$S6]:443 ssl http2;
		server_name $HOST;
		ssl_certificate $DIR/tls/rsa.crt; ssl_certificate_key $DIR/tls/rsa.key;
		ssl_certificate $DIR/tls/ecdsa.crt; ssl_certificate_key $DIR/tls/ecdsa.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $DIR/www;
	}
	server {
		# TLS 1.2 only, RSA certificate: the certificate crosses in the clear.
		listen $S4:8443 ssl;
		ssl_certificate $DIR/tls/rsa.crt; ssl_certificate_key $DIR/tls/rsa.key;
		ssl_protocols TLSv1.2;
		root $DIR/www;
	}
	server {
		# TLS 1.3 with P-384 only: a client that sends an X25519 key share
		# gets a HelloRetryRequest.
		listen $S4:9443 ssl;
		ssl_certificate $DIR/tls/ecdsa.crt; ssl_certificate_key $DIR/tls/ecdsa.key;
		ssl_protocols TLSv1.3;
		ssl_ecdh_curve secp384r1;
		root $DIR/www;
	}
}
EOF
	in_ns "$NS_S" nginx -c "$d/nginx.conf" -p "$d" -e "$d/error.log" </dev/null >>"$DIR/servers.log" 2>&1
}

start_postfix() {
	local d=$DIR/postfix uid gid
	uid=$(id -u nobody) gid=$(id -g nobody)
	mkdir -p "$d/etc" "$d/queue" "$d/data" "$DIR/mail/inbox"
	chown postfix "$d/data"
	chown -R "$uid:$gid" "$DIR/mail"
	cat >"$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
inet_interfaces = $S4, $S6
inet_protocols = all
mynetworks = 10.$N.0.0/16, [fd00:$N::]/32
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $DIR/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
message_size_limit = 52428800
virtual_mailbox_limit = 0
smtpd_tls_cert_file = $DIR/tls/rsa.crt
smtpd_tls_key_file = $DIR/tls/rsa.key
smtpd_tls_security_level = may
maillog_file = $d/maillog
maillog_file_prefixes = $d
smtputf8_enable = no
EOF
	cat >"$d/etc/master.cf" <<'EOF'
smtp       inet  n  -  n  -  -  smtpd
submission inet  n  -  n  -  -  smtpd
pickup     unix  n  -  n  60 1  pickup
cleanup    unix  n  -  n  -  0  cleanup
qmgr       unix  n  -  n  300 1 qmgr
tlsmgr     unix  -  -  n  1000? 1 tlsmgr
rewrite    unix  -  -  n  -  -  trivial-rewrite
bounce     unix  -  -  n  -  0  bounce
defer      unix  -  -  n  -  0  bounce
trace      unix  -  -  n  -  0  bounce
verify     unix  -  -  n  -  1  verify
flush      unix  n  -  n  1000? 0 flush
proxymap   unix  -  -  n  -  -  proxymap
showq      unix  n  -  n  -  -  showq
error      unix  -  -  n  -  -  error
retry      unix  -  -  n  -  -  error
discard    unix  -  -  n  -  -  discard
virtual    unix  -  n  n  -  -  virtual
anvil      unix  -  -  n  -  1  anvil
scache     unix  -  -  n  -  1  scache
postlog    unix-dgram n - n - 1 postlogd
EOF
	in_ns "$NS_S" postfix -c "$d/etc" check >/dev/null 2>&1 || true
	if ! in_ns "$NS_S" postfix -c "$d/etc" start </dev/null >>"$DIR/servers.log" 2>&1; then
		echo "lab: postfix did not start:" >&2
		tail -5 "$d/maillog" >&2 || true
		return 1
	fi
}

start_dovecot() {
	local d=$DIR/dovecot uid gid
	uid=$(id -u nobody) gid=$(id -g nobody)
	mkdir -p "$d/run" "$d/state"
	cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
listen = $S4, $S6
protocols = imap
ssl = yes
ssl_cert = <$DIR/tls/rsa.crt
ssl_key = <$DIR/tls/rsa.key
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$DIR/mail/inbox
}
mail_location = maildir:$DIR/mail/inbox
default_internal_user = dovecot
default_login_user = dovenull
EOF
	in_ns "$NS_S" dovecot -c "$d/dovecot.conf" </dev/null >>"$DIR/servers.log" 2>&1
}

# A UDP sink on 443: no QUIC server, but no "port unreachable" either, so
# browsers send their whole QUIC ClientHello (and retry it) as they would
# to a slow server.
start_udp_sink() {
	in_ns "$NS_S" python3 -c "
import os, socket, select
socks = []
for fam, addr in ((socket.AF_INET, '$S4'), (socket.AF_INET6, '$S6')):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, 443))
    socks.append(s)
if os.fork():
    os._exit(0)
os.setsid()
open('$DIR/pids/python3-udpsink.pid', 'w').write(str(os.getpid()))
while True:
    for s in select.select(socks, [], [])[0]:
        s.recv(65535)
" </dev/null >>"$DIR/servers.log" 2>&1
}

# A forward proxy beside nginx on 3128 (absolute-form requests and
# CONNECT to any port), when tinyproxy is installed (scripts/deps.sh
# installs it; the proxy test skips without it). It records its PID in
# pids/, so down stops it.
start_proxy() {
	command -v tinyproxy >/dev/null 2>&1 || return 0
	local d=$DIR/tinyproxy
	mkdir -p "$d"
	chown nobody "$d" # it opens its log once it runs as nobody
	# No Allow and no ConnectPort lines: every client, CONNECT to any port.
	cat >"$d/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port 3128
Timeout 30
MaxClients 64
LogFile "$d/tinyproxy.log"
LogLevel Info
PidFile "$DIR/pids/tinyproxy.pid"
EOF
	in_ns "$NS_S" tinyproxy -c "$d/tinyproxy.conf" </dev/null >>"$DIR/servers.log" 2>&1
}

wait_port() {
	local host=$1 port=$2
	for _ in $(seq 100); do
		if in_ns "$NS_C" bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "lab: $host:$port did not come up" >&2
	return 1
}

up() {
	need ip ethtool nginx postfix dovecot openssl curl swaks ping
	down
	# A failed bring-up tears down what it made.
	trap 'echo "lab: bring-up failed; tearing down" >&2; down' ERR
	mkdir -p "$DIR/pids" "$DIR/bpffs"
	# A bpffs of the lab's own, visible from every `ip netns exec`: each of
	# those gets a fresh /sys, so /sys/fs/bpf would not be shared.
	mount -t bpf bpf "$DIR/bpffs"
	make_net
	make_tls
	make_content
	start_nginx
	start_postfix
	start_dovecot
	start_udp_sink
	start_proxy
	for port in 80 443 8443 9443 25 587 143; do wait_port "$S4" "$port"; done
	if command -v tinyproxy >/dev/null 2>&1; then wait_port "$S4" 3128; fi
	trap - ERR
	echo "lab up: $NS_C ($C4) -> $NS_R [$IF_R0 | $IF_R1] -> $NS_S ($S4); files in $DIR"
}

case "${1:-}" in
up) up ;;
down) down ;;
env) print_env ;;
*)
	echo "usage: $0 up|down|env" >&2
	exit 2
	;;
esac
