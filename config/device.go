package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Device is one [[devices]] entry: a device (or bus) read by one driver.
// Driver-specific keys live in the embedded per-driver structs; a key that
// belongs to another driver is an error, so a typo'd driver name or a key
// copied from the wrong example never passes silently.
type Device struct {
	Name       string   `toml:"name"`     // unique; the {device} in topics
	Driver     string   `toml:"driver"`   // see Drivers
	Interval   Duration `toml:"interval"` // poll interval (default 1s)
	Rule                // topic, payload, qos, retain for all its points
	DeviceInfo          // manufacturer, model (Home Assistant's device entry)
	SimDevice
	SerialPort
	SerialLine
	Modbus
	Points []Point `toml:"points"`
}

// Point is one [[devices.points]] entry: a value a device has.
type Point struct {
	Name     string   `toml:"name"`     // unique within the device; the {point} in topics
	Unit     string   `toml:"unit"`     // e.g. "°C"; the {unit} in topics
	Scale    *float64 `toml:"scale"`    // value = raw * scale + offset (scale defaults to 1)
	Offset   float64  `toml:"offset"`   //
	Min      *float64 `toml:"min"`      // the lowest value: a command's range, a sim wave's bottom
	Max      *float64 `toml:"max"`      // the highest value
	Writable *bool    `toml:"writable"` // accepts commands (default: Modbus holding and coil, serial with write_template)
	Rule              // topic, payload, qos, retain ... for this point
	HAPoint           // ha, ha_name, ... (Home Assistant discovery)
	TypedPoint
	SimPoint
	SerialPoint
	ModbusPoint
}

// SimDevice holds the sim driver's device keys.
type SimDevice struct {
	Seed int64 `toml:"seed"` // seed for random_walk, so runs repeat
}

// SimPoint holds the sim driver's point keys.
type SimPoint struct {
	Wave   string   `toml:"wave"`   // sine|ramp|random_walk|counter|toggle
	Period Duration `toml:"period"` // one cycle of sine, ramp or toggle
	Step   float64  `toml:"step"`   // random_walk step size, counter increment
}

// SerialPort holds the serial port keys of the serial and modbus-rtu drivers.
// Zero values mean the driver's default.
type SerialPort struct {
	Port     string `toml:"port"`      // e.g. /dev/serial/by-id/usb-FTDI_...-if00-port0
	Baud     int    `toml:"baud"`      // e.g. 9600, 19200, 115200
	DataBits int    `toml:"data_bits"` // 5..8
	Parity   string `toml:"parity"`    // none|even|odd
	StopBits int    `toml:"stop_bits"` // 1 or 2
}

// SerialLine holds the serial line driver's device keys.
type SerialLine struct {
	Format         string   `toml:"format"`          // json|kv|csv|regex
	PairSeparator  string   `toml:"pair_separator"`  // kv: between pairs (default: blanks)
	KVSeparator    string   `toml:"kv_separator"`    // kv: between key and value (default "=")
	Columns        []string `toml:"columns"`         // csv: the name of each column
	Delimiter      string   `toml:"delimiter"`       // csv: default ","
	Pattern        string   `toml:"pattern"`         // regex: named groups are fields
	LineTerminator string   `toml:"line_terminator"` // default "\n"
	MaxLineLength  int      `toml:"max_line_length"` // default 4096 bytes
	Missing        string   `toml:"missing"`         // skip|bad: a point missing from a line
	WriteTemplate  string   `toml:"write_template"`  // command line template
}

// TypedPoint holds the point's data type, a key of the serial and modbus
// drivers (each with its own set of types).
type TypedPoint struct {
	Type string `toml:"type"`
}

// SerialPoint holds the serial line driver's point keys.
type SerialPoint struct {
	Field string `toml:"field"` // the field of the line to read (default: the point name)
}

