// Package packaging holds no code: it is the home of the .deb packaging
// (nfpm.yaml, the maintainer scripts, the packaged config's head) and of the
// tests that check the systemd unit, the cross-builds and the package.
//
// CI runs the cross-builds under qemu and the package checks through
// scripts/test-pi (called by scripts/test). As Go tests they run only when
// asked (cross-compiling cgo SQLite for two targets takes minutes, and
// installing a .deb on this machine needs root and changes it):
//
//	GATEWAY_CROSS_TEST=1   go test ./packaging -run Cross    # scripts/smoke-qemu
//	GATEWAY_PACKAGE_TEST=1 go test ./packaging -run Package  # scripts/package-test
package packaging
