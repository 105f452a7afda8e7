# The README's commands. `make run` and `make test` set everything up on a fresh Debian machine with Go.
GO       ?= go
BIN      := bin/anchorfs
DEMO_HOME   ?= $(or $(ANCHORFS_HOME),$(HOME)/.anchorfs)
DEMO_REMOTE ?= $(HOME)/.anchorfs-demo-remote
MNT      ?= $(CURDIR)/mnt
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: build man install run test lint bench fuzz fuse3 clean network-up network-down network-deploy test-fabric test-fabric-failover bench-fabric bench-audit

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/anchorfs

# A man page per command, from the commands themselves.
man: build
	rm -rf man && $(BIN) man man

# The binary, its man pages, shell completions and mount(8)'s helper
# (mount -t fuse.anchorfs, fstab lines); DESTDIR and PREFIX as usual.
PREFIX ?= /usr/local
install: man
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/anchorfs
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)/sbin
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	ln -sf $(PREFIX)/bin/anchorfs $(DESTDIR)/sbin/mount.fuse.anchorfs
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BIN) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/anchorfs
	$(BIN) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_anchorfs
	$(BIN) completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/anchorfs.fish

# fusermount3 lets non-root users mount; as root anchorfs mounts without it.
fuse3:
	@command -v fusermount3 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3; \
	  else echo "fusermount3 is missing: sudo apt-get install fuse3" >&2; exit 1; fi; }

# Init a demo volume (local-folder remote, embedded ledger) on first use, then mount it at ./mnt.
run: fuse3 build
	@mkdir -p $(MNT)
	@if [ ! -f "$(DEMO_HOME)/config.yaml" ]; then \
	  ANCHORFS_PASSPHRASE= $(BIN) --home "$(DEMO_HOME)" init --remote "$(DEMO_REMOTE)"; fi
	@echo "anchorfs: mounting the demo volume at $(MNT); Ctrl-C or 'fusermount3 -u $(MNT)' unmounts"
	$(BIN) --home "$(DEMO_HOME)" mount "$(MNT)"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Unit, format and end-to-end tests (real FUSE mounts, real rclone remotes,
# the real chaincode), the race detector on the shared-state packages, and
# the macOS build.
test: lint
	GOOS=darwin $(GO) build ./...
	$(GO) test -timeout 20m ./...
	$(GO) test -race -short -timeout 20m ./fs/... ./network/...

# Each fuzz target for FUZZTIME (their seeds run in make test too); what
# they find lands in the package's testdata/fuzz, to keep once fixed.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeObjects$$' -fuzztime $(FUZZTIME) ./fs/format
	$(GO) test -run '^$$' -fuzz '^FuzzCanonicalManifest$$' -fuzztime $(FUZZTIME) ./fs/format
	$(GO) test -run '^$$' -fuzz '^FuzzOutboxReplay$$' -fuzztime $(FUZZTIME) ./fs/anchoring
	$(GO) test -run '^$$' -fuzz '^FuzzChaincodeArguments$$' -fuzztime $(FUZZTIME) ./chaincode
	$(GO) test -run '^$$' -fuzz '^FuzzEventNumbers$$' -fuzztime $(FUZZTIME) ./chaincode
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./keyring

bench: build
	bash bench/run.sh

# Filtered audit queries over 100,000 events on the embedded ledger (docs/AUDIT.md).
bench-audit:
	$(GO) test -run '^$$' -bench '^BenchmarkAuditQueries$$' -benchtime 10x ./chaincode

clean:
	rm -rf bin man

# The Fabric test network (Fabric's binaries from FABRIC_BIN or PATH; docs/FABRIC.md).
network-up: build
	bash network/testnet/scripts/up.sh

network-down:
	bash network/testnet/scripts/down.sh

network-deploy: build
	bash network/testnet/scripts/deploy.sh

# Each brings the network up (ORDERERS=3 for three orderers), runs the suites
# or the benchmark that need it, and brings it down. Without Fabric's
# binaries they print a SKIP banner naming what is missing and succeed.
# The tests' verbose output in full when one fails, else only their verdicts.
test-fabric: build
	@bash network/testnet/scripts/with-network.sh test-fabric bash -c '\
	  out=$$(mktemp); $(GO) test -count=1 -p 1 -v -run "Fabric|AcrossOrganisations|UnavailableNetwork" ./network/fabric/ ./fs/ ./cmd/anchorfs/ > $$out 2>&1; s=$$?; \
	  if [ $$s = 0 ]; then grep -E "^(=== RUN|--- |    .*SKIP|PASS|FAIL|ok)" $$out; else cat $$out; fi; rm -f $$out; exit $$s'

# Three orderers; the first is stopped and the network must keep committing.
test-fabric-failover: build
	@ORDERERS=3 bash network/testnet/scripts/with-network.sh test-fabric-failover \
	  env ANCHORFS_FABRIC_FAILOVER=1 $(GO) test -count=1 -v -run TestFabricOrdererFailover ./network/fabric/

# 20 transactions of 2,000 versions, then 1,000 transactions of one version
# (20 submitting at a time).
bench-fabric: build
	@bash network/testnet/scripts/with-network.sh bench-fabric bash -c '\
	  $(GO) test -count=1 -run "^$$" -bench "BenchmarkFabricAnchor/batched" -benchtime 20x ./network/fabric/ && \
	  $(GO) test -count=1 -run "^$$" -bench "BenchmarkFabricAnchor/one-per-tx" -benchtime 1000x ./network/fabric/'
