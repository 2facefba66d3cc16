package sdnotify

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeSystemd listens on a unixgram socket in a temporary directory and
// points NOTIFY_SOCKET at it, as systemd does for Type=notify services.
func fakeSystemd(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	return conn
}

// recv returns the next datagram sent to the fake systemd. The deadline
// only keeps a broken test from hanging; messages are expected at once.
func recv(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFromUnix(buf)
	if err != nil {
		t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"ready", Ready, "READY=1"},
		{"stopping", Stopping, "STOPPING=1"},
		{"status", func() error { return Status("uplink down,\n42 buffered") }, "STATUS=uplink down, 42 buffered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := fakeSystemd(t)
			if err := tt.call(); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got := recv(t, conn); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReloading(t *testing.T) {
	conn := fakeSystemd(t)
	if err := Reloading(); err != nil {
		t.Fatal(err)
	}
	got := recv(t, conn)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Errorf("got %q, want RELOADING=1 and MONOTONIC_USEC=... lines", got)
	}
}

func TestNotUnderSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	for name, call := range map[string]func() error{
		"ready": Ready, "stopping": Stopping, "reloading": Reloading,
		"status": func() error { return Status("x") },
	} {
		if err := call(); err != nil {
			t.Errorf("%s: got %v, want nil (no-op)", name, err)
		}
	}
	called := false
	err := Watchdog(t.Context(), func() error { called = true; return nil }, slog.New(slog.DiscardHandler))
	if err != nil || called {
		t.Errorf("Watchdog: got err %v, healthy called %v; want nil and not called", err, called)
	}
}

func TestNotifySocketGone(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing"))
	if err := Ready(); err == nil {
		t.Error("got nil, want an error for a missing socket")
	}
}

func TestWatchdogOtherPID(t *testing.T) {
	fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "2000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1)) // meant for another process
	err := Watchdog(t.Context(), func() error { t.Error("healthy called"); return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestWatchdogBadUsec(t *testing.T) {
	fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "soon")
	if err := Watchdog(t.Context(), func() error { return nil }, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("got nil, want an error for a malformed WATCHDOG_USEC")
	}
}

// TestWatchdogStopsWhenUnhealthy drives the watchdog one health check at a
// time: healthy asks the test for its answer, so the test knows exactly
// which rounds were healthy. Every message goes from one goroutine to one
// socket, in order, so the sequence read back proves that no WATCHDOG=1 was
// sent during the unhealthy rounds.
func TestWatchdogStopsWhenUnhealthy(t *testing.T) {
	conn := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "2000") // ping every 1ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	ctx := t.Context()
	answers := make(chan error)
	healthy := func() error {
		select {
		case err := <-answers:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan error, 1)
	go func() { done <- Watchdog(ctx, healthy, slog.New(slog.NewTextHandler(t.Output(), nil))) }()
	t.Cleanup(func() { <-done }) // t.Context is cancelled before cleanups run
	stuck := errors.New("pipeline stuck")

	// Healthy rounds ping.
	for range 3 {
		answers <- nil
		if got, want := recv(t, conn), "WATCHDOG=1"; got != want {
			t.Fatalf("healthy round: got %q, want %q", got, want)
		}
	}
	// Unhealthy rounds: the status changes once, and no pings.
	answers <- stuck
	if got, want := recv(t, conn), "STATUS=unhealthy: pipeline stuck"; got != want {
		t.Fatalf("first unhealthy round: got %q, want %q", got, want)
	}
	for range 3 {
		answers <- stuck
	}
	// Recovery: the next messages are the status, then a ping. A ping
	// sent during the unhealthy rounds would have come first.
	answers <- nil
	for _, want := range []string{"STATUS=running", "WATCHDOG=1"} {
		if got := recv(t, conn); got != want {
			t.Fatalf("after recovery: got %q, want %q", got, want)
		}
	}
	answers <- nil
	if got, want := recv(t, conn), "WATCHDOG=1"; got != want {
		t.Fatalf("healthy again: got %q, want %q", got, want)
	}
}

func TestWatchdogStopsOnCancel(t *testing.T) {
	conn := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "2000")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Watchdog(ctx, func() error { return nil }, slog.New(slog.DiscardHandler)) }()
	if got, want := recv(t, conn), "WATCHDOG=1"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("got %v, want nil after cancel", err)
	}
}
