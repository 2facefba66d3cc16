package serialline

import (
	"log/slog"
	"time"
)

// faultLog logs a repeating fault (garbage lines, say) without flooding the
// log: once when it starts, then at most once per interval with the number
// of faults since, and once when good lines return with the episode's total.
// It is used from the driver's read goroutine only.
type faultLog struct {
	log   *slog.Logger
	msg   string // e.g. "garbage line"
	every time.Duration

	active  bool      // the fault is going on
	last    time.Time // when it was last logged
	since   uint64    // faults since the last log
	episode uint64    // faults since it started
}

// fault records one fault; attrs describe this one (the error, the line).
func (f *faultLog) fault(now time.Time, attrs ...any) {
	f.episode++
	if !f.active {
		f.active, f.last, f.since = true, now, 0
		f.log.Warn(f.msg, attrs...)
		return
	}
	f.since++
	if now.Sub(f.last) >= f.every {
		f.log.Warn(f.msg, append(attrs, "more_since_last_log", f.since)...)
		f.last, f.since = now, 0
	}
}

// ok records a good line, ending an episode.
func (f *faultLog) ok() {
	if !f.active {
		return
	}
	f.log.Info(f.msg+"s stopped", "count", f.episode)
	f.active, f.since, f.episode = false, 0, 0
}
