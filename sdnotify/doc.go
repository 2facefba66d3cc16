// Package sdnotify tells systemd how the gateway is doing, through the
// sd_notify(3) protocol: READY=1 once it serves, STOPPING=1 and RELOADING=1
// around shutdown and SIGHUP reloads, a STATUS= line for `systemctl status`,
// and WATCHDOG=1 keep-alive pings for WatchdogSec= (systemd.service(5)).
//
// Everything here is a no-op when the process was not started by systemd
// (NOTIFY_SOCKET is unset), so the same binary runs from a shell, in tests
// and under a service manager without a flag.
//
// It wraps github.com/coreos/go-systemd/v22/daemon, which reads
// NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
package sdnotify
