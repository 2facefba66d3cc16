// Package drivertest is the conformance suite every driver must pass, in the
// style of testing/slogtest: Run checks the contracts of gateway.Driver,
// gateway.Poller and gateway.Writer on a device the driver's own tests set
// up (with its real peer: a Modbus slave, a serial port pair).
package drivertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// timeout bounds every wait: generous, the tests run on loaded machines.
const timeout = 20 * time.Second

// Device is one device under test, as a new one is made for each check.
type Device struct {
	// Name is the device name its readings carry.
	Name string
	// Driver or Poller is the device (one of them; Driver is used when both
	// are set). It may also implement gateway.Writer.
	Driver gateway.Driver
	Poller gateway.Poller
	// Points are the points it reads; each must be seen in its readings.
	Points []string
	// ReadOnly names a point that cannot be written ("" if it has none).
	ReadOnly string
	// Stimulate, when set, makes the device produce data (e.g. writes lines
	// to the other end of a serial pair); it is called in its own goroutine
	// and must return when ctx is done.
	Stimulate func(ctx context.Context)
}

// Run runs every check, each on a device newDevice makes (and cleans up
// with t.Cleanup).
func Run(t *testing.T, newDevice func(t *testing.T) Device) {
	t.Run("Readings", func(t *testing.T) { readings(t, newDevice(t)) })
	t.Run("CancelReturnsNil", func(t *testing.T) { cancelReturnsNil(t, newDevice(t)) })
	t.Run("UnknownPoint", func(t *testing.T) { unknownPoint(t, newDevice(t)) })
	t.Run("NotWritable", func(t *testing.T) { notWritable(t, newDevice(t)) })
}

// start runs d until the test ends (or stop is called) and returns its
// readings; after Run (the Driver's) has returned, an emit fails the test.
func start(t *testing.T, d Device) (readings <-chan gateway.Reading, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	if d.Stimulate != nil {
		go d.Stimulate(ctx)
	}
	ch := make(chan gateway.Reading, 1024)
	var mu sync.Mutex
	returned := false
	emit := func(r gateway.Reading) {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			t.Errorf("emit after Run returned: %+v", r)
			return
		}
		select {
		case ch <- r:
		default: // the test has what it needs
		}
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if d.Driver != nil {
			err = d.Driver.Run(ctx, emit)
		} else {
			err = pollLoop(ctx, d.Poller, emit)
		}
		mu.Lock()
		returned = true
		mu.Unlock()
		done <- err
	}()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(timeout):
				runErr = errors.New("Run did not return within 20s of cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() }) // a failure is reported by the check that stops
	return ch, stop
}

// pollLoop polls p until ctx is done, as the pipeline does.
func pollLoop(ctx context.Context, p gateway.Poller, emit func(gateway.Reading)) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		rs, _ := p.Poll(ctx) // a failed poll still returns what it got
		for _, r := range rs {
			emit(r)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func readings(t *testing.T, d Device) {
	ch, stop := start(t, d)
	missing := map[string]bool{}
	for _, p := range d.Points {
		missing[p] = true
	}
	deadline := time.After(timeout)
	for len(missing) > 0 {
		select {
		case r := <-ch:
			if r.Device != d.Name {
				t.Errorf("reading of device %q, want %q", r.Device, d.Name)
			}
			if r.Time.IsZero() {
				t.Errorf("reading of %s has no time", r.Point)
			}
			delete(missing, r.Point)
		case <-deadline:
			t.Fatalf("no readings of %v within %v", missing, timeout)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Run after cancel: %v, want nil", err)
	}
}

// cancelReturnsNil: cancelling ctx makes Run return nil, promptly; a Poll
// with a cancelled context returns at once.
func cancelReturnsNil(t *testing.T, d Device) {
	if d.Driver == nil {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = d.Poller.Poll(ctx) // abandoned: either result is fine
		}()
		select {
		case <-done:
		case <-time.After(timeout):
			t.Fatal("Poll with a cancelled context did not return")
		}
		return
	}
	ch, stop := start(t, d)
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("no reading within %v", timeout)
	}
	if err := stop(); err != nil {
		t.Errorf("Run after cancel: %v, want nil", err)
	}
}

func writer(d Device) (gateway.Writer, bool) {
	if d.Driver != nil {
		w, ok := d.Driver.(gateway.Writer)
		return w, ok
	}
	w, ok := d.Poller.(gateway.Writer)
	return w, ok
}

func unknownPoint(t *testing.T, d Device) {
	w, ok := writer(d)
	if !ok {
		t.Skip("not a gateway.Writer")
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := w.WritePoint(ctx, "no-such-point", gateway.Float(1)); !errors.Is(err, gateway.ErrUnknownPoint) {
		t.Errorf("WritePoint(no-such-point) = %v, want an error wrapping gateway.ErrUnknownPoint", err)
	}
}

func notWritable(t *testing.T, d Device) {
	w, ok := writer(d)
	if !ok || d.ReadOnly == "" {
		t.Skip("no read-only point")
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := w.WritePoint(ctx, d.ReadOnly, gateway.Float(1)); !errors.Is(err, gateway.ErrNotWritable) {
		t.Errorf("WritePoint(%s) = %v, want an error wrapping gateway.ErrNotWritable", d.ReadOnly, err)
	}
}
