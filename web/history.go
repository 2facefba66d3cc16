package web

import (
	"encoding/json"
	"sync"
	"time"
)

// maxOutages is how many uplink outages the history keeps.
const maxOutages = 100

// Sample is one point of the history chart.
type Sample struct {
	Time     time.Time `json:"-"`
	Depth    int64     `json:"depth"`  // buffered messages
	Bytes    int64     `json:"bytes"`  // buffered bytes
	Uplink   string    `json:"uplink"` // up, down or ""
	InRate   float64   `json:"in"`     // broker messages received per second
	OutRate  float64   `json:"out"`    // broker messages sent per second
	HasDepth bool      `json:"-"`      // false when there is no buffer
}

// MarshalJSON encodes the time as Unix milliseconds ("t") for the chart,
// and the depth as null when there is no buffer.
func (s Sample) MarshalJSON() ([]byte, error) {
	type plain Sample
	var depth *int64
	if s.HasDepth {
		depth = &s.Depth
	}
	return json.Marshal(struct {
		T int64 `json:"t"`
		plain
		Depth *int64 `json:"depth"`
	}{s.Time.UnixMilli(), plain(s), depth})
}

// Outage is one period with the uplink down. End is zero while it lasts.
type Outage struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	Error string    `json:"error,omitempty"` // why the uplink went down
}

// MarshalJSON adds the duration so far in seconds and whether it is ongoing.
func (o Outage) MarshalJSON() ([]byte, error) {
	type plain Outage
	end := o.End
	if end.IsZero() {
		end = time.Now()
	}
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"seconds"`
		Ongoing bool    `json:"ongoing"`
	}{plain(o), end.Sub(o.Start).Seconds(), o.End.IsZero()})
}

// history is a ring of samples plus the uplink's outages and state.
type history struct {
	mu      sync.Mutex
	samples []Sample // ring
	next    int      // where the next sample goes
	full    bool

	uplink      string // last state seen
	uplinkSince time.Time
	outages     []Outage // oldest first; the last may be ongoing
	outageCount uint64   // outages ever begun

	lastBroker BrokerStats
	lastAt     time.Time

	lastDevices map[string]DeviceStatus // counters at lastDevAt
	lastDevAt   time.Time
	devRates    map[string]DeviceStatus // only the rate fields are set
}

func newHistory(n int) *history { return &history{samples: make([]Sample, n)} }

// add records one sample taken at s.Time, tracking uplink transitions
// and computing the broker's rates from the previous counters.
func (h *history) add(s Sample, b *BrokerStats, uplinkErr string) Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b != nil {
		if !h.lastAt.IsZero() {
			if dt := s.Time.Sub(h.lastAt).Seconds(); dt > 0 {
				s.InRate = rate(b.MessagesReceived, h.lastBroker.MessagesReceived, dt)
				s.OutRate = rate(b.MessagesSent, h.lastBroker.MessagesSent, dt)
			}
		}
		h.lastBroker, h.lastAt = *b, s.Time
	}
	if s.Uplink != h.uplink {
		h.transition(s.Uplink, uplinkErr, s.Time)
	}
	h.samples[h.next] = s
	h.next++
	if h.next == len(h.samples) {
		h.next, h.full = 0, true
	}
	return s
}

// addDevices computes each device's rates from its counters at t and at
// the previous call.
func (h *history) addDevices(devs []DeviceStatus, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	dt := t.Sub(h.lastDevAt).Seconds()
	rates := make(map[string]DeviceStatus, len(devs))
	last := make(map[string]DeviceStatus, len(devs))
	for _, d := range devs {
		last[d.Name] = d
		prev, ok := h.lastDevices[d.Name]
		if !ok || dt <= 0 {
			continue
		}
		rates[d.Name] = DeviceStatus{
			PollsPerSecond:    rate(d.Polls, prev.Polls, dt),
			RequestsPerSecond: rate(d.Requests, prev.Requests, dt),
			ErrorsPerSecond:   rate(d.ReqErrors, prev.ReqErrors, dt),
		}
	}
	h.lastDevices, h.lastDevAt, h.devRates = last, t, rates
}

// withRates returns devs with the rates of the last sample filled in.
func (h *history) withRates(devs []DeviceStatus) []DeviceStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, d := range devs {
		r := h.devRates[d.Name]
		devs[i].PollsPerSecond, devs[i].RequestsPerSecond, devs[i].ErrorsPerSecond = r.PollsPerSecond, r.RequestsPerSecond, r.ErrorsPerSecond
	}
	return devs
}

func rate(now, before uint64, dt float64) float64 {
	if now < before { // counters restarted
		return 0
	}
	return float64(now-before) / dt
}

func (h *history) transition(state, lastErr string, t time.Time) {
	if state == "down" {
		h.outages = append(h.outages, Outage{Start: t, Error: lastErr})
		h.outageCount++
		if len(h.outages) > maxOutages {
			h.outages = h.outages[len(h.outages)-maxOutages:]
		}
	} else if n := len(h.outages); n > 0 && h.outages[n-1].End.IsZero() {
		h.outages[n-1].End = t
	}
	h.uplink, h.uplinkSince = state, t
}

// list returns the samples, oldest first.
func (h *history) list() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Sample(nil), h.samples[:h.next]...)
	}
	return append(append([]Sample(nil), h.samples[h.next:]...), h.samples[:h.next]...)
}

// last returns the latest sample.
func (h *history) last() (Sample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full && h.next == 0 {
		return Sample{}, false
	}
	i := h.next - 1
	if i < 0 {
		i = len(h.samples) - 1
	}
	return h.samples[i], true
}

// uplinkState returns the outages (newest first), the total begun, and
// when the current uplink state was entered.
func (h *history) uplinkState() (outages []Outage, total uint64, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	outages = make([]Outage, len(h.outages))
	for i, o := range h.outages {
		outages[len(h.outages)-1-i] = o
	}
	return outages, h.outageCount, h.uplinkSince
}
