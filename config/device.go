package config

import (
	"reflect"
	"slices"
	"strings"

	"github.com/edgegw/gateway"
)

// Device is one [[devices]] entry: a device (or bus) read by one driver.
// It holds the keys every device has; the driver's own keys are decoded by
// the driver into Section.
type Device struct {
	Name       string   `toml:"name"`     // unique; the {device} in topics
	Driver     string   `toml:"driver"`   // a name in the driver table
	Interval   Duration `toml:"interval"` // poll interval (default 1s)
	Rule                // topic, payload, qos, retain for all its points
	DeviceInfo          // manufacturer, model (Home Assistant's device entry)
	Points     []Point  `toml:"points"`

	// Section is the driver's part of the table, decoded by the driver
	// named by Driver; nil when that driver is unknown.
	Section DeviceSection `toml:"-"`
}

// Point is one [[devices.points]] entry: a value a device has. It holds the
// keys every point has; the driver's own point keys are in its Section.
type Point struct {
	Name     string   `toml:"name"`     // unique within the device; the {point} in topics
	Unit     string   `toml:"unit"`     // e.g. "°C"; the {unit} in topics
	Scale    *float64 `toml:"scale"`    // value = raw * scale + offset (scale defaults to 1)
	Offset   float64  `toml:"offset"`   //
	Min      *float64 `toml:"min"`      // the lowest value: a command's range, a sim wave's bottom
	Max      *float64 `toml:"max"`      // the highest value
	Writable *bool    `toml:"writable"` // accepts commands (the driver's default otherwise)
	Rule              // topic, payload, qos, retain ... for this point
	HAPoint           // ha, ha_name, ... (Home Assistant discovery)
}

// Driver is one row of the driver table (cmd/gateway holds it): the name a
// device gives in driver = "...", and the driver's part of the device table.
// Adding a driver is its package plus one row.
type Driver struct {
	Name string
	// New returns the driver's part of one [[devices]] table, holding the
	// driver's defaults, for the table to be decoded into: a pointer to a
	// struct whose toml tags are the driver's own device keys, with its own
	// point keys in a slice tagged "points" (one element per point).
	New func() DeviceSection
}

// DeviceSection is a driver's part of one [[devices]] table.
type DeviceSection interface {
	// Check reports every problem of the driver's keys through r, the
	// device table's Reporter (points through r.Elem("points", j, name)).
	// d holds the device's common keys, already decoded.
	Check(d *Device, r Reporter)
	// Command says how point j takes commands: the kind of value, and
	// whether the driver can write it (before the point's writable key,
	// which the caller applies; Check reports writable = true on a point
	// that cannot be written).
	Command(d *Device, j int) (kind gateway.Kind, writable bool)
}

// DeviceFiles is implemented by a DeviceSection whose driver opens files
// or devices (a serial port) when it starts: Files lists them, with keys
// relative to the device's table, for the check of this machine.
type DeviceFiles interface {
	Files(d *Device) []File
}

// DriverNames returns the names in the driver table, sorted.
func DriverNames(drivers []Driver) []string {
	var ds []string
	for _, d := range drivers {
		ds = append(ds, d.Name)
	}
	slices.Sort(ds)
	return ds
}

func findDriver(drivers []Driver, name string) (Driver, bool) {
	for _, d := range drivers {
		if d.Name == name {
			return d, true
		}
	}
	return Driver{}, false
}

// sectionKeys returns the toml keys of a driver's section: at the device
// level (0) and the point level (1).
func sectionKeys(sec DeviceSection) [2][]string {
	var out [2][]string
	t := reflect.TypeOf(sec)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	walkKeys(t, "", func(k string) {
		switch {
		case k == "points":
		case strings.HasPrefix(k, "points."):
			out[1] = append(out[1], strings.TrimPrefix(k, "points."))
		case !strings.Contains(k, "."):
			out[0] = append(out[0], k)
		}
	})
	return out
}

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
		if _, ok := findDriver(c.drivers, d.Driver); !ok {
			if d.Driver == "" {
				p.Add(dp.Key("driver"), "missing: want %s", orList(DriverNames(c.drivers)))
			} else {
				p.Add(dp.Key("driver"), "%q: want %s", d.Driver, orList(DriverNames(c.drivers)))
			}
		}
		points := map[string]int{}
		for j := range d.Points {
			pt := &d.Points[j]
			pp := c.PointPath(i, j)
			checkLevel(p, pp.Key("name"), pt.Name)
			if k, dup := points[pt.Name]; dup && pt.Name != "" {
				p.Add(pp.Key("name"), "%q: already used by points[%d] of this device", pt.Name, k)
			}
			points[pt.Name] = j
			pt.HAPoint.validate(p, pp)
			if pt.Min != nil && pt.Max != nil && *pt.Max < *pt.Min {
				p.Add(pp.Key("max"), "%g is below min %g: want max >= min", *pt.Max, *pt.Min)
			}
		}
		if d.Section != nil {
			d.Section.Check(d, p.Reporter(dp))
		}
	}
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
