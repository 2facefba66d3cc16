package modbus

import (
	"fmt"
	"strings"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/config"
)

// TCPSection is the modbus-tcp driver's part of a [[devices]] table.
type TCPSection struct {
	Address string `toml:"address"` // host:port (port 502 by default)
	section
}

// RTUSection is the modbus-rtu driver's part of a [[devices]] table.
// Devices naming the same port share one bus and must agree on its
// settings (CheckShared).
type RTUSection struct {
	Port     string `toml:"port"`      // e.g. /dev/ttyUSB0
	Baud     int    `toml:"baud"`      // default 9600
	DataBits int    `toml:"data_bits"` // 7 or 8 (default)
	Parity   string `toml:"parity"`    // none|even (default)|odd
	StopBits int    `toml:"stop_bits"` // 1 (default) or 2
	section
}

// section holds the keys both Modbus drivers have.
type section struct {
	SlaveID int             `toml:"slave_id"` // unit id (default 1)
	Timeout config.Duration `toml:"timeout"`  // per request (default 1s)
	Retries int             `toml:"retries"`  // extra attempts after a timeout (default 2)
	MaxGap  int             `toml:"max_gap"`  // unused registers bridged to merge reads (default 10)
	Points  []PointSection  `toml:"points"`
}

// PointSection is the Modbus drivers' part of a [[devices.points]] table.
type PointSection struct {
	Register  string          `toml:"register"`   // coil|discrete|holding|input
	Address   *int            `toml:"address"`    // 0-based protocol address
	Type      string          `toml:"type"`       // bool, bit, int16, ... string
	Bit       int             `toml:"bit"`        // type bit: 0..15
	Length    int             `toml:"length"`     // type string: registers
	ByteOrder string          `toml:"byte_order"` // ABCD|DCBA|BADC|CDAB (or 8-byte orders)
	Interval  config.Duration `toml:"interval"`   // overrides the device interval
}

var (
	_ config.DeviceSection = (*TCPSection)(nil)
	_ config.DeviceSection = (*RTUSection)(nil)
)

func defaultSection() section {
	d := Default()
	return section{SlaveID: d.SlaveID, Timeout: config.Dur(d.Timeout), Retries: d.Retries, MaxGap: d.MaxGap}
}

// NewTCPSection returns a TCPSection holding the defaults: the driver
// table's constructor for modbus-tcp.
func NewTCPSection() config.DeviceSection { return &TCPSection{section: defaultSection()} }

// NewRTUSection returns an RTUSection holding the defaults: the driver
// table's constructor for modbus-rtu.
func NewRTUSection() config.DeviceSection {
	d := Default()
	return &RTUSection{Baud: d.Baud, DataBits: d.DataBits, Parity: d.Parity, StopBits: d.StopBits, section: defaultSection()}
}

// Config compiles device d (whose section s is) into the driver's Config.
func (s *TCPSection) Config(d *config.Device) Config {
	c := s.section.config(d, DriverTCP)
	c.Address = s.Address
	return c.withDefaults()
}

// Config compiles device d (whose section s is) into the driver's Config.
func (s *RTUSection) Config(d *config.Device) Config {
	c := s.section.config(d, DriverRTU)
	c.Port, c.Baud, c.DataBits, c.Parity, c.StopBits = s.Port, s.Baud, s.DataBits, s.Parity, s.StopBits
	return c.withDefaults()
}

func (s *section) config(d *config.Device, driver string) Config {
	c := Default()
	c.Name, c.Driver = d.Name, driver
	c.SlaveID, c.Timeout, c.Retries, c.MaxGap = s.SlaveID, s.Timeout.Duration, s.Retries, s.MaxGap
	if d.Interval.Duration > 0 {
		c.Interval = d.Interval.Duration
	}
	for j, pt := range d.Points {
		ps := s.point(j)
		pc := PointConfig{
			Name: pt.Name, Register: ps.Register, Type: ps.Type, Bit: ps.Bit, Length: ps.Length,
			ByteOrder: ps.ByteOrder, Offset: pt.Offset, Unit: pt.Unit, Interval: ps.Interval.Duration,
		}
		if ps.Address != nil {
			pc.Address = *ps.Address
		}
		if pt.Scale != nil {
			pc.Scale = *pt.Scale
		}
		// Holding registers and coils are writable unless the point says not.
		pc.Writable = ps.Register == "holding" || ps.Register == "coil"
		if pt.Writable != nil {
			pc.Writable = *pt.Writable
		}
		c.Points = append(c.Points, pc)
	}
	return c
}