// Modbus holds the modbus-tcp and modbus-rtu drivers' device keys.
type Modbus struct {
	Address string   `toml:"address"`  // modbus-tcp: host:port (port 502 by default)
	SlaveID *int     `toml:"slave_id"` // unit id (default 1)
	Timeout Duration `toml:"timeout"`  // per request (default 1s)
	Retries *int     `toml:"retries"`  // extra attempts after a timeout (default 2)
	MaxGap  *int     `toml:"max_gap"`  // unused registers bridged to merge reads (default 10)
}

// ModbusPoint holds the Modbus drivers' point keys.
type ModbusPoint struct {
	Register  string   `toml:"register"`   // coil|discrete|holding|input
	Address   *int     `toml:"address"`    // 0-based protocol address
	Bit       int      `toml:"bit"`        // type bit: 0..15
	Length    int      `toml:"length"`     // type string: registers
	ByteOrder string   `toml:"byte_order"` // ABCD|DCBA|BADC|CDAB (or 8-byte orders)
	Interval  Duration `toml:"interval"`   // overrides the device interval
}

// driverKeys lists, per driver, the structs holding its own device keys
// and its own point keys.
var driverKeys = map[string][2][]reflect.Type{
	"sim": {
		{reflect.TypeFor[SimDevice]()},
		{reflect.TypeFor[SimPoint]()},
	},
	"serial": {
		{reflect.TypeFor[SerialPort](), reflect.TypeFor[SerialLine]()},
		{reflect.TypeFor[TypedPoint](), reflect.TypeFor[SerialPoint]()},
	},
	"modbus-tcp": {
		{reflect.TypeFor[Modbus]()},
		{reflect.TypeFor[TypedPoint](), reflect.TypeFor[ModbusPoint]()},
	},
	"modbus-rtu": {
		{reflect.TypeFor[SerialPort](), reflect.TypeFor[Modbus]()},
		{reflect.TypeFor[TypedPoint](), reflect.TypeFor[ModbusPoint]()},
	},
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
			pt.HAPoint.validate(p, pp)
			if d.Driver == "sim" {
				pt.SimPoint.validate(p, pp, pt.Min, pt.Max)
				if pt.Writable != nil && *pt.Writable {
					p.Add(pp.Key("writable"), "sim points take no commands")
				}
			}
			if pt.Min != nil && pt.Max != nil && *pt.Max < *pt.Min {
				p.Add(pp.Key("max"), "%g is below min %g: want max >= min", *pt.Max, *pt.Min)
			}
		}
	}
}

func (sp *SimPoint) validate(p *Problems, pp Path, lo, hi *float64) {
	if sp.Wave == "" {
		p.Add(pp.Key("wave"), "missing: want %s", orList(SimWaves))
	} else {
		oneOf(p, pp.Key("wave"), sp.Wave, SimWaves)
	}
	sp.Period.check(p, pp.Key("period"))
	if (lo == nil || hi == nil) && (sp.Wave == "sine" || sp.Wave == "ramp" || sp.Wave == "random_walk") {
		p.Add(pp, "wave %q needs min and max", sp.Wave)
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
		mine := tomlKeys(own[level]...)
		foreign := map[string]bool{}
		for drv, types := range driverKeys {
			if drv == d.Driver {
				continue
			}
			for _, k := range tomlKeys(types[level]...) {
				if !slices.Contains(mine, k) {
					foreign[k] = true
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(foreign)) {
			if _, set := c.loc.lines[prefix+"."+k]; set {
				p.Add(path.Key(k), "not a key of driver %q (it belongs to %s)", d.Driver, owners(k, level))
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
		if slices.Contains(tomlKeys(types[level]...), k) {
			ds = append(ds, drv)
		}
	}
	slices.Sort(ds)
	if len(ds) == 1 {
		return "driver " + ds[0]
	}
	return "drivers " + strings.Replace(orList(ds), " or ", " and ", 1)
}

// tomlKeys returns the toml tag names of the fields of ts.
func tomlKeys(ts ...reflect.Type) []string {
	var ks []string
	for _, t := range ts {
		for f := range t.Fields() {
			if tag := strings.Split(f.Tag.Get("toml"), ",")[0]; tag != "" && tag != "-" {
				ks = append(ks, tag)
			}
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
