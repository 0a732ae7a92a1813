# mailprobe — build, test, benchmark, fuzz, integration.
GO       ?= go
BIN      ?= bin/mailprobe
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/mailprobe/mailprobe/pkg/cli.Version=$(VERSION)
FUZZTIME ?= 15s

.PHONY: all build test vet lint bench fuzz integration stress stress-integration man completions image image-test clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mailprobe

vet:
	$(GO) vet ./...

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The unit suite: hermetic (loopback only), with the race detector.
test: lint
	$(GO) test -race -count=1 ./...

# The unit suite with the race detector, STRESS_COUNT times over, while a
# busy loop per core keeps the machine loaded: a test that leans on timing
# or on what the far end of a socket has noticed fails here first. Run it
# before resolving anything that touched concurrency.
STRESS_COUNT ?= 5
stress:
	@pids=""; for i in $$(seq $$(nproc)); do (while :; do :; done) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "stress: $(GO) test -race -count=$(STRESS_COUNT) ./... beside $$(nproc) busy loops"; \
	$(GO) test -race -count=$(STRESS_COUNT) -timeout 30m ./...

# The integration suite (real Postfix, Dovecot, NSD) the same way: each test
# STRESS_IT_COUNT times against one set of daemons, beside the busy loops.
STRESS_IT_COUNT ?= 3
stress-integration: build
	@pids=""; for i in $$(seq $$(nproc)); do (while :; do :; done) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "stress-integration: -count=$(STRESS_IT_COUNT) beside $$(nproc) busy loops"; \
	$(MAKE) --no-print-directory integration IT_FLAGS='-count=$(STRESS_IT_COUNT) -timeout 40m $(IT_FLAGS)'

# Go benchmarks, then whole-command comparisons with peer tools when they
# are installed (scripts/bench.sh prints ratios measured in one run).
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh $(BIN); fi

# Every fuzz target for a bounded time each (scripts/fuzz.sh; CI runs it
# with FUZZTIME=10s). FUZZ_SAVE=1 keeps the grown corpus in testdata/fuzz.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# The integration suite against real Postfix, Dovecot and NSD. Installs
# them when run as root; fails (does not skip) when they are missing; stops
# the daemons it started even when a test fails or make is interrupted.
# Narrow or detail it with e.g. IT_FLAGS='-v -run TestSMTPCheck'. The tests
# are built with the same CGO_ENABLED=0 -trimpath as bin/mailprobe so that
# they reuse its compiled dependencies (a cold build takes minutes otherwise).
IT_FLAGS ?=
integration: build
	MAILPROBE_BIN=$(CURDIR)/$(BIN) bash test/integration/env/env.sh run -- \
		env CGO_ENABLED=0 $(GO) test -trimpath -tags integration -count=1 -timeout 25m $(IT_FLAGS) ./test/integration/...

# Man pages (section 1) and shell completions, as the release archives
# carry them.
man:
	rm -rf man && $(GO) run ./internal/tools/genman man

completions: build
	mkdir -p completions
	for sh in bash zsh fish; do $(BIN) completion $$sh > completions/mailprobe.$$sh; done

# The container image: the static binary on scratch (Dockerfile), built
# with podman, then `reset send --embedded` run from the image's own
# filesystem (scripts/container-test.sh).
image: build
	scripts/container-test.sh build $(BIN)

image-test: build
	scripts/container-test.sh test $(BIN)

clean:
	rm -rf bin man completions
