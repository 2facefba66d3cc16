// Package clock is the machine's clock as a gateway.Clock (wall time, time
// since boot, the boot id, whether NTP has synchronised the wall clock), and
// a fake one that tests move by hand.
package clock

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgegw/gateway"
)

// TimesyncFile exists once systemd-timesyncd has synchronised the clock.
const TimesyncFile = "/run/systemd/timesync/synchronized"

// syncRecheck is how long a Synced answer is reused.
const syncRecheck = 5 * time.Second

// System is the machine's clock. Mono is the kernel's uptime when the
// System was made plus Go's monotonic time since (neither is stepped by
// settimeofday or NTP); Boot is the kernel's boot id.
type System struct {
	start  time.Time // with Go's monotonic reading
	offset time.Duration
	boot   string

	syncMu    sync.Mutex
	syncAt    time.Time
	synced    atomic.Bool
	syncKnown bool
}

var _ gateway.Clock = (*System)(nil)

// NewSystem reads the boot id and the uptime. Where /proc lacks them (not
// Linux), the boot is the process's start and Mono counts from it.
func NewSystem() *System {
	s := &System{start: time.Now(), boot: "process-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		s.boot = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if up, err := strconv.ParseFloat(f[0], 64); err == nil {
				s.offset = time.Duration(up * float64(time.Second))
			}
		}
	}
	return s
}

// Now returns time.Now().
func (s *System) Now() time.Time { return time.Now() }

// Mono returns the time since boot.
func (s *System) Mono() time.Duration { return s.offset + time.Since(s.start) }

// Boot returns the kernel's boot id.
func (s *System) Boot() string { return s.boot }

// Synced reports whether the clock is synchronised, asking the system at
// most every few seconds.
func (s *System) Synced() bool {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if !s.syncKnown || time.Since(s.syncAt) >= syncRecheck {
		ok, _ := SyncState()
		s.synced.Store(ok)
		s.syncAt, s.syncKnown = time.Now(), true
	}
	return s.synced.Load()
}

// SyncState asks systemd-timesyncd's flag file, then the kernel (adjtimex:
// not TIME_ERROR), whether the clock is synchronised, and says which told.
func SyncState() (bool, string) {
	if _, err := os.Stat(TimesyncFile); err == nil {
		return true, TimesyncFile
	}
	var tx syscall.Timex
	state, err := syscall.Adjtimex(&tx)
	if err != nil {
		return false, "adjtimex: " + err.Error()
	}
	const timeError = 5 // TIME_ERROR in <sys/timex.h>: not synchronised
	if state == timeError {
		return false, "adjtimex says TIME_ERROR"
	}
	return true, "adjtimex"
}

// Fake is a clock that tests set: the wall clock jumps with SetWall or
// Jump, the monotonic one advances only with Advance (which moves the wall
// clock too).
type Fake struct {
	mu     sync.Mutex
	wall   time.Time
	mono   time.Duration
	boot   string
	synced bool
}

var _ gateway.Clock = (*Fake)(nil)

// NewFake returns a fake clock at wall, an hour after boot "boot-1",
// not synchronised.
func NewFake(wall time.Time) *Fake { return &Fake{wall: wall, mono: time.Hour, boot: "boot-1"} }

// Now returns the fake wall time.
func (f *Fake) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.wall }

// Mono returns the fake time since boot.
func (f *Fake) Mono() time.Duration { f.mu.Lock(); defer f.mu.Unlock(); return f.mono }

// Boot returns the fake boot id.
func (f *Fake) Boot() string { f.mu.Lock(); defer f.mu.Unlock(); return f.boot }

// Synced returns what SetSynced set.
func (f *Fake) Synced() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.synced }

// Advance lets d pass: both clocks move.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wall, f.mono = f.wall.Add(d), f.mono+d
}

// Jump steps the wall clock by d (either way), as NTP or an admin does.
func (f *Fake) Jump(d time.Duration) { f.mu.Lock(); defer f.mu.Unlock(); f.wall = f.wall.Add(d) }

// SetSynced sets what Synced returns.
func (f *Fake) SetSynced(ok bool) { f.mu.Lock(); defer f.mu.Unlock(); f.synced = ok }

// Reboot starts a new boot: a new id, Mono back near zero.
func (f *Fake) Reboot(id string) { f.mu.Lock(); defer f.mu.Unlock(); f.boot, f.mono = id, time.Second }
