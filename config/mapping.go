package config

import "strings"

// Mapping is the [mapping] table: how readings become MQTT messages. Every
// key can be overridden per device and per point.
type Mapping struct {
	Rule
}

// Rule holds the mapping keys that a point inherits from its device and the
// device from [mapping]. A nil or empty field means "inherit".
type Rule struct {
	Topic   string `toml:"topic"`   // template: {gateway} {device} {point} {unit}
	Payload string `toml:"payload"` // json | value | a Go text/template
	QoS     *int   `toml:"qos"`     // 0, 1 or 2
	Retain  *bool  `toml:"retain"`
}

// Payload formats with a name; anything else containing "{{" is a template.
var PayloadFormats = []string{"json", "value"}

// DefaultTopic is the topic template when none is configured.
const DefaultTopic = "{gateway}/{device}/{point}"

func defaultMapping() Mapping {
	qos, retain := 0, false
	return Mapping{Rule{Topic: DefaultTopic, Payload: "json", QoS: &qos, Retain: &retain}}
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
	return r
}

func (r Rule) validate(p *Problems, base Path) {
	if r.Payload != "" && !strings.Contains(r.Payload, "{{") {
		oneOf(p, base.Key("payload"), r.Payload, append(PayloadFormats, "a Go template containing {{ }}"))
	}
	if r.QoS != nil && (*r.QoS < 0 || *r.QoS > 2) {
		p.Add(base.Key("qos"), "%d: want 0, 1 or 2", *r.QoS)
	}
}
