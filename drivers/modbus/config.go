package modbus

import (
	"errors"
	"fmt"
	"strings"
	"time"

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
	_, err := compile(c.withDefaults())
	return err
}

// ParseParity parses none, even or odd.
func ParseParity(s string) (string, error) {
	switch s {
	case "none", "even", "odd":
		return s, nil
	}
	return "", fmt.Errorf("parity %q: want none, even or odd", s)
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

func compile(c Config) (*compiled, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Driver {
	case DriverTCP:
		if c.Address == "" {
			bad("address: required for %s", DriverTCP)
		}
		if c.SlaveID < 0 || c.SlaveID > 255 {
			bad("slave_id %d: want 0..255", c.SlaveID)
		}
	case DriverRTU:
		if c.Port == "" {
			bad("port: required for %s", DriverRTU)
		}
		if c.Baud <= 0 {
			bad("baud %d: want > 0", c.Baud)
		}
		if _, err := ParseParity(c.Parity); err != nil {
			errs = append(errs, err)
		}
		if c.DataBits != 8 && c.DataBits != 7 {
			bad("data_bits %d: want 8 (Serial 2.5.1) or 7", c.DataBits)
		}
		if c.StopBits != 1 && c.StopBits != 2 {
			bad("stop_bits %d: want 1 or 2", c.StopBits)
		}
		if c.SlaveID < 1 || c.SlaveID > maxSlaveID {
			bad("slave_id %d: want 1..%d", c.SlaveID, maxSlaveID)
		}
	default:
		bad("driver %q: want %s or %s", c.Driver, DriverTCP, DriverRTU)
	}
	if c.Interval <= 0 {
		bad("interval %v: want > 0", c.Interval)
	}
	if c.Timeout <= 0 {
		bad("timeout %v: want > 0", c.Timeout)
	}
	if c.Retries < 0 {
		bad("retries %d: want >= 0", c.Retries)
	}
	if c.MaxGap < 0 {
		bad("max_gap %d: want >= 0", c.MaxGap)
	}
	out := &compiled{cfg: c}
	seen := map[string]bool{}
	for i, pc := range c.Points {
		p, err := compilePoint(pc, c.Interval)
		if pc.Name != "" && seen[pc.Name] {
			err = errors.Join(err, errors.New("duplicate name"))
		}
		seen[pc.Name] = true
		if err != nil {
			errs = append(errs, fmt.Errorf("points[%d] %q: %w", i, pc.Name, err))
			continue
		}
		out.points = append(out.points, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func compilePoint(pc PointConfig, interval time.Duration) (*point, error) {
	var errs []error
	if pc.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	reg, err := ParseRegister(pc.Register)
	if err != nil {
		errs = append(errs, err)
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
		errs = append(errs, err)
	}
	order, err := ParseByteOrder(pc.ByteOrder)
	if err != nil {
		errs = append(errs, err)
	}
	if pc.Address < 0 || pc.Address > 0xFFFF {
		errs = append(errs, fmt.Errorf("address %d: want 0..65535", pc.Address))
	}
	if pc.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %v: want >= 0", pc.Interval))
	}
	if pc.Writable && !reg.Writable() {
		errs = append(errs, fmt.Errorf("writable: %v registers are read-only", reg))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
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
			return nil, fmt.Errorf("type %v: %v registers hold type bool", typ, reg)
		}
		p.count = 1
		return p, nil
	}
	codec, err := NewCodec(typ, order, pc.Length, pc.Bit, pc.Scale, pc.Offset)
	if err != nil {
		return nil, err
	}
	p.codec = codec
	p.count = uint16(codec.Registers)
	if pc.Address+codec.Registers > 0x10000 {
		return nil, fmt.Errorf("address %d + %d registers: past 65535", pc.Address, codec.Registers)
	}
	return p, nil
}
