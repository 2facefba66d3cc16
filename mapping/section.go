package mapping

import (
	"slices"
	"strings"

	"github.com/edgegw/gateway/config"
)

// The mapping's part of the config file: the [mapping] table's defaults
// (DefaultSection), the rules of the mapping keys at every level where
// they may be set (CheckRule: [mapping], a device, a point) and the
// compiling of a point's rule (FromSection), in one place.

// DefaultTopic is the topic template when none is configured.
const DefaultTopic = "{gateway}/{device}/{point}"

// PayloadFormats are the payload formats with a name; anything else
// containing "{{" is a template.
var PayloadFormats = []string{"json", "value"}

// DefaultSection returns the [mapping] table's defaults.
func DefaultSection() config.Mapping {
	qos, retain, onChange := 0, false, false
	return config.Mapping{Rule: config.Rule{Topic: DefaultTopic, Payload: "json", QoS: &qos, Retain: &retain,
		OnChange: &onChange, CommandTopic: DefaultCommandTopic}}
}

// CheckRule reports the problems of the mapping keys rule sets at one
// level through r, that level's table ([mapping], a device or a point), so
// that a bad template is reported once, where it is written. gw is the
// gateway's name.
func CheckRule(rule config.Rule, gw string, r config.Reporter) {
	if rule.Topic != "" {
		sample := Names{Gateway: gw, Device: "device", Point: "point", Unit: "unit"}
		if _, err := ExpandTopic(rule.Topic, sample); err != nil {
			r.Problem("topic", "%v", err)
		}
	}
	switch p := rule.Payload; {
	case p == "":
	case !strings.Contains(p, "{{") && !slices.Contains(PayloadFormats, p):
		r.Problem("payload", "%q: want %s", p, config.OrList(append(slices.Clip(PayloadFormats), "a Go template containing {{ }}")))
	default:
		if _, err := ParseFormat(p); err != nil {
			r.Problem("payload", "%v", err)
		}
	}
	if rule.QoS != nil && (*rule.QoS < 0 || *rule.QoS > 2) {
		r.Problem("qos", "%d: want 0, 1 or 2", *rule.QoS)
	}
}

// CheckSection reports the problems of the mapping keys of the whole
// file through r (the file's root): [mapping], then every device and
// point, each at its own table.
func CheckSection(c *config.Config, r func(config.Path) config.Reporter) {
	CheckRule(c.Mapping.Rule, c.Gateway.Name, r(config.At("mapping")))
	for i := range c.Devices {
		d := &c.Devices[i]
		CheckRule(d.Rule, c.Gateway.Name, r(c.DevicePath(i)))
		for j := range d.Points {
			CheckRule(d.Points[j].Rule, c.Gateway.Name, r(c.PointPath(i, j)))
		}
	}
}

// FromSection compiles point j of device d: its rule is the point's, then
// the device's, then global's ([mapping]) for each key it does not set.
// r is the point's table: it gets the problems only this point's names
// cause in a topic template that is fine in itself.
func FromSection(gw string, global config.Rule, d *config.Device, j int, r config.Reporter) Point {
	pt := &d.Points[j]
	rule := pt.Rule.Inherit(d.Rule).Inherit(global)
	mp := Point{Device: d.Name, Point: pt.Name, Unit: pt.Unit, Rule: Rule{
		Topic: rule.Topic, Payload: rule.Payload, QoS: byte(deref(rule.QoS)), Retain: derefBool(rule.Retain),
		OnChange: derefBool(rule.OnChange), Deadband: rule.Deadband.Value, DeadbandPercent: rule.Deadband.Percent,
		Heartbeat: rule.Heartbeat.Duration, MinInterval: rule.MinInterval.Duration,
	}}
	names := Names{Gateway: gw, Device: d.Name, Point: pt.Name, Unit: pt.Unit}
	if _, err := ExpandTopic(rule.Topic, names); err != nil {
		if _, syntaxErr := ExpandTopic(rule.Topic, Names{Gateway: "g", Device: "d", Point: "p", Unit: "u"}); syntaxErr == nil {
			// The template is fine; this point's names make it invalid.
			r.Problem("topic", "%v", err)
		}
	}
	return mp
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func derefBool(p *bool) bool { return p != nil && *p }

// Component is the mapping's row of the component table: [mapping] and
// the mapping keys of every device and point.
func Component() config.Component {
	return config.Component{Name: "mapping",
		Default: func(c *config.Config) { c.Mapping = DefaultSection() },
		Check:   func(c *config.Config, p *config.Problems) { CheckSection(c, p.Reporter) },
	}
}
