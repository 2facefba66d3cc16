package pipeline

import (
	"log/slog"

	"github.com/edgegw/gateway"
	"sync"
	"time"
)

// State is a device's state as the supervisor sees it.
type State uint8

// The device states.
const (
	StateStarting State = iota // not polled yet
	StateOK                    // the last poll or run succeeded
	StateFailing               // the last poll failed or the driver stopped with an error; retrying with backoff
	StateStopped               // the pipeline has stopped
)

var stateNames = [...]string{"starting", "ok", "failing", "stopped"}

func (s State) String() string { return stateNames[s] }

// MarshalText encodes s by name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// DeviceStatus is a snapshot of one device for status pages and tests.
type DeviceStatus struct {
	Name      string
	State     State
	LastError string    // the error that made it fail; kept after recovery
	Since     time.Time // when State was entered
	LastOK    time.Time // the last successful poll
	Polls     uint64    // poll cycles started (see withCounts)
	Failures  uint64    // poll cycles that failed
	Readings  uint64    // readings emitted
	Requests  uint64    // requests sent to the device
	ReqErrors uint64    // requests that failed
}

// withCounts fills in the request counters of st from d's driver, and for
// a Driver that polls on its own schedule also its poll counters (the
// supervisor sees only its runs). Without a gateway.PollCounter a poll is
// one request.
func withCounts(st DeviceStatus, d Device) DeviceStatus {
	var c gateway.PollCounter
	if d.Driver != nil {
		c, _ = d.Driver.(gateway.PollCounter)
	} else {
		c, _ = d.Poller.(gateway.PollCounter)
	}
	if c == nil {
		st.Requests, st.ReqErrors = st.Polls, st.Failures
		return st
	}
	n := c.PollCounts()
	if d.Driver != nil {
		st.Polls, st.Failures = n.Polls, n.PollFailures
	}
	st.Requests, st.ReqErrors = n.Requests, n.RequestErrors
	return st
}

// health tracks one device's state and logs it once per change, never once
// per poll.
type health struct {
	log     *slog.Logger
	now     func() time.Time
	onState func(device string, s State) // Options.OnState

	mu           sync.Mutex
	st           DeviceStatus
	episodeStart uint64 // Failures when the current failure episode began
	goodSinceBad bool   // a streaming driver's good reading came after its last bad one
}

func newHealth(name string, log *slog.Logger, now func() time.Time) *health {
	return &health{log: log, now: now, st: DeviceStatus{Name: name, State: StateStarting, Since: now()}}
}

// ok records a successful poll.
func (h *health) ok(readings int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.now()
	h.st.Polls++
	h.st.Readings += uint64(readings)
	h.st.LastOK = t
	switch h.st.State {
	case StateFailing:
		h.log.Info("device recovered", "down_for", t.Sub(h.st.Since).Round(time.Millisecond), "failed_attempts", h.failuresSince())
	case StateStarting:
		h.log.Info("device up")
	}
	h.set(StateOK, t)
}

// fail records a failed poll or run and reports whether it started a new
// failure episode.
func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.st.Polls++
	h.st.Failures++
	h.st.LastError = err.Error()
	if h.st.State == StateFailing {
		h.log.Debug("device still failing", "err", err)
		return
	}
	h.log.Warn("device failing; retrying with backoff", "err", err)
	h.episodeStart = h.st.Failures - 1
	h.set(StateFailing, h.now())
}

// emitted records a reading a streaming driver produced: a good one makes
// the device ok, a bad one with an error makes it failing, unless a good
// reading came since the last bad one: a device that answers for some
// points and not for others (one block of registers refused) stays ok
// instead of flapping with every poll, while a device that stopped
// answering is failing by its second bad reading. Streaming
// drivers log their own state changes (they know which slave or port), so
// these transitions are logged at Debug only.
func (h *health) emitted(r gateway.Reading) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.now()
	h.st.Readings++
	if r.Quality == gateway.QualityBad {
		h.st.Failures++
		if r.Err != nil {
			h.st.LastError = r.Err.Error()
		}
		if h.goodSinceBad {
			h.goodSinceBad = false
			return
		}
		if h.st.State != StateFailing {
			h.log.Debug("device state", "state", "failing", "err", r.Err)
			h.set(StateFailing, t)
		}
		return
	}
	h.st.LastOK = t
	h.goodSinceBad = true
	if h.st.State != StateOK {
		h.log.Debug("device state", "state", "ok")
		h.set(StateOK, t)
	}
}

func (h *health) stopped() {
	h.mu.Lock()
	h.set(StateStopped, h.now())
	h.mu.Unlock()
}

func (h *health) set(s State, t time.Time) {
	if h.st.State != s {
		h.st.State, h.st.Since = s, t
		if h.onState != nil {
			h.onState(h.st.Name, s)
		}
	}
}

func (h *health) failuresSince() uint64 { return h.st.Failures - h.episodeStart }

func (h *health) status() DeviceStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}
