# patchlet — make help lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/patchlet/patchlet/internal/version.Version=$(VERSION)
PKG       := github.com/patchlet/patchlet
CONTROLLER_GEN_VERSION := v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
# nfpm builds the deb/rpm/archlinux/apk packages; newer releases need modules the proxy refuses.
NFPM_VERSION := v2.41.3
NFPM := $(BIN)/nfpm-$(NFPM_VERSION)

# Debian packages the tests need: real apt/dpkg, dnf, zypper and pacman in
# isolated roots (never dnf-plugins-core: on Debian 12 it breaks zypper; makepkg
# ships the libraries repo-add sources, which pacman-package-manager lacks).
TEST_DEBS := dpkg-dev apt-utils busybox-static rpm createrepo-c dnf zypper pacman-package-manager makepkg zstd libarchive-tools
# Extra packages for `make bench`.
BENCH_DEBS := bc wrk

# -p 1: one test binary at a time; the integration suites (real apt, dnf, a kube-apiserver with 300
# simulated agents) each use both cores, and running them side by side only makes their timeouts tight.
GO_TEST_FLAGS ?= -race -count=1 -p 1 -timeout 40m
FUZZ_TIME ?= 10s

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: fmt-check
fmt-check: ## Fail when a Go file is not gofmt-clean.
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^hack/tmp')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deep copies and the CRDs.
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:dir=config/crd

.PHONY: verify
verify: generate fmt-check vet ## Fail on a dirty tree after generate.
	@git diff --exit-code -- api config/crd || (echo "generated files are stale: run make generate"; exit 1)

##@ Build

.PHONY: build
build: ## Build bin/patchlet and bin/patchctl (static).
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/patchlet ./cmd/patchlet
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/patchctl ./cmd/patchctl

##@ Test

.PHONY: deps
deps: ## Install the Debian packages the tests need (apt-get update once, only when something is missing).
	@./hack/install-debs.sh $(TEST_DEBS) $(KUBE_DEBS)

.PHONY: test
test: deps fmt-check vet $(NFPM) kube-apiserver test-tools ## Install what is missing (a cold kube-apiserver build takes 8-15 min), then vet, gofmt, every test with -race, and short fuzz runs.
	NFPM=$(NFPM) PATCHLET_CACHE=$(PATCHLET_CACHE) PATCHLET_REQUIRE_KUBE=1 THIRD_PARTY=$(THIRD_PARTY) $(GO) test $(GO_TEST_FLAGS) ./...
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_TIME) ./api/v1alpha1
	$(GO) test -run '^$$' -fuzz '^FuzzWriteBody$$' -fuzztime $(FUZZ_TIME) ./server

.PHONY: test-unit
test-unit: ## Only the quick tests (no real package managers, no kubectl).
	$(GO) test -count=1 ./... -args -ginkgo.label-filter='!integration'

# Test tools no Debian package provides, built once and cached under PATCHLET_CACHE like the
# kube-apiserver: apk-tools 2 and 3 from ../shared/third_party (skipped, saying so, when that
# folder is absent; the apk tests then skip too) and a debootstrap'ed bookworm tree in which the
# systemd test boots a real systemd with systemd-nspawn.
THIRD_PARTY ?= $(abspath $(CURDIR)/../shared/third_party)

.PHONY: test-tools
test-tools: ## Build apk-tools 2 and 3 (~20 s once) and the systemd container tree (~1 min once), cached under PATCHLET_CACHE.
	@PATCHLET_CACHE=$(PATCHLET_CACHE) THIRD_PARTY=$(THIRD_PARTY) ./hack/apk/build-apk.sh
	@PATCHLET_CACHE=$(PATCHLET_CACHE) ./hack/systemd/build-tree.sh

##@ Run

.PHONY: demo
demo: build deps ## Run the agent on a sandbox of this host (overlay of /), converge the samples, leave the host untouched.
	./hack/demo.sh

.PHONY: bench
bench: build ## Patchlet beside ansible, unattended-upgrade, apt-get and dpkg-query on a sandbox of this host: one table (BENCH_QUICK=1: a ~2 min smoke run).
	@./hack/install-debs.sh $(TEST_DEBS) $(BENCH_DEBS) ansible-core unattended-upgrades hyperfine python3-apt
	./hack/bench/run.sh

$(CONTROLLER_GEN):
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $@

.PHONY: clean
clean: ## Remove build output.
	rm -rf $(BIN)/patchlet $(BIN)/patchctl $(CURDIR)/out

##@ Packages

# Debian packages the package tests need (real rpm and pacman in isolated roots).
PACKAGE_DEBS := rpm pacman-package-manager zstd libarchive-tools
# Package version: the newest vX.Y.Z tag (0.0.0 without one); the release
# counts the commits since it, so every later commit sorts newer.
PKG_TAG := $(shell git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null)
PKG_VERSION ?= $(if $(PKG_TAG),$(patsubst v%,%,$(PKG_TAG)),0.0.0)
PKG_RELEASE ?= $(shell echo $$(( $$(git rev-list --count $(if $(PKG_TAG),$(PKG_TAG)..HEAD,HEAD) 2>/dev/null || echo 0) + 1 )))
OUT := $(CURDIR)/out

.PHONY: packages
packages: build $(NFPM) ## Build the deb, rpm, archlinux and apk packages of bin/ into out/.
	PKG_VERSION=$(PKG_VERSION) PKG_RELEASE=$(PKG_RELEASE) PKG_BIN_DIR=$(BIN) PKG_OUT=$(OUT) NFPM=$(NFPM) ./hack/packages/build.sh

.PHONY: test-packages
test-packages: $(NFPM) ## Install, upgrade and remove the packages with real dpkg, rpm and pacman in isolated roots.
	@./hack/install-debs.sh $(TEST_DEBS) $(PACKAGE_DEBS)
	NFPM=$(NFPM) $(GO) test -race -count=1 ./hack/packages/

$(NFPM):
	GOBIN=$(BIN) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(BIN)/nfpm $@

##@ Kubernetes (fleet mode)

# A real kube-apiserver, built from the Go module proxy, and etcd (Debian's
# etcd-server) for the fleet tests (internal/testsupport/testenv). The apiserver is cached
# by version outside the work tree, so a fresh clone on the same machine
# reuses it; bin/kube/kube-apiserver links to the cached binary.
KUBE_VERSION   ?= v1.37.1
PATCHLET_CACHE ?= $(HOME)/.cache/patchlet
KUBE_DEBS      := etcd-server

.PHONY: kube-apiserver
kube-apiserver: ## Install etcd and build kube-apiserver once (8-15 min cold, 2.4 GB memory; cached by version).
	@./hack/install-debs.sh $(KUBE_DEBS)
	@PATCHLET_CACHE=$(PATCHLET_CACHE) KUBE_VERSION=$(KUBE_VERSION) ./hack/kube/build-apiserver.sh $(BIN)/kube

.PHONY: crds
crds: $(CONTROLLER_GEN) ## Regenerate the CRDs in config/crd from the markers in api/v1alpha1.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:dir=config/crd

.PHONY: test-kube
test-kube: kube-apiserver ## Only the tests against a real kube-apiserver (CRDs, RBAC, host pinning).
	PATCHLET_CACHE=$(PATCHLET_CACHE) $(GO) test -race -count=1 ./internal/testsupport/testenv/
