# Thin aliases over the go tool; `go test ./...` stays sufficient.
GO        ?= go
BIN       ?= bin/scriptrunner
SOCKET    ?= /tmp/scriptrunner.sock
SCRIPTS   ?= scripts
FUZZTIME  ?= 30s
SHORTFUZZ ?= 2s
BENCHCOUNT ?= 6
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# package:FuzzTarget pairs; `make fuzz` runs each for $(FUZZTIME).
FUZZ_TARGETS = $(shell for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
		echo "./$$(dirname $$f | sed 's|^\./||'):$$t"; done; done)

.PHONY: all build run test test-unit test-scripts fuzz fuzz-short bench lint generate golden clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/scriptrunner

# Start the runner with the bundled scripts on $(SOCKET). Point APISIX at it
# with ext-plugin.path_for_test: $(SOCKET).
run: build
	@echo "scriptrunner: listening on unix:$(SOCKET) with scripts from $(SCRIPTS)/ (Ctrl-C stops)"
	APISIX_LISTEN_ADDRESS=unix:$(SOCKET) ./$(BIN) run --scripts $(SCRIPTS)

# Everything CI gates on: vet, race-enabled tests, the tests the race
# detector skips, the bundled scripts' own tests and formatting, and a
# short run of every fuzz target.
test: test-deps lint test-unit test-norace test-scripts fuzz-short

test-unit: test-deps
	$(GO) test -race -count=1 ./...

# The tests that skip under the race detector, whose counts it distorts:
# the allocation guards of docs/bench.md and the call-state pool's reuse.
NORACE_TESTS = Allocs|CallStatesBounded
NORACE_PKGS  = ./protocol ./engine ./internal/runner ./internal/loadgen
.PHONY: test-norace
test-norace:
	$(GO) test -count=1 -run '$(NORACE_TESTS)' $(NORACE_PKGS)

# What the tests need besides Go: redis-server for internal/redisstore
# (Debian package redis-server), installed here when missing and running
# as root. Never fails: without redis-server those tests skip and say why.
.PHONY: test-deps
test-deps:
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "test-deps: installing redis-server"; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } \
				|| echo "test-deps: could not install redis-server; the Redis store tests will skip"; \
		else echo "test-deps: redis-server not found: install the redis-server package (the Redis store tests skip without it)"; fi; }

# The scripts' *_test.star files (last line "N passed, M failed") and
# their formatting, with the binary just built.
test-scripts: build
	./$(BIN) test $(SCRIPTS)
	./$(BIN) fmt --check $(SCRIPTS)

