package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgegw/gateway"
)

// DefaultCommandTopic is the command topic template of a point that does
// not name one.
const DefaultCommandTopic = "{gateway}/{device}/{point}/set"

// ResultSuffix is appended to a command topic to form the topic its
// outcome is published on.
const ResultSuffix = "/result"

// resultQoS is the QoS of a result message: a client that sent a command
// wants to hear how it went.
const resultQoS = 1

// Command is a parsed and validated command for one point.
type Command struct {
	Topic         string // the command topic it arrived on
	Device, Point string
	Value         gateway.Value
}

// Commands routes command messages to the points they are for, by topic.
// It is read-only after NewCommands and safe for concurrent use.
type Commands struct {
	byTopic map[string]*CommandSpec
	topics  []string // of writable points, sorted
	now     func() time.Time
}

// NewCommands expands the command topic of every spec. It returns every
// problem it finds, joined: a bad template or range, a point given twice,
// two writable points with the same command topic, or a command topic that
// is another one's result topic (the gateway would take its own reply for
// a command).
//
// A read-only point's topic is routed too, when no writable point uses it,
// so that a command sent to it is answered with "point is not writable";
// it is not in Topics.
func NewCommands(gatewayName string, specs []CommandSpec, opts ...Option) (*Commands, error) {
	o := buildOptions(opts)
	c := &Commands{byTopic: make(map[string]*CommandSpec, len(specs)), now: o.now}
	var errs []error
	seen := make(map[key]bool, len(specs))
	topics := make([]string, len(specs))
	for i := range specs {
		s := &specs[i]
		err := s.check()
		if err == nil {
			tmpl := s.CommandTopic
			if tmpl == "" {
				tmpl = DefaultCommandTopic
			}
			topics[i], err = ExpandTopic(tmpl, Names{Gateway: gatewayName, Device: s.Device, Point: s.Point, Unit: s.Unit})
		}
		if k := (key{s.Device, s.Point}); seen[k] {
			err = errors.Join(err, errors.New("point given twice"))
		} else {
			seen[k] = true
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("command for %s/%s: %w", s.Device, s.Point, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Writable points first: a clash between two of them is an error.
	for i := range specs {
		s, t := &specs[i], topics[i]
		if !s.Writable {
			continue
		}
		if o, ok := c.byTopic[t]; ok {
			errs = append(errs, fmt.Errorf("command for %s/%s: topic %q is also the command topic of %s/%s", s.Device, s.Point, t, o.Device, o.Point))
			continue
		}
		spec := *s
		c.byTopic[t] = &spec
		c.topics = append(c.topics, t)
	}
	for _, t := range c.topics {
		if o, ok := c.byTopic[t+ResultSuffix]; ok {
			errs = append(errs, fmt.Errorf("command for %s/%s: topic %q is the result topic of %s/%s's command topic %q",
				o.Device, o.Point, t+ResultSuffix, c.byTopic[t].Device, c.byTopic[t].Point, t))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Read-only points take what is left, the first one winning a clash
	// (they all answer the same).
	for i := range specs {
		s, t := &specs[i], topics[i]
		if s.Writable || c.byTopic[t] != nil || c.byTopic[t+ResultSuffix] != nil || isResultTopic(c.byTopic, t) {
			continue
		}
		spec := *s
		c.byTopic[t] = &spec
	}
	slices.Sort(c.topics)
	return c, nil
}

// isResultTopic reports whether t is the result topic of a routed topic.
func isResultTopic(byTopic map[string]*CommandSpec, t string) bool {
	base, ok := strings.CutSuffix(t, ResultSuffix)
	return ok && byTopic[base] != nil
}

// Topics returns the command topics of the writable points, sorted: the
// topics to subscribe to.
func (c *Commands) Topics() []string { return slices.Clone(c.topics) }

// Route finds the point whose command topic is topic and parses and
// validates payload for it. The error wraps gateway.ErrUnknownPoint for a
// topic that is no point's, is gateway.ErrNotWritable for a read-only
// point, and matches ErrInvalidCommand for a payload the point does not
// take. On an error the Command still carries the topic (and the point,
// when known), so Result can answer it. A command that returns an error
// must not reach the device.
func (c *Commands) Route(topic string, payload []byte) (Command, error) {
	cmd := Command{Topic: topic}
	s, ok := c.byTopic[topic]
	if !ok {
		return cmd, fmt.Errorf("command topic %q: %w", topic, gateway.ErrUnknownPoint)
	}
	cmd.Device, cmd.Point = s.Device, s.Point
	if !s.Writable {
		return cmd, gateway.ErrNotWritable
	}
	v, err := s.Parse(payload)
	if err != nil {
		return cmd, err
	}
	cmd.Value = v
	return cmd, nil
}

// Result returns the message that reports a command's outcome on its
// command topic plus ResultSuffix: err is Route's error, or the driver's
// from writing the value, or nil. The payload is
// {"ok":true,"value":21.5,"ts":"..."} or
// {"ok":false,"error":"...","ts":"..."} (with "value" when the command
// had one), ts in RFC 3339 with milliseconds. It is sent with QoS 1 and
// not retained.
func (c *Commands) Result(cmd Command, err error) gateway.Message {
	now := c.now()
	b := make([]byte, 0, 64)
	b = append(b, `{"ok":`...)
	b = appendBool(b, err == nil)
	if !cmd.Value.IsNone() {
		b = append(b, `,"value":`...)
		b = appendValue(b, cmd.Value)
	}
	if err != nil {
		b = append(b, `,"error":`...)
		b = appendString(b, err.Error())
	}
	b = append(b, `,"ts":"`...)
	b = now.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `"}`...)
	return gateway.Message{Topic: cmd.Topic + ResultSuffix, Payload: b, QoS: resultQoS, Time: now}
}