func (s *section) point(j int) PointSection {
	if j < len(s.Points) {
		return s.Points[j]
	}
	return PointSection{}
}

// check reports the keys only a config file has: durations that did not
// parse and points without an address.
func (s *section) check(d *config.Device, r config.Reporter) {
	s.Timeout.Check(r, "timeout")
	for j, pt := range d.Points {
		ps := s.point(j)
		pr := r.Elem("points", j, pt.Name)
		if ps.Address == nil {
			pr.Problem("address", "missing: want the point's 0-based register address (register 40001 is holding 0)")
		}
		ps.Interval.Check(pr, "interval")
	}
}

// Check implements config.DeviceSection.
func (s *TCPSection) Check(d *config.Device, r config.Reporter) {
	s.section.check(d, r)
	s.Config(d).Check(r)
}

// Check implements config.DeviceSection.
func (s *RTUSection) Check(d *config.Device, r config.Reporter) {
	s.section.check(d, r)
	s.Config(d).Check(r)
}

// Command implements config.DeviceSection.
func (s *TCPSection) Command(d *config.Device, j int) (gateway.Kind, bool) {
	return s.section.command(d, j)
}

// Command implements config.DeviceSection.
func (s *RTUSection) Command(d *config.Device, j int) (gateway.Kind, bool) {
	return s.section.command(d, j)
}

// command: holding registers and coils can be written; the kind follows
// the register and type, and a scaled number is a float.
func (s *section) command(d *config.Device, j int) (gateway.Kind, bool) {
	ps, pt := s.point(j), d.Points[j]
	writable := ps.Register == "holding" || ps.Register == "coil"
	scaled := (pt.Scale != nil && *pt.Scale != 1) || pt.Offset != 0
	switch {
	case ps.Register == "coil" || ps.Register == "discrete" || ps.Type == "bool" || ps.Type == "bit":
		return gateway.KindBool, writable
	case ps.Type == "string":
		return gateway.KindString, writable
	case scaled || ps.Type == "float32" || ps.Type == "float64":
		return gateway.KindFloat, writable
	case ps.Type == "int16" || ps.Type == "int32" || ps.Type == "int64":
		return gateway.KindInt, writable
	}
	return gateway.KindUint, writable // uint16 (the default for registers), uint32, uint64
}

// CheckShared reports modbus-rtu devices that share a serial port but not
// its settings (baud, data bits, parity, stop bits): New refuses them, as
// one bus has one line setting. Each problem is reported through the
// Reporter of the later device, at each key that differs.
func CheckShared(cfgs []Config, reporter func(i int) config.Reporter) {
	first := map[string]int{}
	for i, c := range cfgs {
		if c.Driver != DriverRTU || c.Port == "" {
			continue
		}
		c = c.withDefaults()
		j, ok := first[c.Port]
		if !ok {
			first[c.Port] = i
			continue
		}
		o := cfgs[j].withDefaults()
		for _, k := range []struct {
			key       string
			got, want any
		}{{"baud", c.Baud, o.Baud}, {"data_bits", c.DataBits, o.DataBits}, {"parity", c.Parity, o.Parity}, {"stop_bits", c.StopBits, o.StopBits}} {
			if k.got != k.want {
				reporter(i).Problem(k.key, "%s differs from device %q's %s on the same port %s: devices on one bus must agree on baud, data_bits, parity and stop_bits",
					quoteIf(k.got), o.Name, quoteIf(k.want), c.Port)
			}
		}
	}
}

func quoteIf(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

// PointType returns point j's type key ("" when not set).
func (s *section) PointType(j int) string { return s.point(j).Type }

var _ config.DeviceFiles = (*RTUSection)(nil)

// Files implements config.DeviceFiles: the serial port must exist.
func (s *RTUSection) Files(*config.Device) []config.File {
	if s.Port == "" {
		return nil // Check reports it
	}
	return []config.File{config.DeviceFile(config.At("port"), s.Port)}
}
