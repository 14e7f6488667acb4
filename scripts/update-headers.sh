#!/usr/bin/env bash
# Refreshes the vendored BPF headers from the installed Debian packages
# (libbpf-dev, linux-libc-dev), then `make generate` rebuilds the objects.
set -euo pipefail
cd "$(dirname "$0")/../bpf/include"
cp /usr/include/bpf/bpf_helpers.h /usr/include/bpf/bpf_helper_defs.h /usr/include/bpf/bpf_endian.h .
cp /usr/include/linux/bpf.h /usr/include/linux/bpf_common.h linux/
echo "headers updated from libbpf-dev $(dpkg-query -W -f '${Version}' libbpf-dev) and linux-libc-dev $(dpkg-query -W -f '${Version}' linux-libc-dev)"
