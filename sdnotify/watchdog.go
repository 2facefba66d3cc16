package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// WatchdogInterval returns the WatchdogSec= timeout systemd set for this
// process (WATCHDOG_USEC, checked against WATCHDOG_PID), or 0 when the
// watchdog is off or the process is not under systemd.
func WatchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("sd_watchdog_enabled: %w", err)
	}
	return d, nil
}

// Watchdog sends WATCHDOG=1 to systemd every half of WatchdogSec= (the
// interval sd_watchdog_enabled(3) recommends pinging at most), but only
// while healthy returns nil. When healthy reports an error, or blocks, the
// pings stop: after WatchdogSec= systemd kills the service with SIGABRT and
// Restart=on-failure starts it again. A stuck pipeline therefore restarts
// the gateway instead of leaving it silently dead.
//
// healthy is called from Watchdog's goroutine only, once per interval; it
// must not be slow compared with the interval. Health changes are logged
// once per change (Warn when it turns unhealthy, Info when it recovers) and
// shown as the unit's STATUS=.
//
// Watchdog returns nil at once when the watchdog is off (no WATCHDOG_USEC,
// or not under systemd), and otherwise nil when ctx is cancelled. It returns
// an error only if WATCHDOG_USEC is malformed.
func Watchdog(ctx context.Context, healthy func() error, log *slog.Logger) error {
	timeout, err := WatchdogInterval()
	if err != nil {
		return err
	}
	if timeout == 0 {
		return nil
	}
	log = log.With("component", "watchdog")
	interval := timeout / 2
	log.Debug("systemd watchdog on", "timeout", timeout, "ping_every", interval)

	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr error // the previous health check's result
	failed := false   // whether a ping has already failed (logged once)
	for {
		herr := healthy()
		switch {
		case herr != nil && lastErr == nil:
			log.Warn("unhealthy: watchdog pings stopped; systemd restarts the gateway unless it recovers",
				"err", herr, "timeout", timeout)
			_ = Status("unhealthy: " + herr.Error()) // only informative; the missing pings are what counts
		case herr == nil && lastErr != nil:
			log.Info("healthy again: watchdog pings resumed")
			_ = Status("running") // only informative
		}
		lastErr = herr
		if herr == nil {
			if err := send("watchdog", daemon.SdNotifyWatchdog); err != nil && !failed {
				// Logged once: a missing socket is systemd's problem, and it
				// will restart the service if the pings really are lost.
				log.Warn("watchdog ping", "err", err)
				failed = true
			} else if err == nil {
				failed = false
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
