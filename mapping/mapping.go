// Package mapping turns readings into MQTT messages: each point has a topic
// (from a template), a payload format, a QoS and a retain flag, inherited
// from its device and from the global [mapping] section.
package mapping

import (
	"fmt"

	"github.com/edgegw/gateway"
)

// Rule says how one point's readings are published.
type Rule struct {
	Topic   string // a template; see ExpandTopic
	Payload string // json, value, or a Go template
	QoS     byte
	Retain  bool
}

// Point is the compiled rule of one device point.
type Point struct {
	Device, Point, Unit string
	Rule                Rule
}

// compiled is a point's rule with its topic expanded and format parsed.
type compiled struct {
	topic  string
	format Format
	qos    byte
	retain bool
}

type key struct{ device, point string }

// Mapper maps readings of the configured points to messages. It implements
// gateway.Mapper. Readings of points it does not know are dropped and
// counted (Unmapped).
type Mapper struct {
	gateway  string
	points   map[key]compiled
	unmapped uint64
}

var _ gateway.Mapper = (*Mapper)(nil)

// New compiles the rules of every point. The error names the first point
// whose rule does not compile; cmd/gateway calls Check on each point first
// to report every problem with its line in the config file.
func New(gatewayName string, points []Point) (*Mapper, error) {
	m := &Mapper{gateway: gatewayName, points: make(map[key]compiled, len(points))}
	for _, p := range points {
		c, err := compile(gatewayName, p)
		if err != nil {
			return nil, fmt.Errorf("mapping for %s/%s: %w", p.Device, p.Point, err)
		}
		m.points[key{p.Device, p.Point}] = c
	}
	return m, nil
}

// Check reports whether p's rule compiles: a valid topic template and
// payload format, and a QoS of 0, 1 or 2.
func Check(gatewayName string, p Point) error {
	_, err := compile(gatewayName, p)
	return err
}

func compile(gatewayName string, p Point) (compiled, error) {
	topic, err := ExpandTopic(p.Rule.Topic, Names{Gateway: gatewayName, Device: p.Device, Point: p.Point, Unit: p.Unit})
	if err != nil {
		return compiled{}, err
	}
	f, err := ParseFormat(p.Rule.Payload)
	if err != nil {
		return compiled{}, err
	}
	if p.Rule.QoS > 2 {
		return compiled{}, fmt.Errorf("qos %d: want 0, 1 or 2", p.Rule.QoS)
	}
	return compiled{topic: topic, format: f, qos: p.Rule.QoS, retain: p.Rule.Retain}, nil
}

// Map returns the message for r, or nil when r's point is not mapped or its
// format has nothing to say for it.
func (m *Mapper) Map(r gateway.Reading) []gateway.Message {
	c, ok := m.points[key{r.Device, r.Point}]
	if !ok {
		m.unmapped++
		return nil
	}
	payload := c.format(r)
	if payload == nil {
		return nil
	}
	return []gateway.Message{{Topic: c.topic, Payload: payload, QoS: c.qos, Retain: c.retain, Time: r.Time}}
}

// Unmapped returns how many readings had no mapping.
func (m *Mapper) Unmapped() uint64 { return m.unmapped }
