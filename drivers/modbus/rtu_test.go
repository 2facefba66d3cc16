package modbus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

func rtuConfig(cfg modbus.Config, port string) modbus.Config {
	cfg.Driver, cfg.Port, cfg.Baud, cfg.Parity = modbus.DriverRTU, port, 19200, "none" // a pty rejects parity (EINVAL)
	return cfg
}

// collector keeps the readings devices emit, by device.
type collector struct {
	mu   sync.Mutex
	good map[string]int
	bad  map[string]error
	c    chan struct{} // signalled on every reading
}

func newCollector() *collector {
	return &collector{good: map[string]int{}, bad: map[string]error{}, c: make(chan struct{}, 1)}
}

func (c *collector) emit(r gateway.Reading) {
	c.mu.Lock()
	if r.Quality == gateway.QualityGood {
		c.good[r.Device]++
	} else {
		c.bad[r.Device] = r.Err
	}
	c.mu.Unlock()
	select {
	case c.c <- struct{}{}:
	default:
	}
}

// wait blocks until cond holds (checked on every reading) or fails the test.
func (c *collector) wait(t *testing.T, what string, cond func(good map[string]int, bad map[string]error) bool) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		c.mu.Lock()
		ok := cond(c.good, c.bad)
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.c:
		case <-timeout:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("%s: not reached; good %v, bad %v", what, c.good, c.bad)
		}
	}
}

func (c *collector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.good, c.bad = map[string]int{}, map[string]error{}
}

