package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Mapping is the [mapping] table: how readings become MQTT messages. Every
// key can be overridden per device and per point. Its defaults, rules and
// compiling are the mapping package's (mapping.DefaultSection,
// mapping.CheckRule, mapping.FromSection); this is its shape in the file.
type Mapping struct {
	Rule
}

// Rule holds the mapping keys that a point inherits from its device and the
// device from [mapping]. A nil or empty field means "inherit".
type Rule struct {
	Topic        string   `toml:"topic"`         // template: {gateway} {device} {point} {unit}
	Payload      string   `toml:"payload"`       // json | value | a Go text/template
	QoS          *int     `toml:"qos"`           // 0, 1 or 2
	Retain       *bool    `toml:"retain"`        //
	OnChange     *bool    `toml:"on_change"`     // publish only when the value changed
	Deadband     Deadband `toml:"deadband"`      // smaller changes do not count: 0.5 or "2%"
	Heartbeat    Duration `toml:"heartbeat"`     // publish at least this often, changed or not
	MinInterval  Duration `toml:"min_interval"`  // publish at most this often
	CommandTopic string   `toml:"command_topic"` // where commands for writable points arrive
}

// Deadband is an absolute number, or a string with a percent sign ("5%")
// for a share of the last published value.
type Deadband struct {
	Value   float64
	Percent bool
	set     bool
	bad     string
}

// IsSet reports whether the key was given.
func (d Deadband) IsSet() bool { return d.set }

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Deadband) UnmarshalTOML(v any) error {
	d.set = true
	switch x := v.(type) {
	case int64:
		d.Value = float64(x)
	case float64:
		d.Value = x
	case string:
		t := strings.TrimSpace(x)
		pct := strings.HasSuffix(t, "%")
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
		if err != nil {
			d.bad = strconv.Quote(x)
			return nil
		}
		d.Value, d.Percent = f, pct
	default:
		d.bad = fmt.Sprint(v)
	}
	if d.Value < 0 && d.bad == "" {
		d.bad = fmt.Sprint(v)
	}
	return nil
}

// Inherit returns r with every unset field taken from parent.
func (r Rule) Inherit(parent Rule) Rule {
	if r.Topic == "" {
		r.Topic = parent.Topic
	}
	if r.Payload == "" {
		r.Payload = parent.Payload
	}
	if r.QoS == nil {
		r.QoS = parent.QoS
	}
	if r.Retain == nil {
		r.Retain = parent.Retain
	}
	if r.OnChange == nil {
		r.OnChange = parent.OnChange
	}
	if !r.Deadband.set {
		r.Deadband = parent.Deadband
	}
	if r.Heartbeat.Duration == 0 {
		r.Heartbeat = parent.Heartbeat
	}
	if r.MinInterval.Duration == 0 {
		r.MinInterval = parent.MinInterval
	}
	if r.CommandTopic == "" {
		r.CommandTopic = parent.CommandTopic
	}
	return r
}
