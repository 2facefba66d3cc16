// Package packaging holds no code: it is the home of the .deb packaging
// (nfpm.yaml, the maintainer scripts, the packaged config's head) and of the
// tests that check the systemd unit, the cross-builds and the package.
//
// The slow tests build and emulate or install things, so they run only when
// asked (cross-compiling cgo SQLite for two targets takes minutes, and
// installing a .deb needs root):
//
//	GATEWAY_CROSS_TEST=1   go test ./packaging -run Cross    # scripts/smoke-qemu
//	GATEWAY_PACKAGE_TEST=1 go test ./packaging -run Package  # scripts/package-test
package packaging
