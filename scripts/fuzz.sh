#!/usr/bin/env bash
# Runs every fuzz target of the module for a while each (default 5s).
# Privileged targets skip themselves without root.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-5s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	dir=$(dirname "$f")
	for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "fuzz: $dir $name ($t)"
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" "$dir" >"$log" 2>&1 || {
			cat "$log"
			exit 1
		}
	done
done
