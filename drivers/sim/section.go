package sim

import (
	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/config"
)

// Section is the sim driver's part of a [[devices]] table (driver = "sim").
type Section struct {
	Seed   int64          `toml:"seed"` // seed for random_walk, so runs repeat
	Points []PointSection `toml:"points"`
}

// PointSection is the sim driver's part of a [[devices.points]] table.
type PointSection struct {
	Wave   string          `toml:"wave"`   // sine|ramp|random_walk|counter|toggle
	Period config.Duration `toml:"period"` // one cycle of sine, ramp or toggle
	Step   float64         `toml:"step"`   // random_walk step size, counter increment
}

var _ config.DeviceSection = (*Section)(nil)

// NewSection returns an empty Section: the driver table's constructor.
func NewSection() config.DeviceSection { return &Section{} }

func (s *Section) point(j int) PointSection {
	if j < len(s.Points) {
		return s.Points[j]
	}
	return PointSection{}
}

// Check implements config.DeviceSection.
func (s *Section) Check(d *config.Device, r config.Reporter) {
	for j, pt := range d.Points {
		ps := s.point(j)
		pr := r.Elem("points", j, pt.Name)
		if ps.Wave == "" {
			pr.Problem("wave", "missing: want %s", config.OrList(waveNames[1:]))
		} else if _, err := ParseWave(ps.Wave); err != nil {
			pr.Problem("wave", "%q: want %s", ps.Wave, config.OrList(waveNames[1:]))
		}
		ps.Period.Check(pr, "period")
		if (pt.Min == nil || pt.Max == nil) && (ps.Wave == "sine" || ps.Wave == "ramp" || ps.Wave == "random_walk") {
			pr.Problem("", "wave %q needs min and max", ps.Wave)
		}
		switch ps.Wave {
		case "sine", "ramp", "toggle":
			if ps.Period.Valid() && ps.Period.Duration <= 0 {
				pr.Problem("period", "missing: wave %q needs a period such as \"1m\"", ps.Wave)
			}
		}
		if pt.Writable != nil && *pt.Writable {
			pr.Problem("writable", "sim points take no commands")
		}
	}
}

// Config compiles the device d (whose Section s is) into the driver's Config.
func (s *Section) Config(d *config.Device) Config {
	c := Config{Name: d.Name, Seed: s.Seed}
	for j, pt := range d.Points {
		ps := s.point(j)
		w, _ := ParseWave(ps.Wave) // Check has reported a bad one
		c.Points = append(c.Points, Point{
			Name: pt.Name, Unit: pt.Unit, Wave: w, Min: deref(pt.Min), Max: deref(pt.Max),
			Period: ps.Period.Duration, Step: ps.Step,
		})
	}
	return c
}

// Command implements config.DeviceSection: sim points take no commands; a
// toggle is a bool, the other waves numbers.
func (s *Section) Command(_ *config.Device, j int) (gateway.Kind, bool) {
	if s.point(j).Wave == "toggle" {
		return gateway.KindBool, false
	}
	return gateway.KindFloat, false
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
