// Package mapping turns readings into MQTT messages: each point has a topic
// (from a template), a payload format, a QoS, a retain flag and reporting
// rules (on change with a deadband, heartbeat, minimum interval), inherited
// from its device and from the global [mapping] section. It also parses
// and validates command messages for writable points (see Commands).
package mapping

import (
	"fmt"
	"time"

	"github.com/edgegw/gateway"
)

// Rule says how one point's readings are published.
type Rule struct {
	Topic   string // a template; see ExpandTopic
	Payload string // json, value, or a Go template
	QoS     byte
	Retain  bool

	// OnChange publishes a reading only when its value or quality differs
	// from the last published one. A change of quality (good to bad and
	// back) always counts.
	OnChange bool
	// Deadband is the smallest change of a numeric value that counts as a
	// change under OnChange: an absolute amount, or with DeadbandPercent a
	// percentage of the last published value. Zero means any change.
	// ParseDeadband reads the TOML forms 0.5 and "5%".
	Deadband        float64
	DeadbandPercent bool
	// Heartbeat publishes the current reading when nothing has been
	// published for this long, changed or not. Zero means never.
	Heartbeat time.Duration
	// MinInterval is the shortest time between two publications of the
	// point. A change held back by it is published with the first reading
	// after the interval has passed. Zero means no limit.
	MinInterval time.Duration
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

// point is a mapped point: its compiled rule and reporting state.
type point struct {
	compiled
	src    Point // what it was compiled from, to carry state over a reload
	report reporter
}

type key struct{ device, point string }

// Mapper maps readings of the configured points to messages. It implements
// gateway.Mapper. Readings of points it does not know are dropped and
// counted (Unmapped). A Mapper keeps per-point reporting state and, like
// gateway.Mapper says, is used by one goroutine.
type Mapper struct {
	gateway    string
	points     map[key]*point
	now        func() time.Time
	unmapped   uint64
	suppressed uint64
}

var _ gateway.Mapper = (*Mapper)(nil)

// Option configures a Mapper or Commands.
type Option func(*options)

type options struct{ now func() time.Time }

// WithClock makes the reporting rules and command results use now instead
// of time.Now (for tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func buildOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// New compiles the rules of every point. The error names the first point
// whose rule does not compile; cmd/gateway calls Check on each point first
// to report every problem with its line in the config file.
func New(gatewayName string, points []Point, opts ...Option) (*Mapper, error) {
	o := buildOptions(opts)
	m := &Mapper{gateway: gatewayName, points: make(map[key]*point, len(points)), now: o.now}
	for _, p := range points {
		c, err := compile(gatewayName, p)
		if err != nil {
			return nil, fmt.Errorf("mapping for %s/%s: %w", p.Device, p.Point, err)
		}
		m.points[key{p.Device, p.Point}] = &point{compiled: c, src: p, report: newReporter(p.Rule)}
	}
	return m, nil
}

// Check reports whether p's rule compiles: a valid topic template and
// payload format, a QoS of 0, 1 or 2, and no negative deadband or
// duration.
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
	if err := checkReport(p.Rule); err != nil {
		return compiled{}, err
	}
	return compiled{topic: topic, format: f, qos: p.Rule.QoS, retain: p.Rule.Retain}, nil
}

// Map returns the message for r, or nil when r's point is not mapped, its
// reporting rule holds r back, or its format has nothing to say for it.
func (m *Mapper) Map(r gateway.Reading) []gateway.Message {
	p, ok := m.points[key{r.Device, r.Point}]
	if !ok {
		m.unmapped++
		return nil
	}
	var now time.Time
	if p.report.filtered {
		now = m.now()
		if !p.report.due(r, now) {
			m.suppressed++
			return nil
		}
	}
	payload := p.format(r)
	if payload == nil {
		return nil
	}
	p.report.record(r, now)
	return []gateway.Message{{Topic: p.topic, Payload: payload, QoS: p.qos, Retain: p.retain, Time: r.Time}}
}

// Unmapped returns how many readings had no mapping.
func (m *Mapper) Unmapped() uint64 { return m.unmapped }

// Suppressed returns how many readings the reporting rules held back.
func (m *Mapper) Suppressed() uint64 { return m.suppressed }

// Inherit takes over old's reporting state (what was last published, and
// when) for every point whose gateway name, unit and rule are unchanged, so
// that a reload does not republish every on-change point at once. Call it
// before the first Map; old must no longer be used.
//
// The pipeline calls it through InheritFrom when it switches mappers, from
// the goroutine that calls Map, so the old mapper is no longer in use.
func (m *Mapper) Inherit(old *Mapper) {
	if old == nil || old.gateway != m.gateway {
		return
	}
	for k, p := range m.points {
		if q, ok := old.points[k]; ok && q.src == p.src {
			p.report = q.report
		}
	}
}

// InheritFrom is Inherit for a gateway.Mapper; mappers of other types are
// ignored. The pipeline calls it when Update replaces its mapper.
func (m *Mapper) InheritFrom(old gateway.Mapper) {
	if o, ok := old.(*Mapper); ok {
		m.Inherit(o)
	}
}
