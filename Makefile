# imagelab — make test runs everything CI runs.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := test

GO ?= go
GOTEST_FLAGS ?= -count=1 -timeout 60m

.PHONY: run build test e2e bench bench-workshop unit lint deps testbin docker tools fuzz clean

run: ## run the tutorial
	$(GO) run ./cmd/imagelab

build:
	$(GO) build -buildvcs=auto -ldflags "-X github.com/imagelab/imagelab/internal/app.version=$$(git describe --tags --always --dirty 2>/dev/null || echo dev)" -o bin/imagelab ./cmd/imagelab

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n $$out ]]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

testbin: ## Kubernetes binaries for the tests (cached)
	hack/testbin.sh --node >/dev/null

tools: ## trivy, cosign, kubesec and a Trivy DB from fixtures, for the supply-chain steps' tests (cached)
	hack/tools.sh >/dev/null

deps: ## Debian packages the tests use: tmux, curl; containerd, runc, CNI plugins for the node
	hack/deps.sh
	hack/node-deps.sh

docker: ## a Docker engine for the tests (Debian's, on its own socket), the local registry image, and Podman beside it
	hack/docker.sh install
	hack/docker.sh start >/dev/null
	hack/registry-image.sh >/dev/null
	hack/podman.sh install
	hack/podman.sh start

# Unit tests only; integration tests skip with a message.
unit:
	$(GO) test -short ./...

# Unit and integration tests against a real kube-apiserver + etcd, a real
# registry, the real kubectl and a Docker engine, and the end-to-end tests
# on a one-node cluster of local processes (kubelet, containerd; root).
# Fails if any integration test cannot run.
test: lint deps testbin docker tools
	eval "$$(hack/docker.sh env)"; eval "$$(hack/registry-image.sh env)"; eval "$$(hack/podman.sh env)"; eval "$$(hack/tools.sh env)"; \
	export KUBEBUILDER_ASSETS="$$(hack/testbin.sh --node)" IMAGELAB_INTEGRATION=1 IMAGELAB_SLOW=1; \
	$(GO) test -tags e2e -json $(GOTEST_FLAGS) ./... | $(GO) run ./hack/testsummary -require-integration

# Only the end-to-end tests on the local node: it comes up, the learner's
# path runs with the real kubectl and checks, and everything is torn down.
e2e: deps testbin tools
	eval "$$(hack/tools.sh env)"; export KUBEBUILDER_ASSETS="$$(hack/testbin.sh --node)" IMAGELAB_INTEGRATION=1; \
	$(GO) test -tags e2e -json $(GOTEST_FLAGS) -run 'TestIntegrationNode' ./internal/app ./internal/testenv/node | $(GO) run ./hack/testsummary -require-integration

# Speed as the learner meets it: one table of medians, each with its method
# (docs/performance.md).
bench: deps testbin docker tools build
	eval "$$(hack/docker.sh env)"; eval "$$(hack/registry-image.sh env)"; eval "$$(hack/tools.sh env)"; \
	export KUBEBUILDER_ASSETS="$$(hack/testbin.sh)"; \
	$(GO) run ./hack/bench -bin bin/imagelab

# A workshop's load on one real API server: ATTENDEES attendees, each with
# the app's watches and a check per change, and the board, for DURATION
# (hack/benchworkshop says how each figure is measured). Not a test: it
# prints what it measured, and whether the goals are met.
ATTENDEES ?= 100
DURATION ?= 5m
bench-workshop: testbin
	export KUBEBUILDER_ASSETS="$$(hack/testbin.sh)"; \
	$(GO) run ./hack/benchworkshop -attendees $(ATTENDEES) -duration $(DURATION)

fuzz: ## a short run of every fuzz target
	for t in FuzzSplitImage FuzzDecodeDockerConfigJSON FuzzScanManifest; do \
		$(GO) test ./lessons/check -run '^$$' -fuzz "^$$t$$" -fuzztime 20s; done

clean:
	rm -rf bin