# A target that fails is shown and run once more: a real crasher is
# written to testdata/fuzz and fails again as a seed, while a fuzzing
# worker starved on a loaded machine ("hung or terminated") does not.
fuzz-short:
	@set -e; for pt in $(FUZZ_TARGETS); do \
		pkg=$${pt%%:*}; t=$${pt##*:}; \
		echo "fuzz $$pkg $$t ($(SHORTFUZZ))"; \
		if ! out=$$($(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(SHORTFUZZ) $$pkg 2>&1); then \
			echo "$$out" | tail -n 20; echo "fuzz $$pkg $$t: failed; running it once more"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(SHORTFUZZ) $$pkg; \
		fi; \
	done

fuzz:
	@set -e; for pt in $(FUZZ_TARGETS); do \
		pkg=$${pt%%:*}; t=$${pt##*:}; \
		echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.out

.PHONY: bench-baseline bench-socket bench-chart

# The committed benchstat baseline of docs/bench.md.
bench-baseline:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./protocol ./engine ./internal/runner | tee docs/bench-baseline.txt

# Socket comparison of docs/bench.md: the floor runner and scriptrunner
# side by side under `scriptrunner bench --socket`. Add another runner
# already listening with BENCH_EXTRA='--socket go-runner=/tmp/gr.sock'.
# BENCH_PIN=1 puts the runners on CPU 1 and the load generator on CPU 0
# (taskset); BENCH_FLOOR_WORK=2us adds a calibration floor that burns that
# much CPU per call (a list such as 1us,2us adds one per value);
# BENCH_AA=1 adds a second, identical floor (floor-copy), whose ratio to
# the floor shows the run's own noise.
BENCH_CONF   ?= bench_filter={"header":"X-Api-Key","key":"secret"}
BENCH_CONNS  ?= 1,4,16,64
BENCH_TIME   ?= 3s
BENCH_ROUNDS ?= 3
BENCH_JSON   ?= docs/bench.json
BENCH_DIR    ?= /tmp/scriptrunner-bench
BENCH_PIN    ?=
BENCH_FLOOR_WORK ?=
BENCH_AA     ?=
RUNNER_CPU    = $(if $(BENCH_PIN),taskset -c 1)
LOADGEN_CPU   = $(if $(BENCH_PIN),taskset -c 0)
bench-socket: build
	@mkdir -p $(BENCH_DIR); rm -f $(BENCH_DIR)/*.sock; \
	$(RUNNER_CPU) ./$(BIN) bench --serve-floor $(BENCH_DIR)/floor.sock 2>/dev/null & floor=$$!; \
	copy=; csock=; if [ -n "$(BENCH_AA)" ]; then \
		$(RUNNER_CPU) ./$(BIN) bench --serve-floor $(BENCH_DIR)/copy.sock 2>/dev/null & copy=$$!; \
		csock="--socket floor-copy=$(BENCH_DIR)/copy.sock"; fi; \
	work=; wsock=; wnames=; for w in $$(echo '$(BENCH_FLOOR_WORK)' | tr ',' ' '); do \
		$(RUNNER_CPU) ./$(BIN) bench --serve-floor $(BENCH_DIR)/work-$$w.sock --floor-work $$w 2>/dev/null & work="$$work $$!"; \
		wsock="$$wsock --socket floor+$$w=$(BENCH_DIR)/work-$$w.sock"; wnames="$$wnames work-$$w"; done; \
	APISIX_LISTEN_ADDRESS=unix:$(BENCH_DIR)/sr.sock $(RUNNER_CPU) ./$(BIN) run --scripts $(SCRIPTS) 2>$(BENCH_DIR)/runner.log & sr=$$!; \
	trap 'kill $$floor $$sr $$work $$copy' EXIT; \
	for i in $$(seq 100); do up=1; for f in floor sr $${copy:+copy} $$wnames; do [ -S $(BENCH_DIR)/$$f.sock ] || up=; done; \
		[ -n "$$up" ] && break; sleep 0.1; done; \
	sleep 0.2; $(LOADGEN_CPU) ./$(BIN) bench --socket floor=$(BENCH_DIR)/floor.sock $$csock $$wsock --socket scriptrunner=$(BENCH_DIR)/sr.sock $(BENCH_EXTRA) \
		--conf '$(BENCH_CONF)' --conns $(BENCH_CONNS) --duration $(BENCH_TIME) --warmup 1s \
		--rounds $(BENCH_ROUNDS) --json > $(BENCH_JSON)

# docs/bench.svg from $(BENCH_JSON), with gonum/plot in its own module.
bench-chart:
	cd tools/benchchart && $(GO) run . -o $(abspath docs/bench.svg) $(abspath $(BENCH_JSON))

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Rebuild protocol/internal from protocol/ext-plugin.fbs with flatc
# (Debian package flatbuffers-compiler, installed here when missing).
generate:
	@command -v flatc >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq flatbuffers-compiler; \
		else echo "flatc not found: install the flatbuffers-compiler package"; exit 1; fi; }
	rm -rf protocol/internal/A6
	flatc --go -o protocol/internal protocol/ext-plugin.fbs
	grep -rl 'A6 "A6"' protocol/internal | xargs sed -i 's|A6 "A6"|A6 "github.com/scriptrunner/scriptrunner/protocol/internal/A6"|'
	gofmt -w protocol/internal

golden:
	$(GO) test ./... -update

clean:
	rm -rf bin bench.out
