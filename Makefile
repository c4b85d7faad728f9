# Flotilla's build. Every target installs what it needs into bin/ (git-ignored,
# keyed by version), so a fresh machine needs only Go, git and make.

GO              ?= go
BIN             := $(CURDIR)/bin
STATICCHECK_VER := v0.8.2
STATICCHECK     := $(BIN)/staticcheck-$(STATICCHECK_VER)/staticcheck
ACTIONLINT_VER  := v1.7.12
ACTIONLINT      := $(BIN)/actionlint-$(ACTIONLINT_VER)/actionlint
DEMO_DIR        ?= $(CURDIR)/.demo

.PHONY: all demo fleet-demo fleet-down test lint unit tools fuzz build clean local-fleet bench bench-apply

all: build

## demo: render the example fleet into hydrated branches of a throwaway local repo
demo: build
	@DEMO_DIR=$(DEMO_DIR) hack/demo.sh

## fleet-demo: the whole loop on three local clusters, one per rollout tier (prod-us-east canary,
## prod-us-west early, edge-01 general): render, promote, apply, verify, a drift caught and healed,
## a change rolled out canary → early → general. The clusters keep running: make fleet-down
fleet-demo: build tools
	@DEMO_DIR=$(DEMO_DIR) FLOTILLA_CMDS=$(BIN) FLOTILLA_BIN=$(BIN) hack/fleet-demo.sh

## fleet-down: stop the clusters make fleet-demo started and remove what it wrote under $(DEMO_DIR)
fleet-down:
	@DEMO_DIR=$(DEMO_DIR) hack/fleet-down.sh

## test: the whole suite: formatting, vet, staticcheck, and go test -race
test: lint tools unit

# unit: FLOTILLA_REQUIRE_TOOLS turns a missing control plane or helm from a
# skip (plain `go test ./...` on a fresh clone) into a failure
unit:
	FLOTILLA_REQUIRE_TOOLS=1 $(GO) test -race -count=1 -timeout 30m ./...

lint: $(STATICCHECK) $(ACTIONLINT)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(ACTIONLINT) .github/workflows/*.yml examples/github/*.yml

$(ACTIONLINT):
	GOBIN=$(dir $(ACTIONLINT)) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VER)

$(STATICCHECK):
	GOBIN=$(dir $(STATICCHECK)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VER)

## tools: build the test control plane (etcd, kube-apiserver, …) into bin/
tools:
	@hack/tools/build.sh $(BIN)

## local-fleet: start real local clusters (CLUSTERS=a,b,c) and write $(DEMO_DIR)/fleet.kubeconfig
CLUSTERS ?= canary,early,general
local-fleet: tools
	$(GO) run ./hack/localfleet --clusters $(CLUSTERS) --kubeconfig $(DEMO_DIR)/fleet.kubeconfig

## bench: render generated fleets (200 clusters × 25 Kustomize services; 200 clusters × 10 Helm charts) and print the comparison tables
bench: build tools
	$(GO) run ./hack/bench --bin $(BIN)

## bench-apply: 1,000 objects against a real apiserver, Flotilla vs kubectl apply --server-side
bench-apply: tools
	$(GO) run ./hack/benchapply

## fuzz: a short run of every fuzz target
fuzz:
	$(GO) test ./internal/appset -run XXX -fuzz FuzzRender -fuzztime 30s
	$(GO) test ./internal/fleet -run XXX -fuzz FuzzDecodeApplicationSet -fuzztime 30s
	$(GO) test ./internal/render -run XXX -fuzz FuzzDashedName -fuzztime 30s
	$(GO) test ./internal/hydrate -run XXX -fuzz FuzzAppendIndent -fuzztime 30s
	$(GO) test ./internal/fleet -run XXX -fuzz FuzzClusterName -fuzztime 30s
	$(GO) test ./internal/fleet -run XXX -fuzz FuzzBranchName -fuzztime 30s
	$(GO) test ./internal/fleet -run XXX -fuzz FuzzCheckYAML -fuzztime 30s
	$(GO) test ./internal/render -run XXX -fuzz FuzzKustomization -fuzztime 30s
	$(GO) test ./internal/render -run XXX -fuzz FuzzGlobMatch -fuzztime 30s
	$(GO) test ./internal/render -run XXX -fuzz FuzzJsonnetImport -fuzztime 30s
	$(GO) test ./internal/project -run XXX -fuzz FuzzGlobNeverPanics -fuzztime 30s
	$(GO) test ./internal/appset -run XXX -fuzz FuzzWildmatch -fuzztime 30s
	$(GO) test ./internal/gitobj -run XXX -fuzz FuzzReadPackedRefs -fuzztime 30s
	$(GO) test ./internal/hydrate -run XXX -fuzz FuzzNewerOf -fuzztime 30s
	$(GO) test ./internal/redact -run XXX -fuzz FuzzText -fuzztime 30s
	$(GO) test ./internal/actions -run XXX -fuzz FuzzLogData -fuzztime 30s
	$(GO) test ./internal/appset -run XXX -fuzz FuzzChildren -fuzztime 30s
	$(GO) test ./internal/kube/drift -run XXX -fuzz FuzzIgnore -fuzztime 30s
	$(GO) test ./internal/kube/syncplan -run XXX -fuzz FuzzParseOptions -fuzztime 30s
	$(GO) test ./internal/status -run XXX -fuzz FuzzViews -fuzztime 30s
	$(GO) test ./internal/policy -run XXX -fuzz FuzzEvaluate -fuzztime 30s
	$(GO) test ./internal/fleet -run XXX -fuzz FuzzResolveLinks -fuzztime 30s
	$(GO) test ./internal/fleet -run XXX -fuzz FuzzLoadFSMatchesLoad -fuzztime 30s -fuzzminimizetime 20x
	$(GO) test ./internal/kube/normalize -run XXX -fuzz FuzzObject -fuzztime 30s
	$(GO) test ./internal/layout -run XXX -fuzz FuzzMatch -fuzztime 30s
	$(GO) test ./internal/promote -run XXX -fuzz FuzzDecideGates -fuzztime 30s
	$(GO) test ./internal/forge -run XXX -fuzz FuzzRunStarts -fuzztime 30s
	$(GO) test ./internal/layout -run XXX -fuzz FuzzKubeconfigSecret -fuzztime 30s
	$(GO) test ./internal/report -run XXX -fuzz FuzzFit -fuzztime 30s

build:
	$(GO) build -o $(BIN)/ ./cmd/...

clean: fleet-down
	rm -rf $(DEMO_DIR)
