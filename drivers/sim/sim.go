// Package sim is a driver for simulated devices: each point follows a
// deterministic waveform (sine, ramp, random walk, counter, toggle), so the
// embedded demo and tests see realistic, changing readings on any machine.
//
// A value depends only on the time since the device started, its poll count
// and its seed, so two runs with the same clock produce the same readings.
package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/edgegw/gateway"
)

// Wave is a point's waveform.
type Wave uint8

// The waveforms.
const (
	Sine       Wave = iota + 1 // Min..Max over Period, starting at the middle
	Ramp                       // rises from Min to Max over Period, then restarts
	RandomWalk                 // moves by up to ±Step each poll, kept within Min..Max
	Counter                    // starts at Min and adds Step (default 1) each poll; a uint
	Toggle                     // false for half the Period, then true; a bool
)

var waveNames = []string{Sine: "sine", Ramp: "ramp", RandomWalk: "random_walk", Counter: "counter", Toggle: "toggle"}

// ParseWave returns the Wave named s.
func ParseWave(s string) (Wave, error) {
	if i := slices.Index(waveNames, s); i > 0 {
		return Wave(i), nil
	}
	return 0, fmt.Errorf("waveform %q: want sine, ramp, random_walk, counter or toggle", s)
}

func (w Wave) String() string {
	if int(w) < len(waveNames) && w > 0 {
		return waveNames[w]
	}
	return fmt.Sprintf("wave(%d)", w)
}

// Point is one simulated point.
type Point struct {
	Name     string
	Unit     string
	Wave     Wave
	Min, Max float64
	Period   time.Duration // Sine, Ramp, Toggle
	Step     float64       // RandomWalk, Counter
}

// Config is a simulated device.
type Config struct {
	Name   string
	Seed   int64
	Points []Point
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// Device is a simulated device. It implements gateway.Poller.
type Device struct {
	cfg   Config
	now   func() time.Time
	start time.Time
	walk  []float64 // random walk positions, by point
	rngs  []*rand.Rand
	polls uint64
}

var _ gateway.Poller = (*Device)(nil)

// New validates cfg and returns a device whose waveforms start now.
func New(cfg Config) (*Device, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("sim device: missing name")
	}
	for _, p := range cfg.Points {
		if p.Wave < Sine || p.Wave > Toggle {
			return nil, fmt.Errorf("sim device %s point %s: %v: want sine, ramp, random_walk, counter or toggle", cfg.Name, p.Name, p.Wave)
		}
		if (p.Wave == Sine || p.Wave == Ramp || p.Wave == Toggle) && p.Period <= 0 {
			return nil, fmt.Errorf("sim device %s point %s: %v needs a period > 0", cfg.Name, p.Name, p.Wave)
		}
		if p.Max < p.Min && (p.Wave == Sine || p.Wave == Ramp || p.Wave == RandomWalk) {
			return nil, fmt.Errorf("sim device %s point %s: max %g < min %g", cfg.Name, p.Name, p.Max, p.Min)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	d := &Device{cfg: cfg, now: now, start: now()}
	d.walk = make([]float64, len(cfg.Points))
	d.rngs = make([]*rand.Rand, len(cfg.Points))
	for i, p := range cfg.Points {
		d.walk[i] = (p.Min + p.Max) / 2
		d.rngs[i] = rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
	}
	return d, nil
}

// Poll returns one reading per point. It never fails.
func (d *Device) Poll(ctx context.Context) ([]gateway.Reading, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t := d.now()
	elapsed := t.Sub(d.start)
	out := make([]gateway.Reading, len(d.cfg.Points))
	for i, p := range d.cfg.Points {
		out[i] = gateway.Reading{
			Device:  d.cfg.Name,
			Point:   p.Name,
			Unit:    p.Unit,
			Value:   d.value(i, p, elapsed),
			Quality: gateway.QualityGood,
			Time:    t,
		}
	}
	d.polls++
	return out, nil
}

func (d *Device) value(i int, p Point, elapsed time.Duration) gateway.Value {
	mid, amp := (p.Min+p.Max)/2, (p.Max-p.Min)/2
	phase := 0.0
	if p.Period > 0 {
		phase = float64(elapsed%p.Period) / float64(p.Period)
	}
	switch p.Wave {
	case Sine:
		return gateway.Float(round(mid + amp*math.Sin(2*math.Pi*phase)))
	case Ramp:
		return gateway.Float(round(p.Min + (p.Max-p.Min)*phase))
	case Toggle:
		return gateway.Bool(phase >= 0.5)
	case Counter:
		step := p.Step
		if step == 0 {
			step = 1
		}
		return gateway.Uint(uint64(math.Max(p.Min, 0) + step*float64(d.polls)))
	case RandomWalk:
		if d.polls > 0 {
			v := d.walk[i] + p.Step*(2*d.rngs[i].Float64()-1)
			// Reflect at the bounds so the walk stays inside them.
			if v > p.Max {
				v = 2*p.Max - v
			}
			if v < p.Min {
				v = 2*p.Min - v
			}
			d.walk[i] = math.Min(math.Max(v, p.Min), p.Max)
		}
		return gateway.Float(round(d.walk[i]))
	}
	return gateway.Value{}
}

// round keeps three decimals, as a real sensor's resolution would.
func round(f float64) float64 { return math.Round(f*1000) / 1000 }