func TestPymodbusRTU(t *testing.T) {
	dir := t.TempDir()
	pair := startPTYs(t, dir)
	py := startPymodbus(t, "rtu", pair.B, "19200", "none")
	want := loadEveryType(py, 1)
	py.do("set 2 hr 0 42")

	small := func(name string, slave int) modbus.Config {
		c := modbus.Default()
		c.Name, c.SlaveID = name, slave
		c.Interval, c.Timeout, c.Retries = 50*time.Millisecond, 100*time.Millisecond, 2
		c.Points = []modbus.PointConfig{{Name: "r0", Register: "holding", Address: 0}}
		return rtuConfig(c, pair.A)
	}
	plc := rtuConfig(everyTypeConfig("plc", 1), pair.A)
	plc.Interval = 50 * time.Millisecond
	log := slog.New(slog.NewTextHandler(&testWriter{t: t}, nil))
	devs, err := modbus.New([]modbus.Config{plc, small("meter", 2), small("dead", 9)}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range devs {
			_ = d.Close() // the shared bus closes with the last device
		}
	})
	if devs[0].Client().Transport() != devs[1].Client().Transport() {
		t.Fatal("devices on one port do not share the bus")
	}

	// Every type and byte order over RTU, and writes read back by pymodbus.
	rs, err := devs[0].Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkReadings(t, rs, want)
	checkWrites(t, t.Context(), devs[0], py, 1)

	// All three devices poll the bus at once; the dead one times out and the
	// others keep getting answers.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	col := newCollector()
	for _, d := range devs {
		wg.Go(func() {
			if err := d.Run(ctx, col.emit); err != nil {
				t.Errorf("run %s: %v", d.Name(), err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	col.wait(t, "dead slave times out, others answer", func(good map[string]int, bad map[string]error) bool {
		return good["meter"] >= 10 && good["plc"] >= 10*len(want) && errors.Is(bad["dead"], modbus.ErrTimeout)
	})
	col.mu.Lock()
	if bad := col.bad["meter"]; bad != nil {
		t.Errorf("meter had a bad reading: %v", bad)
	}
	col.mu.Unlock()

	// The port vanishes (USB adapter unplugged): the pty pair and the slave go.
	py.stopFn()
	pair.stop()
	if _, err := os.Stat(pair.A); err == nil {
		t.Fatalf("%s still exists after socat exited", pair.A)
	}
	col.wait(t, "meter reports the lost port", func(_ map[string]int, bad map[string]error) bool {
		return bad["meter"] != nil
	})
	// ... and comes back under the same name.
	pair2 := startPTYs(t, dir)
	py2 := startPymodbus(t, "rtu", pair2.B, "19200", "none")
	py2.do("set 2 hr 0 43")
	col.reset()
	col.wait(t, "meter answers on the reopened port", func(good map[string]int, _ map[string]error) bool {
		return good["meter"] >= 3
	})
	if got := devs[1].Client().Transport().Stats().Reconnects; got < 1 {
		t.Errorf("reconnects: got %d, want >= 1", got)
	}
	rs, err = devs[1].Poll(t.Context())
	if err != nil || len(rs) != 1 || !rs[0].Value.Equal(gateway.Uint(43)) {
		t.Errorf("meter after reopen: %v, %v", rs, err)
	}
}

// TestSimulatorRTU polls the demo simulator as an RTU slave on a pty.
func TestSimulatorRTU(t *testing.T) {
	pair := startPTYs(t, t.TempDir())
	sim := modbussim.NewDemo(discard())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sim.ServeSerial(ctx, pair.B, 19200, "none", 7) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	cfg := rtuConfig(modbus.DemoConfig("demo", ""), pair.A)
	cfg.SlaveID = 7
	d := newDevice(t, cfg)
	rs, err := d.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := byPoint(rs)
	if got := m["model"].Value.Str(); got != "EDGE-SIM" {
		t.Errorf("model %q", got)
	}
	if err := d.WritePoint(t.Context(), "setpoint", gateway.Float(19.5)); err != nil {
		t.Fatal(err)
	}
	sim.Do(func(st *modbussim.Store) {
		if st.Holding[0] != 195 {
			t.Errorf("setpoint register %d, want 195", st.Holding[0])
		}
	})
	// Another slave id on the line gets no answer.
	if _, err := modbus.NewClient(d.Client().Transport(), 50*time.Millisecond, 0).Read(t.Context(), 8, modbus.Holding, 0, 1); !errors.Is(err, modbus.ErrTimeout) {
		t.Errorf("slave 8: got %v, want timeout", err)
	}
}

// TestProbeRTU probes pymodbus over a pty, and a slave id nobody answers.
func TestProbeRTU(t *testing.T) {
	pair := startPTYs(t, t.TempDir())
	py := startPymodbus(t, "rtu", pair.B, "19200", "none")
	py.do("encode 1 ir 100 float32 CDAB 123.456")
	var out strings.Builder
	args := []string{"modbus-rtu", pair.A, "--baud", "19200", "--parity", "none", "--slave", "1", "--input", "100", "--count", "2"}
	if err := modbus.ProbeMain(t.Context(), args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "123.456") || !strings.Contains(out.String(), "slave 1 input 100..101") {
		t.Errorf("probe output:\n%s", out.String())
	}
	args[7] = "5" // --slave 5
	err := modbus.ProbeMain(t.Context(), append(args, "--timeout", "100ms"), io.Discard, io.Discard)
	if !errors.Is(err, modbus.ErrTimeout) || !strings.Contains(err.Error(), "hint: no answer") {
		t.Errorf("silent slave: %v", err)
	}
}

// TestRTUAdapterUnpluggedAndBack: a USB adapter unplugged and plugged back
// in is a port path that disappears and returns. Here the socat pty pair
// goes away (its links removed) and is created again at the same paths;
// the running device reopens the port by itself and polls on.
func TestRTUAdapterUnpluggedAndBack(t *testing.T) {
	dir := t.TempDir()
	sim := modbussim.NewDemo(discard())
	serve := func(pair *ptyPair) (stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- sim.ServeSerial(ctx, pair.B, 19200, "none", 7) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	pair := startPTYs(t, dir)
	stopSim := serve(pair)

	cfg := rtuConfig(modbus.DemoConfig("pump", ""), pair.A)
	cfg.SlaveID, cfg.Interval, cfg.Timeout, cfg.Retries = 7, 20*time.Millisecond, 100*time.Millisecond, 0
	d := newDevice(t, cfg)
	c := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, c.emit) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	c.wait(t, "readings before the unplug", func(good map[string]int, _ map[string]error) bool { return good["pump"] >= 10 })

	// Unplug: the simulator's side and the pty pair go, and so do the links.
	stopSim()
	pair.stop()
	for _, p := range []string{pair.A, pair.B} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	c.wait(t, "bad readings while unplugged", func(_ map[string]int, bad map[string]error) bool {
		return errors.Is(bad["pump"], modbus.ErrUnavailable)
	})

	// Plug in again: the same paths, a new pty pair.
	c.reset()
	pair = startPTYs(t, dir)
	stopSim = serve(pair)
	t.Cleanup(stopSim)
	c.wait(t, "readings after the replug", func(good map[string]int, _ map[string]error) bool { return good["pump"] >= 10 })
	if got := d.Client().Transport().Stats().Reconnects; got < 1 {
		t.Errorf("reconnects %d, want >= 1", got)
	}
	if n := d.PollCounts(); n.RequestErrors == 0 || n.Requests <= n.RequestErrors {
		t.Errorf("PollCounts() = %+v, want the failed requests of the unplugged time counted", n)
	}
}
