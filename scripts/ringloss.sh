#!/usr/bin/env bash
# `make ringloss`: the loss accounting under a real ring overflow, at full
# size. TestPrivilegedLabRingLoss (cmd/edgesensor/ringloss_lab_test.go)
# runs the sensor on a lab interface with 4 KiB rings, plays the busy
# capture (internal/lab/corpusmix) into it with `tcpreplay --topspeed`,
# and holds the ring drops and the loss ratios the sensor reports
# against the truth (`replay --stats` of the same capture, and its
# events). The lab tier runs the same test with 24 copies of the corpus
# (200,640 packets); this runs it with RINGLOSS_COPIES (default 64: 535,040
# packets, 620 MB of capture).
#   RINGLOSS_COPIES=N    copies of the corpus in the capture
#   RINGLOSS_RING=BYTES  ring size (default the page size, the smallest the config allows)
#   RINGLOSS_WORKERS=N, RINGLOSS_QUEUE_DEPTH=N   sensor.workers and sensor.queue_depth (default: the config's)
#   RINGLOSS_CPU=N       run the sensor and tcpreplay on that one CPU
# Needs root and the lab's tools (make deps).
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGESENSOR_TEST_TIERS=lab
export EDGESENSOR_RINGLOSS_COPIES=${RINGLOSS_COPIES:-64}
[ -z "${RINGLOSS_RING:-}" ] || export EDGESENSOR_RINGLOSS_RING=$RINGLOSS_RING
[ -z "${RINGLOSS_WORKERS:-}" ] || export EDGESENSOR_RINGLOSS_WORKERS=$RINGLOSS_WORKERS
[ -z "${RINGLOSS_QUEUE_DEPTH:-}" ] || export EDGESENSOR_RINGLOSS_QUEUE_DEPTH=$RINGLOSS_QUEUE_DEPTH
[ -z "${RINGLOSS_CPU:-}" ] || export EDGESENSOR_RINGLOSS_CPU=$RINGLOSS_CPU
exec go test -count=1 -timeout 20m -run '^TestPrivilegedLabRingLoss$' -v ./cmd/edgesensor
