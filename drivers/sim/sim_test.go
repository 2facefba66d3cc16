package sim

import (
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// clock is a manual clock for tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newDevice(t *testing.T, c *clock, pts ...Point) *Device {
	t.Helper()
	d, err := New(Config{Name: "dev", Seed: 7, Points: pts, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func poll(t *testing.T, d *Device) []gateway.Reading {
	t.Helper()
	rs, err := d.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestWaveforms(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := newDevice(t, c,
		Point{Name: "sine", Wave: Sine, Min: 10, Max: 30, Period: 4 * time.Second},
		Point{Name: "ramp", Wave: Ramp, Min: 0, Max: 100, Period: 4 * time.Second},
		Point{Name: "toggle", Wave: Toggle, Period: 4 * time.Second},
		Point{Name: "counter", Wave: Counter, Min: 5, Step: 2},
	)
	want := [][]gateway.Value{
		// t=0s: sine at the middle, ramp at min, toggle off, counter at min
		{gateway.Float(20), gateway.Float(0), gateway.Bool(false), gateway.Uint(5)},
		// t=1s: a quarter period
		{gateway.Float(30), gateway.Float(25), gateway.Bool(false), gateway.Uint(7)},
		// t=2s: half
		{gateway.Float(20), gateway.Float(50), gateway.Bool(true), gateway.Uint(9)},
		// t=3s
		{gateway.Float(10), gateway.Float(75), gateway.Bool(true), gateway.Uint(11)},
		// t=4s: a full period, back to the start (the counter keeps counting)
		{gateway.Float(20), gateway.Float(0), gateway.Bool(false), gateway.Uint(13)},
	}
	for step, w := range want {
		rs := poll(t, d)
		for i, r := range rs {
			if r.Value != w[i] {
				t.Errorf("t=%ds %s: got %#v, want %#v", step, r.Point, r.Value, w[i])
			}
			if r.Quality != gateway.QualityGood || r.Device != "dev" || !r.Time.Equal(c.t) {
				t.Errorf("t=%ds %s: got %+v", step, r.Point, r)
			}
		}
		c.advance(time.Second)
	}
}

func TestRandomWalkStaysInRangeAndRepeats(t *testing.T) {
	pt := Point{Name: "walk", Wave: RandomWalk, Min: -1, Max: 1, Step: 0.5}
	run := func() []float64 {
		c := &clock{t: time.Unix(0, 0)}
		d := newDevice(t, c, pt)
		var vs []float64
		for range 500 {
			f, _ := poll(t, d)[0].Value.Float64()
			if f < pt.Min || f > pt.Max {
				t.Fatalf("random walk left its range: %g", f)
			}
			vs = append(vs, f)
		}
		return vs
	}
	a, b := run(), run()
	changed := false
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("poll %d: runs with one seed differ: %g vs %g", i, a[i], b[i])
		}
		if a[i] != a[0] {
			changed = true
		}
	}
	if !changed {
		t.Error("random walk never moved")
	}
}

func TestNewRejectsBadPoints(t *testing.T) {
	for _, p := range []Point{
		{Name: "a", Wave: Sine},                              // no period
		{Name: "b", Wave: Ramp, Period: time.Second, Min: 2}, // max < min
		{Name: "c"}, // no wave
	} {
		if _, err := New(Config{Name: "d", Points: []Point{p}}); err == nil {
			t.Errorf("New with point %+v: want an error", p)
		}
	}
	if _, err := ParseWave("sin"); err == nil {
		t.Error(`ParseWave("sin"): want an error`)
	}
	if w, err := ParseWave("random_walk"); err != nil || w != RandomWalk {
		t.Errorf(`ParseWave("random_walk") = %v, %v`, w, err)
	}
}
