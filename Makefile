# snapmirror-csi. `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

K8S_VERSION ?= v1.36.3
BIN := $(CURDIR)/bin
KUBEBUILDER_ASSETS ?= $(BIN)/k8s-$(K8S_VERSION)
export KUBEBUILDER_ASSETS
GO_TEST_FLAGS ?=

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: test-binaries ## Two sites (control planes, simulated ONTAP, snapmirror-csi, CSI sidecars) walk the DR workflow; KEEP=1 leaves them up.
	go run ./test/demo

.PHONY: bench
bench: test-binaries ## Benchmark: N mirrored pairs through provision, establish, steady state, failover, reestablish and updates (N=1000, LATENCY=20ms, CAP=10).
	go run ./test/bench -n $(or $(N),1000) -latency $(or $(LATENCY),20ms) -cap $(or $(CAP),10) -memory-n $(or $(MEMORY_N),10000)

.PHONY: test
test: test-binaries ## Run every test: unit, envtest, csi-sanity and the two-site end-to-end (builds the binaries once).
	go test $(GO_TEST_FLAGS) ./...

.PHONY: unit
# The packages whose tests need no control plane: the engine, the ONTAP client and simulator,
# the CSI plugin (csi-sanity included). Seconds, and no test binaries to build.
UNIT_PKGS := ./mirror/... ./ontap/... ./mocks/... ./csi/...
unit: ## Run the fast tests that need no control plane (engine, ONTAP client and simulator, CSI).
	go test $(GO_TEST_FLAGS) $(UNIT_PKGS)

.PHONY: fuzz
# FUZZTIME is a count of executions (Nx): a duration can fail with a bare "context deadline
# exceeded" and no crasher when the time runs out, a race in Go 1.26's fuzzing coordinator
# (golang/go#75804, fixed in Go 1.27). 150000x is about 30 s per target on 2 cores.
fuzz: ## Run each fuzz target FUZZTIME times (default 150000x); make test runs only their seeds.
	for t in FuzzNames FuzzParameters FuzzNodeID; do go test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(or $(FUZZTIME),150000x) ./csi || exit 1; done
	for t in FuzzDuration FuzzRelationship FuzzErrors FuzzSplitPath; do go test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(or $(FUZZTIME),150000x) ./ontap || exit 1; done

.PHONY: build
build: ## Compile every package, and the binaries into bin/.
	go build ./...
	go build -o $(BIN)/ ./cmd/...

.PHONY: generate
generate: ## Regenerate deepcopy, CRD and RBAC manifests (controller-gen), the ONTAP client (go-swagger), and copy the VolumeSnapshot CRDs from external-snapshotter.
	go tool controller-gen object paths=./crds/... crd output:crd:artifacts:config=crds/manifests
	go tool controller-gen rbac:roleName=snapmirror-csi paths=./frontend/... paths=./cmd/... output:rbac:artifacts:config=deploy/rbac
	install -m 644 "$$(go list -m -f '{{.Dir}}' github.com/kubernetes-csi/external-snapshotter/client/v8)"/config/crd/*snapshot.storage.k8s.io_*.yaml crds/external/
	rm -rf ontap/rest/client ontap/rest/models
	go tool swagger generate client --quiet --spec=ontap/rest/swagger.yaml --target=ontap/rest --name=ontap \
		--client-package=client --model-package=models

.PHONY: verify
verify: generate ## Regenerate, then fail on any diff; check go.mod tidiness, gofmt and go vet.
	go mod tidy
	@if [ -n "$$(git status --porcelain -- crds ontap/rest deploy go.mod go.sum)" ]; then \
		git status --short -- crds ontap/rest deploy go.mod go.sum; git diff --stat -- crds ontap/rest deploy go.mod go.sum; \
		echo "generated code or go.mod is out of date: run 'make generate' and 'go mod tidy', then commit"; exit 1; fi
	@if [ -n "$$(gofmt -l .)" ]; then gofmt -l .; echo "not gofmt-formatted: run 'gofmt -w .'"; exit 1; fi
	go vet ./...

.PHONY: lint
lint: ## Run golangci-lint (pinned in go.mod).
	go tool golangci-lint run ./...

.PHONY: tools
tools: test-binaries ## Build the pinned tools (go.mod tool directives) into bin/ and the control-plane binaries.
	GOBIN=$(BIN) go install tool

.PHONY: test-binaries
test-binaries: ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, the CSI sidecars and promtool from source into bin/ (once).
	WITH_CSI=1 hack/install-test-binaries.sh $(KUBEBUILDER_ASSETS) >/dev/null
