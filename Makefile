# Common tasks. The binary is ./gateway; `make test` is what CI runs.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export VERSION
SHELL := /bin/bash
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test demo clean cross arm64 armv7 smoke-qemu deb package-check package-test test-pi
# The first build compiles SQLite (cgo) for about a minute; -v lists each
# package as it is compiled (nothing when everything is cached).
build:
	@echo "make build: ./gateway $(VERSION) (the first build compiles SQLite with cgo: about a minute; Go caches it)"
	@echo "make build: CGO_ENABLED=1 go build -v -trimpath -ldflags '$(LDFLAGS)' -o gateway ./cmd/gateway"
	@start=$$(date +%s); CGO_ENABLED=1 go build -v -trimpath -ldflags '$(LDFLAGS)' -o gateway ./cmd/gateway 2>&1 | sed -u 's/^/  compiling /'; \
	  rc=$${PIPESTATUS[0]}; [ $$rc -eq 0 ] || exit $$rc; echo "make build: ./gateway built in $$(( $$(date +%s) - start ))s"

test:
	./scripts/test

demo:
	go run ./cmd/gateway

clean:
	rm -rf gateway dist gateway-data

# Cross-builds with cgo SQLite (installs Debian's cross compilers if missing).
cross:
	./scripts/build-cross
arm64:
	./scripts/build-cross arm64
armv7:
	./scripts/build-cross armv7
# Runs the arm64 and armv7 binaries under qemu-user-static.
smoke-qemu:
	./scripts/smoke-qemu
# .deb packages for amd64, arm64 and armhf in dist/ (nfpm via go run).
deb:
	./scripts/package-deb
# Checks the packages in dist/ without changing this machine (root for chroot).
package-check:
	./scripts/package-check dist/gateway_*.deb
# What CI runs after the Go tests: cross-builds under qemu, packages, unit exposure.
test-pi:
	./scripts/test-pi
# Installs the amd64 .deb here, checks it, and purges it (needs root).
package-test:
	./scripts/package-test
