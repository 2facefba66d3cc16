package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Device is one [[devices]] entry: a device (or bus) read by one driver.
// Driver-specific keys live in the embedded per-driver structs; a key that
// belongs to another driver is an error, so a typo'd driver name or a key
// copied from the wrong example never passes silently.
type Device struct {
	Name     string   `toml:"name"`     // unique; the {device} in topics
	Driver   string   `toml:"driver"`   // see Drivers
	Interval Duration `toml:"interval"` // poll interval (default 1s)
	Rule              // topic, payload, qos, retain for all its points
	SimDevice
	Points []Point `toml:"points"`
}

// Point is one [[devices.points]] entry: a value a device has.
type Point struct {
	Name   string   `toml:"name"`   // unique within the device; the {point} in topics
	Unit   string   `toml:"unit"`   // e.g. "°C"; the {unit} in topics
	Scale  *float64 `toml:"scale"`  // value = raw * scale + offset (scale defaults to 1)
	Offset float64  `toml:"offset"` //
	Rule            // topic, payload, qos, retain for this point
	SimPoint
}

// SimDevice holds the sim driver's device keys.
type SimDevice struct {
	Seed int64 `toml:"seed"` // seed for random_walk, so runs repeat
}

// SimPoint holds the sim driver's point keys.
type SimPoint struct {
	Wave   string   `toml:"wave"`   // sine|ramp|random_walk|counter|toggle
	Min    float64  `toml:"min"`    // lowest value of the wave
	Max    float64  `toml:"max"`    // highest value of the wave
	Period Duration `toml:"period"` // one cycle of sine, ramp or toggle
	Step   float64  `toml:"step"`   // random_walk step size, counter increment
}

// driverKeys lists, per driver, the structs holding its own device and point
// keys. Later drivers add themselves here.
var driverKeys = map[string][2]reflect.Type{
	"sim": {reflect.TypeFor[SimDevice](), reflect.TypeFor[SimPoint]()},
}

// Drivers returns the known driver names, sorted.
func Drivers() []string {
	var ds []string
	for d := range driverKeys {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
}

// SimWaves are the sim driver's waveforms.
var SimWaves = []string{"sine", "ramp", "random_walk", "counter", "toggle"}

func (c *Config) validateDevices(p *Problems) {
	names := map[string]int{}
	for i := range c.Devices {
		d := &c.Devices[i]
		dp := c.DevicePath(i)
		checkLevel(p, dp.Key("name"), d.Name)
		if j, dup := names[d.Name]; dup && d.Name != "" {
			p.Add(dp.Key("name"), "%q: already used by devices[%d]; device names must be unique", d.Name, j)
		}
		names[d.Name] = i
		if _, ok := driverKeys[d.Driver]; !ok {
			if d.Driver == "" {
				p.Add(dp.Key("driver"), "missing: want %s", orList(Drivers()))
			} else {
				p.Add(dp.Key("driver"), "%q: want %s", d.Driver, orList(Drivers()))
			}
		} else {
			c.checkDriverKeys(p, i)
		}
		d.Interval.check(p, dp.Key("interval"))
		d.Rule.validate(p, dp)
		points := map[string]int{}
		for j := range d.Points {
			pt := &d.Points[j]
			pp := c.PointPath(i, j)
			checkLevel(p, pp.Key("name"), pt.Name)
			if k, dup := points[pt.Name]; dup && pt.Name != "" {
				p.Add(pp.Key("name"), "%q: already used by points[%d] of this device", pt.Name, k)
			}
			points[pt.Name] = j
			pt.Rule.validate(p, pp)
			if d.Driver == "sim" {
				pt.SimPoint.validate(p, pp)
			}
		}
	}
}

func (sp *SimPoint) validate(p *Problems, pp Path) {
	if sp.Wave == "" {
		p.Add(pp.Key("wave"), "missing: want %s", orList(SimWaves))
	} else {
		oneOf(p, pp.Key("wave"), sp.Wave, SimWaves)
	}
	sp.Period.check(p, pp.Key("period"))
	if sp.Max < sp.Min && (sp.Wave == "sine" || sp.Wave == "ramp" || sp.Wave == "random_walk") {
		p.Add(pp.Key("max"), "%g is below min %g: want max >= min", sp.Max, sp.Min)
	}
	switch sp.Wave {
	case "sine", "ramp", "toggle":
		if sp.Period.bad == "" && sp.Period.Duration <= 0 {
			p.Add(pp.Key("period"), "missing: wave %q needs a period such as \"1m\"", sp.Wave)
		}
	}
}

// checkDriverKeys reports keys of device i that belong to other drivers.
func (c *Config) checkDriverKeys(p *Problems, i int) {
	d := c.Devices[i]
	own := driverKeys[d.Driver]
	check := func(prefix string, level int, path Path) {
		mine := tomlKeys(own[level])
		for drv, types := range driverKeys {
			if drv == d.Driver {
				continue
			}
			for _, k := range tomlKeys(types[level]) {
				if slices.Contains(mine, k) {
					continue
				}
				if _, set := c.loc.lines[prefix+"."+k]; set {
					p.Add(path.Key(k), "not a key of driver %q (it belongs to %s)", d.Driver, owners(k, level))
				}
			}
		}
	}
	prefix := fmt.Sprintf("devices[%d]", i)
	check(prefix, 0, c.DevicePath(i))
	for j := range d.Points {
		check(fmt.Sprintf("%s.points[%d]", prefix, j), 1, c.PointPath(i, j))
	}
}

// owners names the drivers that have key k at level (0 device, 1 point).
func owners(k string, level int) string {
	var ds []string
	for drv, types := range driverKeys {
		if slices.Contains(tomlKeys(types[level]), k) {
			ds = append(ds, "driver "+drv)
		}
	}
	slices.Sort(ds)
	return orList(ds)
}

// tomlKeys returns the toml tag names of t's fields.
func tomlKeys(t reflect.Type) []string {
	var ks []string
	for f := range t.Fields() {
		if tag := strings.Split(f.Tag.Get("toml"), ",")[0]; tag != "" && tag != "-" {
			ks = append(ks, tag)
		}
	}
	return ks
}

// checkLevel reports a name that cannot be one level of an MQTT topic.
func checkLevel(p *Problems, path Path, s string) {
	switch {
	case s == "":
		p.Add(path, "missing: want a name (letters, digits, - and _)")
	case strings.ContainsAny(s, "/+#") || strings.ContainsRune(s, 0):
		p.Add(path, "%q: want a name without /, + or # (it becomes one level of MQTT topics)", s)
	}
}
