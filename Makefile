# draft's Makefile. `make demo` and `make test` are the two commands of the README.
SHELL := /bin/bash
GO ?= go
BIN := bin/draft
GOFLAGS_BUILD := -trimpath
LDFLAGS := -s -w -X github.com/draftk8s/draft/pkg/version.Version=$(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The environment (Kubernetes, registry, Docker engine) is brought up by e2e/env/up,
# which prints only export lines on stdout. The e2e suite and the demo build the
# base images they use on first use (internal/testenv, e2e/demo.sh), so their
# up builds none unless DRAFT_ENV_IMAGES says otherwise; `make cluster` builds all.
ENV_UP := bash e2e/env/up
ENV_UP_LAZY := DRAFT_ENV_IMAGES="$${DRAFT_ENV_IMAGES-}" bash e2e/env/up
ENV_DOWN := bash e2e/env/down
# the packages whose tests have golden files (and so an -update flag)
GOLDEN_PKGS = $(sort $(dir $(shell grep -rlE --include='*_test.go' 'testkit\.(Golden|Update)\b' pkg)))

.PHONY: build test unit e2e bench lint golden cluster cluster-down demo fresh clean

# draft carries its live-update agent for these platforms (pkg/live/prebuilt,
# not committed; pkg/live/agent_prebuilt.go embeds these two): live update then
# needs no Go toolchain where draft runs.
AGENT_PLATFORMS := linux/amd64 linux/arm64

build:
	@set -e; for p in $(AGENT_PLATFORMS); do \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
	    -o pkg/live/prebuilt/draft-agent-$${p%/*}-$${p#*/} ./pkg/live/agent; done
	$(GO) build $(GOFLAGS_BUILD) -tags draft_prebuilt_agent -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/draft

# unit + integration tests, then the e2e suite against the real environment.
test: unit e2e

unit:
	$(GO) test -race -count=1 ./...

e2e: build
	@set -e; env=$$($(ENV_UP_LAZY)) || { echo "make e2e: the environment did not start (its error is above)" >&2; exit 1; }; eval "$$env"; \
	  DRAFT_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout 40m ./e2e/... ./pkg/build/ ./pkg/kube/ ./pkg/deploy/

cluster:
	@$(ENV_UP)

cluster-down:
	@$(ENV_DOWN)

demo: build
	@bash e2e/demo.sh

# the README's two set-up commands, from nothing: a new Debian 12 root (slow: see e2e/fresh.sh)
fresh:
	@bash e2e/fresh.sh

bench: build
	@bash bench/run.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/... ./pkg/...

golden:
	$(GO) test $(addprefix ./,$(GOLDEN_PKGS)) -count=1 -run Golden -update

clean:
	rm -rf bin
