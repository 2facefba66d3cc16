package modbus

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// Spec limits used by validation and coalescing.
const (
	maxReadRegisters = frame.MaxReadRegisters // MBAP 6.3
	maxReadBits      = frame.MaxReadBits      // MBAP 6.1
	maxSlaveID       = 247                    // Serial 2.2: addresses 1..247
)

// Driver names as they appear in the configuration.
const (
	DriverTCP = "modbus-tcp"
	DriverRTU = "modbus-rtu"
)

// Config is one Modbus device: its connection, slave id, polling and points.
// Field names follow the TOML keys of a [[devices]] table.
type Config struct {
	Name   string // device name, Reading.Device
	Driver string // "modbus-tcp" or "modbus-rtu"

	// modbus-tcp
	Address string // host:port; port 502 when omitted

	// modbus-rtu; devices naming the same Port share one bus and must
	// agree on its settings.
	Port     string // e.g. /dev/ttyUSB0
	Baud     int    // default 9600
	Parity   string // none, even or odd; default even (Serial 2.5.1)
	DataBits int    // default 8
	StopBits int    // 1 or 2, default 1

	SlaveID  int           // 1..247 on RTU; 0..255 on TCP (the unit id)
	Interval time.Duration // poll interval, default 1s
	Timeout  time.Duration // per request, default 1s
	Retries  int           // extra attempts after a timeout or retryable exception, default 2
	MaxGap   int           // unused registers (or coils) bridged to merge reads, default 10

	Points []PointConfig
}

// PointConfig is one [[devices.points]] table.
type PointConfig struct {
	Name      string
	Register  string // coil, discrete, holding or input
	Address   int    // 0-based protocol address (register 40001 is holding 0)
	Type      string // bool, bit, int16, ... string; default bool for coil/discrete, uint16 otherwise
	Bit       int    // for type bit: 0 (least significant) .. 15
	Length    int    // for type string: registers (2 characters each)
	ByteOrder string // ABCD (default), DCBA, BADC, CDAB or the 8-byte names
	Scale     float64
	Offset    float64
	Unit      string
	Interval  time.Duration // overrides the device interval when > 0
	Writable  bool
}

// Default returns a Config holding the defaults for every field that has
// one; decode the TOML onto it.
func Default() Config {
	return Config{
		Baud:     9600,
		Parity:   "even",
		DataBits: 8,
		StopBits: 1,
		SlaveID:  1,
		Interval: time.Second,
		Timeout:  time.Second,
		Retries:  2,
		MaxGap:   10,
	}
}

