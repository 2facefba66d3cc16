package modbus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/modbus/frame"
	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startSim serves sim on a free loopback port until the test ends.
func startSim(t *testing.T, sim *modbussim.Server) string {
	t.Helper()
	addr, stop, err := sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return addr
}

func newDevice(t *testing.T, cfg modbus.Config) *modbus.Device {
	t.Helper()
	devs, err := modbus.New([]modbus.Config{cfg}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = devs[0].Close() }) // closing a TCP transport cannot fail in a way the test cares about
	return devs[0]
}

func byPoint(rs []gateway.Reading) map[string]gateway.Reading {
	m := map[string]gateway.Reading{}
	for _, r := range rs {
		m[r.Point] = r
	}
	return m
}

func TestDemoAgainstSimulator(t *testing.T) {
	addr := startSim(t, modbussim.NewDemo(discard()))
	d := newDevice(t, modbus.DemoConfig("demo", addr))
	// every second: input 0-4, holding 0-2, holding 20 (gap 17 > 10), coil 0-1,
	// discrete 0; every minute: holding 10-17.
	if got, want := d.Requests(), 6; got != want {
		t.Errorf("requests per poll: got %d, want %d", got, want)
	}
	rs, err := d.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := byPoint(rs)
	if len(m) != 10 {
		t.Fatalf("got %d readings, want 10: %v", len(m), rs)
	}
	for _, r := range rs {
		if r.Quality != gateway.QualityGood || r.Device != "demo" {
			t.Errorf("%s: quality %v device %q", r.Point, r.Quality, r.Device)
		}
	}
	if f, _ := m["temperature"].Value.Float64(); f < 17 || f > 25 {
		t.Errorf("temperature %v", f)
	}
	if f, _ := m["flow"].Value.Float64(); f < 11.4 || f > 13.6 {
		t.Errorf("flow %v (byte order CDAB)", f)
	}
	if got := m["setpoint"].Value; !got.Equal(gateway.Float(21.5)) {
		t.Errorf("setpoint %#v", got)
	}
	if got := m["model"].Value.Str(); got != "EDGE-SIM" {
		t.Errorf("model %q", got)
	}
	if got := m["setpoint"].Unit; got != "°C" {
		t.Errorf("unit %q", got)
	}

	// Writes round-trip through FC 6 and FC 5.
	if err := d.WritePoint(t.Context(), "setpoint", gateway.Float(30)); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePoint(t.Context(), "fan", gateway.Bool(true)); err != nil {
		t.Fatal(err)
	}
	rs, err = d.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m = byPoint(rs)
	if got := m["setpoint"].Value; !got.Equal(gateway.Float(30)) {
		t.Errorf("setpoint after write %#v", got)
	}
	if got := m["fan"].Value; !got.Equal(gateway.Bool(true)) {
		t.Errorf("fan after write %#v", got)
	}
	if got := m["heater"].Value; !got.Equal(gateway.Bool(true)) {
		t.Errorf("heater below setpoint 30: %#v", got)
	}

	for _, tt := range []struct {
		point string
		err   error
	}{
		{"nope", gateway.ErrUnknownPoint},
		{"temperature", gateway.ErrNotWritable},
		{"alarm", gateway.ErrNotWritable},
		{"running", gateway.ErrNotWritable}, // a coil, but not configured writable
	} {
		if err := d.WritePoint(t.Context(), tt.point, gateway.Bool(true)); !errors.Is(err, tt.err) {
			t.Errorf("write %s: got %v, want %v", tt.point, err, tt.err)
		}
	}
}

func TestRunEmitsPerInterval(t *testing.T) {
	addr := startSim(t, modbussim.NewDemo(discard()))
	cfg := modbus.DemoConfig("demo", addr)
	cfg.Interval = 20 * time.Millisecond
	d := newDevice(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan gateway.Reading, 100)
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, func(r gateway.Reading) {
			select {
			case got <- r:
			default:
			}
		})
	}()
	counts := map[string]int{}
	for counts["counter"] < 3 {
		r := <-got
		counts[r.Point]++
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	// model polls every minute: once at the start only.
	if counts["model"] != 1 {
		t.Errorf("model polled %d times, want 1", counts["model"])
	}
	// Polls are counted by the driver (the supervisor sees one Run): one
	// per schedule per cycle, 5 requests for the fast one and 1 for model;
	// the last poll may have been cut short by cancel.
	c := d.PollCounts()
	if c.Polls < 4 || c.PollFailures != 0 || c.RequestErrors != 0 || c.Requests > 5*(c.Polls-1)+1 || c.Requests <= 5*(c.Polls-2)+1 {
		t.Errorf("PollCounts() = %+v, want >= 4 polls, 5 requests each (1 for model), no errors", c)
	}
}

