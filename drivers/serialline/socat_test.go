package serialline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// The tests in this file run the driver on a real pseudo-terminal pair made
// by socat: the test writes to one end as the device would, the driver reads
// the other end with go.bug.st/serial.

// readyWriter collects socat's stderr and closes ready at the line saying
// that socat has made both ptys and their links.
type readyWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	once  sync.Once
	ready chan struct{}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), "starting data transfer loop") {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startSocat starts socat linking two ptys at the paths a and b, waits until
// they exist, and returns a func that stops it (SIGTERM: socat removes the
// links on the way out), also called in t.Cleanup.
func startSocat(t *testing.T, a, b string) (stop func()) {
	t.Helper()
	path, err := exec.LookPath("socat")
	if err != nil {
		if testing.Short() {
			t.Skip("socat not installed")
		}
		t.Fatalf("socat not installed (apt-get install socat): %v", err)
	}
	w := &readyWriter{ready: make(chan struct{})}
	cmd := exec.Command(path, "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start socat: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already; Wait below tells
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill() // stuck: make sure it goes
				<-exited
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-w.ready:
	case err := <-exited:
		t.Fatalf("socat exited before it was ready: %v\n%s", err, w)
	case <-time.After(10 * time.Second):
		t.Fatalf("socat not ready after 10s:\n%s", w)
	}
	return stop
}

// openDevice opens the device end of the pair for the test to write to.
func openDevice(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open device end: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() }) // may be closed already
	return f
}

func writeLine(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := io.WriteString(f, s); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// startDriver runs d until the test ends and returns its readings.
func startDriver(t *testing.T, d *Driver) <-chan gateway.Reading {
	t.Helper()
	readings := make(chan gateway.Reading, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, func(r gateway.Reading) { readings <- r }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return within 5s of cancel")
		}
	})
	return readings
}

// wantReadings takes len(want) readings and compares point, value, quality.
func wantReadings(t *testing.T, ch <-chan gateway.Reading, want map[string]gateway.Value) {
	t.Helper()
	got := map[string]gateway.Value{}
	for range want {
		r := next(t, ch)
		if r.Quality != gateway.QualityGood {
			t.Errorf("reading %s: quality %v (%v), want good", r.Point, r.Quality, r.Err)
		}
		if r.Time.IsZero() || r.Device != "probe" {
			t.Errorf("reading %+v: want a time and device probe", r)
		}
		got[r.Point] = r.Value
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("readings %v, want %v", got, want)
	}
}

func TestSocatFormats(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		good string
		want map[string]gateway.Value
	}{
		{"json", Config{Format: FormatJSON, Points: []Point{{Name: "t"}, {Name: "h", Field: "env.h"}}},
			`{"t":21.5,"env":{"h":40}}`, map[string]gateway.Value{"t": f(21.5), "h": f(40)}},
		{"kv", Config{Format: FormatKV, Points: []Point{{Name: "temp", Field: "t", Scale: 0.1}, {Name: "h"}}},
			"t=215 h=40", map[string]gateway.Value{"temp": f(21.5), "h": f(40)}},
		{"csv", Config{Format: FormatCSV, Columns: []string{"t", "h"}, Delimiter: ";", Points: []Point{{Name: "t"}, {Name: "h"}}},
			"21.5;40", map[string]gateway.Value{"t": f(21.5), "h": f(40)}},
		{"regex", Config{Format: FormatRegex, Pattern: `^T:(?P<t>\S+) H:(?P<h>\S+)$`, Points: []Point{{Name: "t"}, {Name: "h"}}},
			"T:21.5 H:40", map[string]gateway.Value{"t": f(21.5), "h": f(40)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			devPath, portPath := filepath.Join(dir, "device"), filepath.Join(dir, "gateway")
			startSocat(t, devPath, portPath)
			cfg := tc.cfg
			cfg.Device, cfg.Port, cfg.Baud, cfg.MaxLineLength = "probe", portPath, 115200, 64
			d, err := New(cfg, discard())
			if err != nil {
				t.Fatal(err)
			}
			readings := startDriver(t, d)
			dev := openDevice(t, devPath)

			writeLine(t, dev, tc.good+"\r\n")
			wantReadings(t, readings, tc.want)
			writeLine(t, dev, "#@!\x00\xff garbage\n")
			writeLine(t, dev, tc.good[:len(tc.good)-3]+"\n") // a partial line
			writeLine(t, dev, strings.Repeat("x", 100)+"\n")
			writeLine(t, dev, "\n")
			writeLine(t, dev, tc.good+"\n")
			wantReadings(t, readings, tc.want)

			got := d.Stats()
			want := Stats{LinesOK: 2, Garbage: 2, TooLong: 1, Connected: true}
			if got != want {
				t.Errorf("Stats() = %+v, want %+v", got, want)
			}
		})
	}
}