// withDefaults fills zero fields that must not be zero.
func (c Config) withDefaults() Config {
	d := Default()
	if c.Baud == 0 {
		c.Baud = d.Baud
	}
	if c.Parity == "" {
		c.Parity = d.Parity
	}
	if c.DataBits == 0 {
		c.DataBits = d.DataBits
	}
	if c.StopBits == 0 {
		c.StopBits = d.StopBits
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Driver == DriverTCP && c.Address != "" && !strings.Contains(c.Address, ":") {
		c.Address += ":502"
	}
	return c
}

// Validate returns every problem of the device configuration, joined with
// errors.Join, each naming the field or point it concerns; nil when the
// configuration compiles.
func (c Config) Validate() error {
	r := config.NewErrReporter()
	c.withDefaults().Check(r)
	return r.Err()
}

// Check reports every problem of the device configuration through r, each
// at its key: the one set of rules for a config file (gateway check and
// run) and for Validate.
func (c Config) Check(r config.Reporter) {
	compile(c, r)
}

// ParseParity parses none, even or odd.
func ParseParity(s string) (string, error) {
	switch s {
	case "none", "even", "odd":
		return s, nil
	}
	return "", &KeyError{Key: "parity", Msg: fmt.Sprintf("%q: want none, even or odd", s)}
}

// compiled is a validated device: its points ready to decode.
type compiled struct {
	cfg    Config
	points []*point
}

// point is a compiled point.
type point struct {
	name     string
	unit     string
	reg      Register
	typ      Type
	addr     uint16
	count    uint16 // registers or bits read
	bit      int
	order    ByteOrder
	interval time.Duration
	writable bool
	codec    Codec
}

// compile checks c, reporting every problem through r, and returns the
// compiled device, or nil when there was any problem.
func compile(c Config, r config.Reporter) *compiled {
	n := 0
	r = tee{r, config.Count{N: &n}}
	switch c.Driver {
	case DriverTCP:
		if c.Address == "" {
			r.Problem("address", "required for %s", DriverTCP)
		}
		if c.SlaveID < 0 || c.SlaveID > 255 {
			r.Problem("slave_id", "%d: want 0..255", c.SlaveID)
		}
	case DriverRTU:
		if c.Port == "" {
			r.Problem("port", "required for %s", DriverRTU)
		}
		if c.Baud <= 0 {
			r.Problem("baud", "%d: want > 0", c.Baud)
		}
		if _, err := ParseParity(c.Parity); err != nil {
			report(r, err)
		}
		if c.DataBits != 8 && c.DataBits != 7 {
			r.Problem("data_bits", "%d: want 8 (Serial 2.5.1) or 7", c.DataBits)
		}
		if c.StopBits != 1 && c.StopBits != 2 {
			r.Problem("stop_bits", "%d: want 1 or 2", c.StopBits)
		}
		if c.SlaveID < 1 || c.SlaveID > maxSlaveID {
			r.Problem("slave_id", "%d: want 1..%d", c.SlaveID, maxSlaveID)
		}
	default:
		r.Problem("driver", "%q: want %s or %s", c.Driver, DriverTCP, DriverRTU)
	}
	if c.Interval <= 0 {
		r.Problem("interval", "%v: want > 0", c.Interval)
	}
	if c.Timeout <= 0 {
		r.Problem("timeout", "%v: want > 0", c.Timeout)
	}
	if c.Retries < 0 {
		r.Problem("retries", "%d: want >= 0", c.Retries)
	}
	if c.MaxGap < 0 {
		r.Problem("max_gap", "%d: want >= 0", c.MaxGap)
	}
	out := &compiled{cfg: c}
	seen := map[string]bool{}
	for i, pc := range c.Points {
		pr := r.Elem("points", i, pc.Name)
		if pc.Name != "" && seen[pc.Name] {
			pr.Problem("name", "duplicate name")
		}
		seen[pc.Name] = true
		if p := compilePoint(pc, c.Interval, pr); p != nil {
			out.points = append(out.points, p)
		}
	}
	if n > 0 {
		return nil
	}
	return out
}

// tee reports to two Reporters.
type tee [2]config.Reporter

func (t tee) Problem(key, format string, args ...any) {
	t[0].Problem(key, format, args...)
	t[1].Problem(key, format, args...)
}

func (t tee) Elem(key string, i int, name string) config.Reporter {
	return tee{t[0].Elem(key, i, name), t[1].Elem(key, i, name)}
}

// compilePoint checks one point, reporting through r; nil when it has a
// problem.
func compilePoint(pc PointConfig, interval time.Duration, r config.Reporter) *point {
	n := 0
	r = tee{r, config.Count{N: &n}}
	if pc.Name == "" {
		r.Problem("name", "required")
	}
	reg, regErr := ParseRegister(pc.Register)
	if regErr != nil {
		report(r, regErr)
	}
	typName := pc.Type
	if typName == "" {
		typName = "uint16"
		if reg.IsBit() {
			typName = "bool"
		}
	}
	typ, err := ParseType(typName)
	if err != nil {
		report(r, err)
	}
	order, err := ParseByteOrder(pc.ByteOrder)
	if err != nil {
		report(r, err)
	}
	if pc.Address < 0 || pc.Address > 0xFFFF {
		r.Problem("address", "%d: want 0..65535", pc.Address)
	}
	if pc.Interval < 0 {
		r.Problem("interval", "%v: want >= 0", pc.Interval)
	}
	if pc.Writable && !reg.Writable() && regErr == nil {
		r.Problem("writable", "%v registers are read-only: only holding registers and coils can be written", reg)
	}
	if n > 0 {
		return nil
	}
	p := &point{
		name: pc.Name, unit: pc.Unit, reg: reg, typ: typ, addr: uint16(pc.Address),
		bit: pc.Bit, order: order, interval: pc.Interval, writable: pc.Writable,
	}
	if p.interval == 0 {
		p.interval = interval
	}
	if reg.IsBit() {
		if typ != TypeBool {
			r.Problem("type", "%v: %v registers hold type bool", typ, reg)
			return nil
		}
		p.count = 1
		return p
	}
	codec, err := NewCodec(typ, order, pc.Length, pc.Bit, pc.Scale, pc.Offset)
	if err != nil {
		report(r, err)
		return nil
	}
	p.codec = codec
	p.count = uint16(codec.Registers)
	if pc.Address+codec.Registers > 0x10000 {
		r.Problem("address", "%d + %d registers: past 65535", pc.Address, codec.Registers)
		return nil
	}
	return p
}
