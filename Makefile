# p4ctl: see README.md. Every target runs from a fresh clone with Go alone;
# the P4 toolchain (p4c, BMv2) is optional and looked for in /opt/p4/bin.

GO        ?= go
BIN       := bin/p4ctl
P4_TOOLS  ?= /opt/p4/bin
# The BMv2 tier and the artifact freshness test find p4c-bm2-ss and
# simple_switch_grpc on PATH; put the usual install place there.
export PATH := $(P4_TOOLS):$(PATH)

P4C       ?= p4c-bm2-ss
P4_MAIN   := p4src/v1model/main.p4
P4_OUT    ?= p4src/build/v1model
P4_SRCS   := $(P4_MAIN) $(wildcard p4src/include/*.p4)

# Fuzz targets as package:Function; `make test` gives each FUZZ_SHORT,
# `make fuzz` FUZZ_LONG.
FUZZ      := pkg/pipeline:FuzzEncode pkg/pipeline:FuzzCheckEntry \
             pkg/pipeline:FuzzCompactRoundTrip pkg/p4rt:FuzzKeyParser \
             pkg/p4rt/p4rtsim:FuzzRawEntries pkg/policy:FuzzParse pkg/lldp:FuzzParse \
             pkg/topo:FuzzHandlePacketIn
FUZZ_SHORT ?= 10s
FUZZ_LONG  ?= 60s
run_fuzz = set -e; for f in $(FUZZ); do \
	$(GO) test -run '^$$' -fuzz "^$${f\#*:}\$$" -fuzztime $(1) -fuzzminimizetime 5s ./$${f%%:*}; done

# Code generation for the northbound API: protoc from Debian
# (protobuf-compiler) and the Go plugins at pinned versions, installed
# into bin/tools.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1

.PHONY: all build generate run test unit-test bmv2-test bench lint p4 fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/p4ctl

# The controller on embedded defaults: a single-node cluster in a fresh
# temporary data directory, a simulated device (p4rtsim) where the example
# expects leaf1, and the example policy applied; it prints the devices'
# status and serves the API on 127.0.0.1:9600 until interrupted. Try
# `bin/p4ctl get devices` or `bin/p4ctl trace --device leaf1 ...` from
# another terminal.
run: build
	./$(BIN) serve --node-id p4ctl-1 --bootstrap --data-dir "$$(mktemp -d -t p4ctl-run.XXXXXX)" \
		--sim 127.0.0.1:9559 --apply examples/segmentation.yaml

# Everything CI runs: formatting, vet, unit + in-process tests with the race
# detector, short fuzz passes, and the BMv2 tier (which skips, saying why,
# where simple_switch_grpc or root is missing).
test: lint
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /bmv2-tests)
	@$(call run_fuzz,$(FUZZ_SHORT))
	$(GO) test -race -count=1 -v ./bmv2-tests/

unit-test:
	$(GO) test -count=1 ./...

# The BMv2 tier alone, verbose.
bmv2-test:
	$(GO) test -count=1 -v ./bmv2-tests/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fuzz:
	@$(call run_fuzz,$(FUZZ_LONG))

# Recompile the pipeline. Run from the repository root: the BMv2 JSON
# records source paths as given here, and TestArtifactsFresh compares
# byte for byte.
p4: $(P4_SRCS)
	@command -v $(P4C) >/dev/null || { echo "p4c-bm2-ss not found (PATH or $(P4_TOOLS))"; exit 1; }
	mkdir -p $(P4_OUT)
	$(P4C) --arch v1model --std p4-16 \
		--p4runtime-files $(P4_OUT)/p4info.txtpb \
		-o $(P4_OUT)/bmv2.json $(P4_MAIN)

generate:
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(CURDIR)/bin/tools $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/bin/tools $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(CURDIR)/bin/tools:$$PATH protoc -I api --go_out=api --go_opt=paths=source_relative \
		--go-grpc_out=api --go-grpc_opt=paths=source_relative p4ctl/v1/p4ctl.proto

clean:
	rm -rf bin
