# Common tasks. The binary is ./gateway; `make test` is what CI runs.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export VERSION
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test demo clean cross arm64 armv7 smoke-qemu deb package-test
build:
	CGO_ENABLED=1 go build -trimpath -ldflags '$(LDFLAGS)' -o gateway ./cmd/gateway

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
# Installs the amd64 .deb here, checks it, and purges it (needs root).
package-test:
	./scripts/package-test