func TestExceptionAndBadQuality(t *testing.T) {
	addr := startSim(t, modbussim.New(discard()))
	cfg := modbus.Default()
	cfg.Name, cfg.Driver, cfg.Address = "d", modbus.DriverTCP, addr
	cfg.Points = []modbus.PointConfig{{Name: "past-end", Register: "holding", Address: 65535, Type: "uint16"}}
	// a 2-register point at 65535 does not compile; a 1-register read at 65535 is fine,
	// so ask the client directly for a read past the end.
	d := newDevice(t, cfg)
	_, err := d.Client().Read(t.Context(), 1, modbus.Holding, 65535, 2)
	var ex frame.Exception
	if !errors.As(err, &ex) || ex != frame.IllegalDataAddress {
		t.Fatalf("got %v, want illegal data address", err)
	}
	if want := "read slave 1 holding 65535..65536: modbus exception 2 (illegal data address)"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() }) // test teardown
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }() // swallow requests until the client leaves
		}
	}()
	return ln.Addr().String()
}

func TestTimeoutGivesBadQuality(t *testing.T) {
	cfg := modbus.Default()
	cfg.Name, cfg.Driver, cfg.Address = "d", modbus.DriverTCP, silentServer(t)
	cfg.Timeout, cfg.Retries = 30*time.Millisecond, 1
	cfg.Points = []modbus.PointConfig{
		{Name: "a", Register: "holding", Address: 0},
		{Name: "b", Register: "input", Address: 0},
	}
	d := newDevice(t, cfg)
	rs, err := d.Poll(t.Context())
	if !errors.Is(err, modbus.ErrTimeout) {
		t.Fatalf("got %v, want timeout", err)
	}
	if len(rs) != 2 {
		t.Fatalf("got %d readings", len(rs))
	}
	for _, r := range rs {
		if r.Quality != gateway.QualityBad || !r.Value.IsNone() || !errors.Is(r.Err, modbus.ErrTimeout) {
			t.Errorf("%s: %v %#v %v", r.Point, r.Quality, r.Value, r.Err)
		}
	}
	// The first block timed out: the second was not sent (one timeout per poll, two attempts).
	if got := d.Client().Transport().Stats().Requests; got != 2 {
		t.Errorf("requests: got %d, want 2", got)
	}
	// One failed poll, one failed request (its two attempts are one request).
	if got, want := d.PollCounts(), (gateway.PollCounts{Polls: 1, PollFailures: 1, Requests: 1, RequestErrors: 1}); got != want {
		t.Errorf("PollCounts() = %+v, want %+v", got, want)
	}
}

func TestTCPReconnect(t *testing.T) {
	sim := modbussim.New(discard())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, ln) }()

	client := modbus.NewClient(modbus.NewTCPTransport(addr, discard()), time.Second, 0)
	t.Cleanup(func() { _ = client.Transport().Close() }) // test teardown
	if _, err := client.Read(t.Context(), 1, modbus.Holding, 0, 1); err != nil {
		t.Fatal(err)
	}
	cancel() // the server goes away, with the connection
	<-done
	if _, err := client.Read(t.Context(), 1, modbus.Holding, 0, 1); err == nil {
		t.Fatal("read from a stopped server succeeded")
	}
	// The server comes back on the same port.
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	startCtx, stop := context.WithCancel(t.Context())
	done2 := make(chan error, 1)
	go func() { done2 <- sim.Serve(startCtx, ln2) }()
	t.Cleanup(func() { stop(); <-done2 })
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := client.Read(t.Context(), 1, modbus.Holding, 0, 1)
		if err == nil {
			break
		}
		if !errors.Is(err, modbus.ErrUnavailable) && !isConnErr(err) {
			t.Fatalf("unexpected error while reconnecting: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %v", err)
		}
		// Wait out the backoff the transport reports, polling like a device would.
		waitFor(t, 50*time.Millisecond)
	}
	if got := client.Transport().Stats().Reconnects; got != 1 {
		t.Errorf("reconnects: got %d, want 1", got)
	}
}

func isConnErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.EOF)
}

// waitFor blocks for d; it paces a retry loop, it does not synchronise with
// anything.
func waitFor(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

func TestWriteEveryType(t *testing.T) {
	sim := modbussim.New(discard())
	addr := startSim(t, sim)
	cfg := modbus.Default()
	cfg.Name, cfg.Driver, cfg.Address = "w", modbus.DriverTCP, addr
	values := map[string]gateway.Value{}
	a := 0
	for _, typ := range []string{"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"} {
		for _, o := range []string{"ABCD", "DCBA", "BADC", "CDAB"} {
			name := typ + "-" + o
			cfg.Points = append(cfg.Points, modbus.PointConfig{Name: name, Register: "holding", Address: a, Type: typ, ByteOrder: o, Writable: true})
			a += 4
			switch typ[0] {
			case 'i':
				values[name] = gateway.Int(-12345)
			case 'u':
				values[name] = gateway.Uint(54321)
			default:
				values[name] = gateway.Float(-1.5)
			}
		}
	}
	cfg.Points = append(cfg.Points,
		modbus.PointConfig{Name: "str", Register: "holding", Address: a, Type: "string", Length: 5, Writable: true},
		modbus.PointConfig{Name: "bit", Register: "holding", Address: a + 5, Type: "bit", Bit: 15, Writable: true},
		modbus.PointConfig{Name: "scaled", Register: "holding", Address: a + 6, Type: "uint16", Scale: 0.01, Offset: -10, Writable: true},
	)
	values["str"] = gateway.String("hello")
	values["bit"] = gateway.Bool(true)
	values["scaled"] = gateway.Float(12.34)
	d := newDevice(t, cfg)
	for name, v := range values {
		if err := d.WritePoint(t.Context(), name, v); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	rs, err := d.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		want := values[r.Point]
		got := r.Value
		if f, ok := want.Float64(); ok && want.Kind() == gateway.KindFloat {
			g, _ := got.Float64()
			if math.Abs(g-f) > 1e-9 {
				t.Errorf("%s: got %v, want %v", r.Point, got, want)
			}
			continue
		}
		if !got.Equal(want) {
			t.Errorf("%s: got %#v, want %#v", r.Point, got, want)
		}
	}
	// The raw registers hold the byte orders: int32 -12345 = 0xFFFFCFC7.
	sim.Do(func(st *modbussim.Store) {
		for i, want := range [][2]uint16{{0xFFFF, 0xCFC7}, {0xC7CF, 0xFFFF}, {0xFFFF, 0xC7CF}, {0xCFC7, 0xFFFF}} {
			base := 32 + 4*i // after int16 and uint16 x 4 orders x 4 registers
			if got := [2]uint16{st.Holding[base], st.Holding[base+1]}; got != want {
				t.Errorf("int32 order %d: registers %04x, want %04x", i, got, want)
			}
		}
	})
}

// recorder is a slog.Handler that keeps the messages logged.
type recorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newRecorder() recorder { return recorder{mu: new(sync.Mutex), msgs: new([]string)} }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.msgs = append(*r.msgs, rec.Message)
	return nil
}
func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

func (r recorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range *r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// TestStateLoggedOnce: a slave that stays silent is logged once, not per poll.
func TestStateLoggedOnce(t *testing.T) {
	rec := newRecorder()
	cfg := modbus.Default()
	cfg.Name, cfg.Driver, cfg.Address = "d", modbus.DriverTCP, silentServer(t)
	cfg.Timeout, cfg.Retries = 20*time.Millisecond, 0
	cfg.Points = []modbus.PointConfig{{Name: "a", Register: "holding", Address: 0}}
	devs, err := modbus.New([]modbus.Config{cfg}, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = devs[0].Close() }) // test teardown
	for range 4 {
		if _, err := devs[0].Poll(t.Context()); !errors.Is(err, modbus.ErrTimeout) {
			t.Fatalf("got %v, want timeout", err)
		}
	}
	if got := rec.count("modbus device not responding"); got != 1 {
		t.Errorf("logged 'not responding' %d times, want 1", got)
	}
}
