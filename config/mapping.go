package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Mapping is the [mapping] table: how readings become MQTT messages. Every
// key can be overridden per device and per point.
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

// Payload formats with a name; anything else containing "{{" is a template.
var PayloadFormats = []string{"json", "value"}

// DefaultTopic is the topic template when none is configured.
const DefaultTopic = "{gateway}/{device}/{point}"

// DefaultCommandTopic is where commands for a writable point arrive.
const DefaultCommandTopic = "{gateway}/{device}/{point}/set"

func defaultMapping() Mapping {
	qos, retain, onChange := 0, false, false
	return Mapping{Rule{Topic: DefaultTopic, Payload: "json", QoS: &qos, Retain: &retain, OnChange: &onChange, CommandTopic: DefaultCommandTopic}}
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

func (r Rule) validate(p *Problems, base Path) {
	if r.Payload != "" && !strings.Contains(r.Payload, "{{") {
		oneOf(p, base.Key("payload"), r.Payload, append(PayloadFormats, "a Go template containing {{ }}"))
	}
	if r.QoS != nil && (*r.QoS < 0 || *r.QoS > 2) {
		p.Add(base.Key("qos"), "%d: want 0, 1 or 2", *r.QoS)
	}
	if r.Deadband.bad != "" {
		p.Add(base.Key("deadband"), "%s: want a number >= 0 such as 0.5, or a percentage such as \"2%%\"", r.Deadband.bad)
	}
	r.Heartbeat.check(p, base.Key("heartbeat"))
	r.MinInterval.check(p, base.Key("min_interval"))
}
