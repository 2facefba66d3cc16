package mapping

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/gateway"
)

// reporter holds one point's reporting rule (on_change, deadband,
// heartbeat, min_interval) and the state it needs: what was last published
// and when.
type reporter struct {
	onChange    bool
	deadband    float64
	percent     bool
	heartbeat   time.Duration
	minInterval time.Duration

	sent     bool            // something has been published
	last     gateway.Value   // the last published value
	lastQ    gateway.Quality // the last published quality
	lastAt   time.Time       // when it was published (the Mapper's clock)
	pending  bool            // a change was held back by min_interval
	filtered bool            // any of the rules is set
}

func newReporter(r Rule) reporter {
	return reporter{
		onChange: r.OnChange, deadband: r.Deadband, percent: r.DeadbandPercent,
		heartbeat: r.Heartbeat, minInterval: r.MinInterval,
		filtered: r.OnChange || r.Heartbeat > 0 || r.MinInterval > 0,
	}
}

// checkReport reports whether r's reporting settings make sense.
func checkReport(r Rule) error {
	switch {
	case r.Deadband < 0 || math.IsNaN(r.Deadband) || math.IsInf(r.Deadband, 0):
		return fmt.Errorf("deadband %v: want a finite number >= 0", r.Deadband)
	case r.Heartbeat < 0:
		return fmt.Errorf("heartbeat %v: want a duration >= 0", r.Heartbeat)
	case r.MinInterval < 0:
		return fmt.Errorf("min_interval %v: want a duration >= 0", r.MinInterval)
	}
	return nil
}

// due reports whether r, arriving at now, is to be published. It marks a
// change that min_interval holds back as pending, so that the next reading
// after the interval is published even if it no longer differs.
func (s *reporter) due(r gateway.Reading, now time.Time) bool {
	if !s.filtered || !s.sent {
		return true
	}
	elapsed := now.Sub(s.lastAt)
	changed := r.Quality != s.lastQ || s.changed(r.Value)
	want := !s.onChange || changed || s.pending ||
		(s.heartbeat > 0 && elapsed >= s.heartbeat)
	if !want {
		return false
	}
	if s.minInterval > 0 && elapsed < s.minInterval {
		if changed {
			s.pending = true
		}
		return false
	}
	return true
}

// record notes that r was published at now.
func (s *reporter) record(r gateway.Reading, now time.Time) {
	if !s.filtered {
		return
	}
	s.sent, s.last, s.lastQ, s.lastAt, s.pending = true, r.Value, r.Quality, now, false
}

// changed reports whether v differs from the last published value by at
// least the deadband. The deadband applies to numbers only: any change of a
// bool or string, or of the kind of value, counts.
func (s *reporter) changed(v gateway.Value) bool {
	if v.Equal(s.last) {
		return false
	}
	if s.deadband == 0 || !numeric(v.Kind()) || !numeric(s.last.Kind()) {
		return true
	}
	a, _ := v.Float64()      // numeric kinds always convert
	b, _ := s.last.Float64() // numeric kinds always convert
	if math.IsNaN(a) || math.IsNaN(b) {
		return !(math.IsNaN(a) && math.IsNaN(b))
	}
	band := s.deadband
	if s.percent {
		band = math.Abs(b) * s.deadband / 100
	}
	return math.Abs(a-b) >= band
}

func numeric(k gateway.Kind) bool {
	return k == gateway.KindFloat || k == gateway.KindInt || k == gateway.KindUint
}

// ParseDeadband parses the text form of a deadband: an absolute amount
// ("0.5") or a percentage of the last published value ("5%"). It returns
// the values of Rule.Deadband and Rule.DeadbandPercent.
func ParseDeadband(s string) (deadband float64, percent bool, err error) {
	t := strings.TrimSpace(s)
	if rest, ok := strings.CutSuffix(t, "%"); ok {
		t, percent = strings.TrimSpace(rest), true
	}
	d, err := strconv.ParseFloat(t, 64)
	if err != nil || d < 0 || math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, false, fmt.Errorf("deadband %q: want a number >= 0, or a percentage like \"5%%\"", s)
	}
	return d, percent, nil
}
