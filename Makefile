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

.PHONY: all build run test test-unit fuzz fuzz-short bench lint generate golden clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/scriptrunner

# Start the runner with the bundled scripts on $(SOCKET). Point APISIX at it
# with ext-plugin.path_for_test: $(SOCKET).
run: build
	@echo "scriptrunner: listening on unix:$(SOCKET) with scripts from $(SCRIPTS)/ (Ctrl-C stops)"
	APISIX_LISTEN_ADDRESS=unix:$(SOCKET) ./$(BIN) run --scripts $(SCRIPTS)

# Everything CI gates on: vet, race-enabled tests, and a short run of every
# fuzz target.
test: lint test-unit fuzz-short

test-unit:
	$(GO) test -race -count=1 ./...

fuzz-short:
	@set -e; for pt in $(FUZZ_TARGETS); do \
		pkg=$${pt%%:*}; t=$${pt##*:}; \
		echo "fuzz $$pkg $$t ($(SHORTFUZZ))"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(SHORTFUZZ) $$pkg >/dev/null || { $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(SHORTFUZZ) $$pkg; exit 1; }; \
	done

fuzz:
	@set -e; for pt in $(FUZZ_TARGETS); do \
		pkg=$${pt%%:*}; t=$${pt##*:}; \
		echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.out

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
