package serialline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"go.bug.st/serial"
)

// runFake starts d.Run with open returning the ports sent on ports (or the
// errors sent on errs), and returns the channel of emitted readings. Run is
// stopped and waited for in t.Cleanup.
func runFake(t *testing.T, d *Driver, opens chan any) <-chan gateway.Reading {
	t.Helper()
	d.open = func(string, *serial.Mode) (serial.Port, error) {
		switch v := (<-opens).(type) {
		case *fakePort:
			return v, nil
		case error:
			return nil, v
		}
		panic("bad open value")
	}
	readings := make(chan gateway.Reading, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, func(r gateway.Reading) { readings <- r }) }()
	t.Cleanup(func() {
		cancel()
		close(opens) // unblock an open in progress; it then fails and Run sees ctx
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil after cancel", err)
		}
	})
	return readings
}

func next(t *testing.T, ch <-chan gateway.Reading) gateway.Reading {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reading within 5s")
	}
	panic("unreachable")
}

func write(t *testing.T, p *fakePort, s string) {
	t.Helper()
	if _, err := io.WriteString(p.src, s); err != nil {
		t.Fatal(err)
	}
}

func TestRunFakePort(t *testing.T) {
	cfg := validKV()
	cfg.MaxLineLength = 32
	cfg.Missing = MissingBad
	d, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return at }
	opens := make(chan any, 1)
	port := newFakePort()
	opens <- port
	readings := runFake(t, d, opens)

	// One pipe write per line: each is delivered by one Read.
	write(t, port, "t=215 h=40\r\n")
	for _, want := range []gateway.Reading{
		{Device: "probe", Point: "temp", Value: gateway.Float(21.5), Unit: "°C", Time: at},
		{Device: "probe", Point: "h", Value: gateway.Float(40), Time: at},
	} {
		if got := next(t, readings); got.Point != want.Point || !got.Value.Equal(want.Value) || got.Unit != want.Unit || got.Quality != gateway.QualityGood || !got.Time.Equal(at) || got.Device != want.Device {
			t.Errorf("reading = %+v, want %+v", got, want)
		}
	}
	write(t, port, "garbage\n")
	write(t, port, strings.Repeat("x", 40)+"\n")
	write(t, port, "\n")
	write(t, port, "t=oops\n")
	r := next(t, readings)
	if r.Point != "temp" || r.Quality != gateway.QualityBad || !errors.Is(r.Err, ErrNotNumber) {
		t.Errorf("reading = %+v, want temp bad with ErrNotNumber", r)
	}
	r = next(t, readings)
	if r.Point != "h" || r.Quality != gateway.QualityBad || !errors.Is(r.Err, ErrMissingField) {
		t.Errorf("reading = %+v, want h bad with ErrMissingField", r)
	}
	got := d.Stats()
	want := Stats{LinesOK: 2, Garbage: 1, TooLong: 1, BadValues: 2, Connected: true}
	if got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestRunNoPointsEmitsEveryField(t *testing.T) {
	d, err := New(Config{Device: "d", Port: "/dev/x", Format: FormatJSON}, discard())
	if err != nil {
		t.Fatal(err)
	}
	opens := make(chan any, 1)
	port := newFakePort()
	opens <- port
	readings := runFake(t, d, opens)
	write(t, port, `{"b":{"x":1},"a":"s","n":null}`+"\n")
	for _, want := range []struct {
		point string
		v     gateway.Value
		q     gateway.Quality
	}{{"a", gateway.String("s"), gateway.QualityGood}, {"b.x", gateway.Float(1), gateway.QualityGood}, {"n", gateway.Value{}, gateway.QualityBad}} {
		r := next(t, readings)
		if r.Point != want.point || !r.Value.Equal(want.v) || r.Quality != want.q {
			t.Errorf("reading = %s %#v %v, want %s %#v %v", r.Point, r.Value, r.Quality, want.point, want.v, want.q)
		}
	}
}

