# edgesensor. On a fresh machine: `make demo` shows it working, `make test`
# proves it. Both install the Debian packages they need (as root).
SHELL := /bin/bash
GO ?= go
BIN := bin/edgesensor
FUZZTIME ?= 5s
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all install uninstall build build-yara deps deps-build generate check-generate lint test test-unit test-quick test-yara fuzz bench flood demo lab-up lab-down clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/edgesensor

# The same binary with YARA rule matching (cgo, libyara-dev).
build-yara: deps
	$(GO) build -tags yara -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/edgesensor

# Debian packages for the build, the lab, the tests and the demo.
deps:
	scripts/deps.sh

deps-build:
	scripts/deps.sh build

# Rebuild the BPF objects (clang) and their Go bindings (bpf2go).
generate: deps-build
	$(GO) generate ./bpf ./userspace/files/filehash

# Fails when the committed BPF objects are not what the sources compile to.
check-generate: deps-build
	scripts/check-generate.sh

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -name '*_bpfe[lb].go' -not -path './.git/*')); \
		[ -z "$$out" ] || { echo "gofmt would change: $$out"; exit 1; }
	$(GO) vet ./...

# The whole suite: unit, BPF (BPF_PROG_TEST_RUN), lab integration, fuzzing.
test: deps lint check-generate test-unit test-yara fuzz

# All tiers: unit, bpf (BPF_PROG_TEST_RUN, replay) and lab (namespaces,
# real servers). `go test ./...` alone runs the unit tier only.
test-unit:
	EDGESENSOR_TEST_TIERS=all $(GO) test -count=1 -timeout 20m ./...

# The unit tier alone: no root, a minute or two.
test-quick:
	$(GO) test -count=1 ./...

# The YARA build: its binding and the file pipeline with rules.
test-yara:
	$(GO) vet -tags yara ./userspace/verdict/yara ./userspace/files ./cmd/edgesensor
	$(GO) test -count=1 -tags yara ./userspace/verdict/yara ./userspace/files

# Every fuzz target for FUZZTIME each.
fuzz:
	EDGESENSOR_TEST_TIERS=all scripts/fuzz.sh $(FUZZTIME)

bench: deps build
	scripts/bench.sh

# The floods of the hostile-traffic suite at full size: time, peak RSS
# against the bound the config sets, and the real traffic inside each.
flood: build
	scripts/flood.sh

demo: deps build
	scripts/demo.sh

lab-up: deps
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

# Install the binary, the documented config (not over an existing one),
# the systemd unit and a user for it. DESTDIR stages a package.
PREFIX ?= /usr/local
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/edgesensor
	install -D -m 0644 scripts/systemd/edgesensor.service $(DESTDIR)/etc/systemd/system/edgesensor.service
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/edgesensor/README.md
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/doc/edgesensor/docs docs/*.md
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/edgesensor/prometheus deploy/prometheus/*.yml
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/edgesensor/grafana deploy/grafana/*.json
	install -d -m 0750 $(DESTDIR)/etc/edgesensor
	[ -e $(DESTDIR)/etc/edgesensor/sensor.toml ] || install -m 0640 sensor.toml $(DESTDIR)/etc/edgesensor/sensor.toml
	if [ -z "$(DESTDIR)" ]; then \
		id -u edgesensor >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin edgesensor; \
		chgrp edgesensor /etc/edgesensor /etc/edgesensor/sensor.toml; \
		systemctl daemon-reload 2>/dev/null || true; \
		echo "installed; edit /etc/edgesensor/sensor.toml (sensor.interfaces), then: systemctl enable --now edgesensor"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/edgesensor $(DESTDIR)/etc/systemd/system/edgesensor.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/edgesensor $(DESTDIR)$(PREFIX)/share/edgesensor

clean:
	rm -rf bin

# The loss accounting under a real ring overflow at full size (the lab
# tier runs it small): 4 KiB rings, the busy capture at tcpreplay --topspeed.
.PHONY: ringloss
ringloss: deps
	scripts/ringloss.sh
