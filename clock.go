package gateway

import "time"

// Clock is the time source of components whose timing must survive the
// system clock being set. A Raspberry Pi has no real-time clock: it boots
// with the time saved at shutdown (fake-hwclock) and jumps, by days after a
// long power cut, when NTP synchronises it, which may be long after boot
// while the uplink is down.
//
// Now is the wall clock; it may jump either way. Mono is the time since the
// boot that Boot names and never jumps, so durations within one boot are
// measured with it. Synced reports whether the wall clock has been
// synchronised (NTP). All methods are safe for concurrent use.
type Clock interface {
	Now() time.Time
	Mono() time.Duration
	Boot() string
	Synced() bool
}
