package web

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgegw/gateway"
)

// maxValues bounds the last-value table so that a flood of new topics cannot
// grow it without limit; values for keys beyond it are not shown.
const maxValues = 10000

// maxPayloadShown is how much of a message payload the page shows.
const maxPayloadShown = 256

// PointValue is the last value of one device point (from Observe) or of one
// topic (from Publish).
type PointValue struct {
	Key     string        `json:"key"`              // "device/point", or "topic:" + topic
	Device  string        `json:"device,omitempty"` // empty for a topic
	Point   string        `json:"point,omitempty"`
	Topic   string        `json:"topic,omitempty"`
	Value   gateway.Value `json:"value"` // for a topic: its payload (truncated) as a string
	Unit    string        `json:"unit,omitempty"`
	Quality string        `json:"quality,omitempty"`
	Error   string        `json:"error,omitempty"`
	Time    time.Time     `json:"time,omitzero"`
	Updates uint64        `json:"updates"` // how often it was observed
}

// values is the last-value table; it notifies the hub of every change.
type values struct {
	mu     sync.Mutex
	m      map[string]*PointValue
	notify func(key string)
}

func (v *values) set(pv PointValue) {
	v.mu.Lock()
	old, ok := v.m[pv.Key]
	if !ok && len(v.m) >= maxValues {
		v.mu.Unlock()
		return
	}
	if ok {
		pv.Updates = old.Updates + 1
	} else {
		pv.Updates = 1
	}
	v.m[pv.Key] = &pv
	v.mu.Unlock()
	v.notify(pv.Key)
}

func (v *values) get(key string) (PointValue, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	pv, ok := v.m[key]
	if !ok {
		return PointValue{}, false
	}
	return *pv, true
}

// list returns every value sorted by key.
func (v *values) list() []PointValue {
	v.mu.Lock()
	out := make([]PointValue, 0, len(v.m))
	for _, pv := range v.m {
		out = append(out, *pv)
	}
	v.mu.Unlock()
	slices.SortFunc(out, func(a, b PointValue) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Observe records r as the last value of its device point and pushes it to
// the page. It is safe for concurrent use and does not block.
func (s *Server) Observe(r gateway.Reading) {
	pv := PointValue{
		Key:     r.Device + "/" + r.Point,
		Device:  r.Device,
		Point:   r.Point,
		Value:   r.Value,
		Unit:    r.Unit,
		Quality: r.Quality.String(),
		Time:    r.Time,
	}
	if r.Err != nil {
		pv.Error = r.Err.Error()
	}
	if pv.Time.IsZero() {
		pv.Time = s.now()
	}
	s.values.set(pv)
}

// Publish records m's payload as the last value of its topic and pushes it
// to the page. It never fails, so it can sit in a gateway.MultiSink beside
// the broker and the buffer.
func (s *Server) Publish(_ context.Context, m gateway.Message) error {
	p := m.Payload
	if len(p) > maxPayloadShown {
		p = p[:maxPayloadShown]
	}
	text := strings.ToValidUTF8(string(p), "\uFFFD")
	if !utf8.Valid(m.Payload) {
		text = "(binary, " + strconv.Itoa(len(m.Payload)) + " bytes)"
	}
	t := m.Time
	if t.IsZero() {
		t = s.now()
	}
	s.values.set(PointValue{Key: "topic:" + m.Topic, Topic: m.Topic, Value: gateway.String(text), Time: t})
	return nil
}

var _ gateway.Sink = (*Server)(nil)

// observingMapper calls Observe for every reading before mapping it.
type observingMapper struct {
	s *Server
	m gateway.Mapper
}

func (o observingMapper) Map(r gateway.Reading) []gateway.Message {
	o.s.Observe(r)
	return o.m.Map(r)
}

// WrapMapper returns a Mapper that shows every reading on the page and then
// maps it with m.
func (s *Server) WrapMapper(m gateway.Mapper) gateway.Mapper { return observingMapper{s: s, m: m} }
