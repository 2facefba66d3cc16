# Common tasks. The binary is ./gateway; `make test` is what CI runs.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test demo clean
build:
	CGO_ENABLED=1 go build -trimpath -ldflags '$(LDFLAGS)' -o gateway ./cmd/gateway

test:
	./scripts/test

demo:
	go run ./cmd/gateway

clean:
	rm -rf gateway dist gateway-data
