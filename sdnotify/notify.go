package sdnotify

import (
	"fmt"
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Ready tells systemd that startup is finished: with Type=notify the unit
// becomes "active" only now, so units ordered After= it start once the
// listeners are up and the buffer is open. Call it again after a reload.
// It returns nil when not running under systemd.
func Ready() error { return send("ready", daemon.SdNotifyReady) }

// Stopping tells systemd that a clean shutdown has begun, so a long final
// flush is not mistaken for a hang. It returns nil when not under systemd.
func Stopping() error { return send("stopping", daemon.SdNotifyStopping) }

// Reloading tells systemd that the configuration is being reloaded (SIGHUP).
// Call Ready when the reload is done, whether it succeeded or not. The
// MONOTONIC_USEC field lets Type=notify-reload (systemd 253+) match the
// two messages; older versions ignore it. It returns nil when not under
// systemd.
func Reloading() error {
	return send("reloading", daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
}

// Status sets the free-form one-line status that `systemctl status` shows,
// e.g. "uplink down, 1234 messages buffered". Newlines are replaced by
// spaces: the protocol is one variable per line. It returns nil when not
// under systemd.
func Status(s string) error {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	return send("status", "STATUS="+s)
}

// send writes state to NOTIFY_SOCKET, if there is one.
func send(op, state string) error {
	// The environment is kept (false): the watchdog loop and later calls
	// read NOTIFY_SOCKET again.
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("sd_notify %s: %w", op, err)
	}
	return nil
}