// notifier is a slog.Handler that sends each message on a channel.
type notifier struct{ msgs chan string }

func (n notifier) Enabled(context.Context, slog.Level) bool { return true }
func (n notifier) Handle(_ context.Context, r slog.Record) error {
	select {
	case n.msgs <- r.Message:
	default: // the test waits for a few messages only; never block the driver
	}
	return nil
}
func (n notifier) WithAttrs([]slog.Attr) slog.Handler { return n }
func (n notifier) WithGroup(string) slog.Handler      { return n }

// waitLog waits for message msg, skipping others.
func waitLog(t *testing.T, msgs <-chan string, msg string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m == msg {
				return
			}
		case <-timeout:
			t.Fatalf("no log %q within 10s", msg)
		}
	}
}

func TestSocatPortGoesAwayAndReturns(t *testing.T) {
	dir := t.TempDir()
	devPath, portPath := filepath.Join(dir, "device"), filepath.Join(dir, "gateway")
	stop := startSocat(t, devPath, portPath)
	logs := notifier{msgs: make(chan string, 100)}
	cfg := validKV()
	cfg.Port = portPath
	cfg.ReopenMin, cfg.ReopenMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.Points = []Point{{Name: "h"}}
	d, err := New(cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	readings := startDriver(t, d)
	waitLog(t, logs.msgs, "port open")
	dev := openDevice(t, devPath)
	writeLine(t, dev, "h=1\nh=")
	wantReadings(t, readings, map[string]gateway.Value{"h": f(1)})

	// Unplug: the pty pair and its links go away.
	stop()
	_ = dev.Close() // its pty is gone
	waitLog(t, logs.msgs, "port gone, waiting for it to return")
	if st := d.Stats(); st.Connected || st.Partial != 1 {
		t.Errorf("Stats() after unplug = %+v, want disconnected with 1 partial line", st)
	}

	// Plug in again at the same path: the driver finds it and reads on.
	startSocat(t, devPath, portPath)
	waitLog(t, logs.msgs, "port back")
	dev = openDevice(t, devPath)
	writeLine(t, dev, "h=2\n")
	wantReadings(t, readings, map[string]gateway.Value{"h": f(2)})
	if st := d.Stats(); st.Reopens != 1 || st.LinesOK != 2 || !st.Connected {
		t.Errorf("Stats() after replug = %+v, want 1 reopen, 2 lines, connected", st)
	}
}

func TestSocatWriteTemplate(t *testing.T) {
	dir := t.TempDir()
	devPath, portPath := filepath.Join(dir, "device"), filepath.Join(dir, "gateway")
	startSocat(t, devPath, portPath)
	cfg := validKV()
	cfg.Port = portPath
	cfg.WriteTemplate = "SET {{.Point}} {{.Raw}}"
	d, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	readings := startDriver(t, d)
	dev := openDevice(t, devPath)
	writeLine(t, dev, "h=1\n") // a reading shows the port is open
	next(t, readings)

	lines := make(chan string, 1)
	go func() {
		// Ends when the test closes dev in t.Cleanup.
		l, _ := bufio.NewReader(dev).ReadString('\n')
		lines <- l
	}()
	if err := d.WritePoint(t.Context(), "temp", gateway.Float(21.5)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-lines:
		if want := "SET temp 215\n"; got != want {
			t.Errorf("device got %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("device got no line within 5s")
	}
}
