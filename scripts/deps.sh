#!/usr/bin/env bash
# Installs the Debian packages edgesensor's build, tests, lab and demo need,
# only when something is missing. Safe to run again. Needs root.
#
#   scripts/deps.sh          everything (build, tests, lab, demo, bench)
#   scripts/deps.sh build    only what `make generate` needs
set -euo pipefail

# command -> package
declare -A build=(
	[clang]=clang [llvm-strip]=llvm
)
declare -A lab=(
	[ip]=iproute2 [ethtool]=ethtool [nginx]=nginx-light [postfix]=postfix
	[dovecot]=dovecot-imapd [swaks]=swaks [curl]=curl [openssl]=openssl
	[python3]=python3 [tcpdump]=tcpdump [iperf3]=iperf3 [setpriv]=util-linux
	[tshark]=tshark [tcpreplay]=tcpreplay [mountpoint]=util-linux [chromium]=chromium
	[rsyslogd]=rsyslog [/usr/bin/time]=time [ping]=iputils-ping
	# promtool checks the shipped alert rules and dashboard (deploy/); the
	# package's server is kept from starting like the other daemons.
	[promtool]=prometheus
	# An external Kafka consumer reads the Kafka sink's topic; mmdblookup
	# checks the GeoIP enrichment against libmaxminddb.
	[kcat]=kcat [mmdblookup]=mmdb-bin
	# The sensor shares an interface's XDP hook with xdp-tools' xdp-filter.
	[xdp-filter]=xdp-tools [xdp-loader]=xdp-tools
	# A forward proxy beside nginx (plain, CONNECT); the executable only,
	# no host service.
	[tinyproxy]=tinyproxy-bin
	# Disk-image and archive tools the container readers' tests compare
	# with (the product reads the formats itself).
	[mkfs.vfat]=dosfstools [fsck.fat]=dosfstools [mcopy]=mtools [mmd]=mtools
	[qemu-img]=qemu-utils [mkudffs]=udftools [udfinfo]=udftools [7z]=p7zip-full
	[genisoimage]=genisoimage [isoinfo]=genisoimage [mkntfs]=ntfs-3g [ntfscp]=ntfs-3g
)

want=()
check() {
	local -n table=$1
	for cmd in "${!table[@]}"; do
		command -v "$cmd" >/dev/null 2>&1 || want+=("${table[$cmd]}")
	done
}
check build
if [ "${1:-all}" != build ]; then
	check lab
	# swaks --tls needs Net::SSLeay, only a Recommends of swaks.
	perl -MNet::SSLeay -e1 2>/dev/null || want+=(libnet-ssleay-perl)
	# The YARA build (make build-yara, make test) links libyara.
	[ -f /usr/include/yara.h ] || want+=(libyara-dev)
	# rsyslog's TLS driver for the SIEM tests (imtcp over TLS).
	compgen -G '/usr/lib/*/rsyslog/lmnsd_ossl.so' >/dev/null || want+=(rsyslog-openssl)
fi
[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages ${want[*]}; run as root (sudo make deps)" >&2
	exit 1
fi
mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -u)
echo "deps: installing ${want[*]}" >&2

# Answer the packages' questions up front, and keep their daemons from
# starting on the host: the lab runs its own instances in namespaces.
debconf-set-selections <<'SEL'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string lab.example.test
iperf3 iperf3/start_daemon boolean false
wireshark-common wireshark-common/install-setuid boolean false
SEL
made_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	made_policy=1
fi
trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
echo "deps: done" >&2