func TestRunReopensFakePort(t *testing.T) {
	rec := &recorder{}
	cfg := validKV()
	cfg.ReopenMin, cfg.ReopenMax = time.Millisecond, time.Millisecond
	d, err := New(cfg, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	opens := make(chan any, 1)
	first := newFakePort()
	opens <- first
	readings := runFake(t, d, opens)
	write(t, first, "h=1\n")
	next(t, readings)
	write(t, first, "h=2") // cut off by the unplug
	_ = first.src.CloseWithError(syscall.EIO)

	// Gone for three attempts, then back.
	for range 3 {
		opens <- syscall.ENOENT
	}
	second := newFakePort()
	opens <- second
	write(t, second, "h=3\n")
	if r := next(t, readings); !r.Value.Equal(gateway.Float(3)) {
		t.Errorf("reading after reopen = %v, want 3", r.Value)
	}
	st := d.Stats()
	if st.Reopens != 1 || st.Partial != 1 || st.LinesOK != 2 {
		t.Errorf("Stats() = %+v, want 1 reopen, 1 partial, 2 lines", st)
	}
	for msg, n := range map[string]int{"port gone, waiting for it to return": 1, "port back": 1, "cannot open serial port, will retry": 0, "partial line": 1} {
		if got := rec.count(msg); got != n {
			t.Errorf("%d log records %q, want %d; all: %q", got, msg, n, rec.messages())
		}
	}
}

func TestRunPermissionDeniedExplainsDialout(t *testing.T) {
	rec := &recorder{}
	cfg := validKV()
	cfg.ReopenMin, cfg.ReopenMax = time.Millisecond, time.Millisecond
	d, err := New(cfg, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	opens := make(chan any)
	runFake(t, d, opens)
	// Three failed opens; the first is logged once, at level Error.
	for range 3 {
		opens <- syscall.EACCES
	}
	opens <- syscall.EACCES // the third open has returned and been handled
	if got := rec.count("cannot open serial port, will retry"); got != 1 {
		t.Fatalf("%d open failures logged, want 1: %q", got, rec.messages())
	}
	v, _ := rec.attr("cannot open serial port, will retry", "err")
	msg := v.String()
	for _, want := range []string{"/dev/serial/by-id/usb-x", "permission denied", "dialout", "sudo usermod -aG dialout $USER"} {
		if !strings.Contains(msg, want) {
			t.Errorf("logged error %q, want it to contain %q", msg, want)
		}
	}
	if lv := rec.level("cannot open serial port, will retry"); lv != slog.LevelError {
		t.Errorf("level = %v, want ERROR", lv)
	}
}

func TestWritePoint(t *testing.T) {
	cfg := validKV()
	cfg.WriteTemplate = "SET {{.Point}} {{.Value}} raw={{.Raw}}"
	cfg.LineTerminator = "\r\n"
	d, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := d.WritePoint(ctx, "temp", gateway.Float(1)); !errors.Is(err, ErrNotOpen) {
		t.Errorf("WritePoint before open = %v, want ErrNotOpen", err)
	}
	if err := d.WritePoint(ctx, "nope", gateway.Float(1)); !errors.Is(err, gateway.ErrUnknownPoint) {
		t.Errorf("WritePoint(nope) = %v, want ErrUnknownPoint", err)
	}
	opens := make(chan any, 1)
	port := newFakePort()
	opens <- port
	readings := runFake(t, d, opens)
	write(t, port, "h=1\n") // the port is open once a reading arrives
	next(t, readings)
	if err := d.WritePoint(ctx, "temp", gateway.Float(21.5)); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePoint(ctx, "h", gateway.Bool(true)); err != nil {
		t.Fatal(err)
	}
	if got, want := port.written(), "SET temp 21.5 raw=215\r\nSET h true raw=true\r\n"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}

	ro, _ := New(validKV(), discard())
	if err := ro.WritePoint(ctx, "temp", gateway.Float(1)); !errors.Is(err, gateway.ErrNotWritable) {
		t.Errorf("WritePoint without template = %v, want ErrNotWritable", err)
	}
}
