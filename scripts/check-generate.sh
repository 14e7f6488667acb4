#!/usr/bin/env bash
# Regenerates the BPF objects and fails if they differ from the committed
# ones (works with or without git).
set -euo pipefail
cd "$(dirname "$0")/.."
files=(bpf/sensor_bpfel.o bpf/sensor_bpfeb.o bpf/sensor_bpfel.go bpf/sensor_bpfeb.go bpf/flowcount_bpfel.o bpf/flowcount_bpfeb.o bpf/flowcount_bpfel.go bpf/flowcount_bpfeb.go)
before=$(sha256sum "${files[@]}")
go generate ./bpf
after=$(sha256sum "${files[@]}")
if [ "$before" != "$after" ]; then
	echo "bpf/: the committed generated files are stale; run 'make generate' and commit:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
echo "bpf/: generated objects are current"

# The fused digest loop is generated too (pure Go, no clang needed).
asm=userspace/files/filehash/fused_amd64.s
before=$(sha256sum "$asm")
go generate ./userspace/files/filehash
after=$(sha256sum "$asm")
if [ "$before" != "$after" ]; then
	echo "$asm is stale; run 'make generate' and commit" >&2
	exit 1
fi
echo "$asm is current"
