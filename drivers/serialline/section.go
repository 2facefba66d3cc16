package serialline

import (
	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/config"
)

// Section is the serial driver's part of a [[devices]] table (driver =
// "serial"): its own keys, decoded onto DefaultConfig's values.
type Section struct {
	Port           string         `toml:"port"`            // e.g. /dev/serial/by-id/usb-FTDI_...-if00-port0
	Baud           int            `toml:"baud"`            // e.g. 9600, 19200, 115200
	DataBits       int            `toml:"data_bits"`       // 5..8
	Parity         string         `toml:"parity"`          // none|even|odd
	StopBits       int            `toml:"stop_bits"`       // 1 or 2
	Format         string         `toml:"format"`          // json|kv|csv|regex
	PairSeparator  string         `toml:"pair_separator"`  // kv: between pairs (default: blanks)
	KVSeparator    string         `toml:"kv_separator"`    // kv: between key and value (default "=")
	Columns        []string       `toml:"columns"`         // csv: the name of each column
	Delimiter      string         `toml:"delimiter"`       // csv: default ","
	Pattern        string         `toml:"pattern"`         // regex: named groups are fields
	LineTerminator string         `toml:"line_terminator"` // default "\n"
	MaxLineLength  int            `toml:"max_line_length"` // default 4096 bytes
	Missing        string         `toml:"missing"`         // skip|bad: a point missing from a line
	WriteTemplate  string         `toml:"write_template"`  // command line template
	Points         []PointSection `toml:"points"`
}

// PointSection is the serial driver's part of a [[devices.points]] table.
type PointSection struct {
	Type  string `toml:"type"`  // number|bool|string; default: as parsed
	Field string `toml:"field"` // the field of the line to read (default: the point name)
}

var _ config.DeviceSection = (*Section)(nil)

// NewSection returns a Section holding the defaults: the driver table's
// constructor.
func NewSection() config.DeviceSection {
	d := DefaultConfig()
	return &Section{
		Baud: d.Baud, DataBits: d.DataBits, Parity: d.Parity, StopBits: d.StopBits,
		PairSeparator: d.PairSeparator, KVSeparator: d.KVSeparator, Delimiter: d.Delimiter,
		LineTerminator: d.LineTerminator, MaxLineLength: d.MaxLineLength, Missing: d.Missing,
	}
}

// Config compiles the device d (whose Section s is) into the driver's Config.
func (s *Section) Config(d *config.Device) Config {
	c := DefaultConfig()
	c.Device = d.Name
	c.Port, c.Baud, c.DataBits, c.Parity, c.StopBits = s.Port, s.Baud, s.DataBits, s.Parity, s.StopBits
	c.Format, c.PairSeparator, c.KVSeparator = s.Format, s.PairSeparator, s.KVSeparator
	c.Columns, c.Delimiter, c.Pattern = s.Columns, s.Delimiter, s.Pattern
	c.LineTerminator, c.MaxLineLength, c.Missing, c.WriteTemplate = s.LineTerminator, s.MaxLineLength, s.Missing, s.WriteTemplate
	for j, pt := range d.Points {
		var ps PointSection
		if j < len(s.Points) {
			ps = s.Points[j]
		}
		p := Point{Name: pt.Name, Field: ps.Field, Offset: pt.Offset, Unit: pt.Unit, Type: ps.Type}
		if pt.Scale != nil {
			p.Scale = *pt.Scale
		}
		c.Points = append(c.Points, p)
	}
	return c
}

// Check implements config.DeviceSection.
func (s *Section) Check(d *config.Device, r config.Reporter) {
	s.Config(d).Check(r)
	for j, pt := range d.Points {
		if pt.Writable != nil && *pt.Writable && s.WriteTemplate == "" {
			r.Elem("points", j, pt.Name).Problem("writable", "needs the device's write_template: it says what line to send")
		}
	}
}

// Command implements config.DeviceSection: a point is writable when the
// device has a write_template.
func (s *Section) Command(d *config.Device, j int) (gateway.Kind, bool) {
	kind := gateway.KindFloat
	if j < len(s.Points) {
		switch s.Points[j].Type {
		case TypeBool:
			kind = gateway.KindBool
		case TypeString:
			kind = gateway.KindString
		}
	}
	return kind, s.WriteTemplate != ""
}

// PointType returns point j's type key ("" when not set).
func (s *Section) PointType(j int) string {
	if j < len(s.Points) {
		return s.Points[j].Type
	}
	return ""
}

var _ config.DeviceFiles = (*Section)(nil)

// Files implements config.DeviceFiles: the serial port must exist.
func (s *Section) Files(*config.Device) []config.File {
	if s.Port == "" {
		return nil // Check reports it
	}
	return []config.File{config.DeviceFile(config.At("port"), s.Port)}
}
