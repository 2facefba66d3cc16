package mapping

import (
	"math"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// clock is a settable clock for WithClock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// step is one reading fed to a Mapper at a time after the start, and
// whether it is expected to be published.
type step struct {
	at   time.Duration
	v    gateway.Value
	q    gateway.Quality
	want bool
}

func good(at time.Duration, v float64, want bool) step {
	return step{at: at, v: gateway.Float(v), want: want}
}

func bad(at time.Duration, want bool) step {
	return step{at: at, q: gateway.QualityBad, want: want}
}

func TestReporting(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		rule  Rule
		steps []step
	}{
		{"no rule publishes everything", Rule{}, []step{
			good(0, 1, true), good(s, 1, true), good(2*s, 1, true),
		}},
		{"on_change", Rule{OnChange: true}, []step{
			good(0, 1, true), good(s, 1, false), good(2*s, 1.001, true), good(3*s, 1.001, false), good(4*s, 1, true),
		}},
		{"on_change bool and string", Rule{OnChange: true, Deadband: 5}, []step{
			{at: 0, v: gateway.Bool(false), want: true},
			{at: s, v: gateway.Bool(false), want: false},
			{at: 2 * s, v: gateway.Bool(true), want: true}, // deadband applies to numbers only
			{at: 3 * s, v: gateway.String("a"), want: true},
			{at: 4 * s, v: gateway.String("a"), want: false},
			{at: 5 * s, v: gateway.String("b"), want: true},
		}},
		{"absolute deadband against the last published value", Rule{OnChange: true, Deadband: 0.5}, []step{
			good(0, 20, true),
			good(s, 20.3, false),
			good(2*s, 20.4, false), // creeping: still measured from 20
			good(3*s, 20.5, true),  // a change equal to the deadband counts
			good(4*s, 20.1, false),
			good(5*s, 19.9, true),
		}},
		{"integer values", Rule{OnChange: true, Deadband: 2}, []step{
			{at: 0, v: gateway.Int(10), want: true},
			{at: s, v: gateway.Int(11), want: false},
			{at: 2 * s, v: gateway.Uint(12), want: true},
			{at: 3 * s, v: gateway.Float(13.5), want: false},
		}},
		{"percent deadband", Rule{OnChange: true, Deadband: 10, DeadbandPercent: true}, []step{
			good(0, 200, true),
			good(s, 219, false),
			good(2*s, 181, false),
			good(3*s, 220, true), // 10% of 200
			good(4*s, 200, false),
			good(5*s, 197, true), // 10% of 220 is 22
			good(6*s, 0, true),
			good(7*s, 0.001, true), // 10% of 0 is 0: any change counts
		}},
		{"quality change always counts", Rule{OnChange: true, Deadband: 100}, []step{
			good(0, 1, true),
			bad(s, true),
			bad(2*s, false),
			good(3*s, 1, true),
			{at: 4 * s, v: gateway.Float(1), q: gateway.QualityUncertain, want: true},
			{at: 5 * s, v: gateway.Float(1), q: gateway.QualityStale, want: true},
		}},
		{"NaN", Rule{OnChange: true, Deadband: 1}, []step{
			good(0, math.NaN(), true), good(s, math.NaN(), false), good(2*s, 1, true), good(3*s, math.NaN(), true),
		}},
		{"heartbeat", Rule{OnChange: true, Heartbeat: 10 * s}, []step{
			good(0, 1, true),
			good(5*s, 1, false),
			good(9*s, 1, false),
			good(10*s, 1, true), // at least every heartbeat
			good(12*s, 2, true),
			good(21*s, 2, false), // the heartbeat counts from the last publication
			good(22*s, 2, true),
		}},
		{"heartbeat alone changes nothing", Rule{Heartbeat: 10 * s}, []step{
			good(0, 1, true), good(s, 1, true),
		}},
		{"min_interval alone rate-limits", Rule{MinInterval: 10 * s}, []step{
			good(0, 1, true), good(3*s, 2, false), good(9*s, 3, false), good(10*s, 4, true), good(11*s, 4, false), good(25*s, 4, true),
		}},
		{"min_interval holds a change until the next reading after it", Rule{OnChange: true, MinInterval: 10 * s}, []step{
			good(0, 1, true),
			good(2*s, 2, false), // held back
			good(4*s, 1, false), // back where it was, but the change is pending
			good(10*s, 1, true), // published once the interval has passed
			good(20*s, 1, false),
			good(21*s, 3, true),
		}},
		{"min_interval wins over a quicker heartbeat", Rule{OnChange: true, Heartbeat: s, MinInterval: 5 * s}, []step{
			good(0, 1, true), good(2*s, 1, false), good(5*s, 1, true),
		}},
		{"min_interval holds back a quality change too", Rule{OnChange: true, MinInterval: 10 * s}, []step{
			good(0, 1, true), bad(s, false), good(2*s, 1, false), good(10*s, 1, true),
		}},
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: start}
			rule := tt.rule
			rule.Topic, rule.Payload = "t/{point}", "json"
			m, err := New("pi", []Point{{Device: "d", Point: "p", Rule: rule}}, WithClock(clk.Now))
			if err != nil {
				t.Fatal(err)
			}
			var suppressed uint64
			for i, st := range tt.steps {
				clk.t = start.Add(st.at)
				r := gateway.Reading{Device: "d", Point: "p", Value: st.v, Quality: st.q, Time: clk.t}
				got := m.Map(r)
				if (len(got) == 1) != st.want {
					t.Errorf("step %d (at %v, %v %v): published %v, want %v", i, st.at, st.v.GoString(), st.q, len(got) == 1, st.want)
				}
				if !st.want {
					suppressed++
				}
			}
			if m.Suppressed() != suppressed {
				t.Errorf("Suppressed() = %d, want %d", m.Suppressed(), suppressed)
			}
		})
	}
}

// TestReportingNilPayload checks that a reading whose format renders
// nothing does not count as published.
func TestReportingNilPayload(t *testing.T) {
	clk := &clock{t: ts}
	m, err := New("pi", []Point{{Device: "d", Point: "p", Rule: Rule{Topic: "t", Payload: "value", OnChange: true}}}, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Map(gateway.Reading{Device: "d", Point: "p", Quality: gateway.QualityBad}); got != nil {
		t.Fatalf("bad reading in the value format: got %+v, want nothing", got)
	}
	if got := m.Map(gateway.Reading{Device: "d", Point: "p", Value: gateway.Int(1)}); len(got) != 1 {
		t.Fatalf("first good reading: got %d messages, want 1", len(got))
	}
}

func TestInherit(t *testing.T) {
	clk := &clock{t: ts}
	rule := Rule{Topic: "t/{point}", Payload: "json", OnChange: true}
	pts := []Point{{Device: "d", Point: "same", Rule: rule}, {Device: "d", Point: "changed", Rule: rule}}
	old, err := New("pi", pts, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pts {
		old.Map(gateway.Reading{Device: "d", Point: p.Point, Value: gateway.Int(1)})
	}
	pts[1].Rule.Topic = "other/{point}"
	m, err := New("pi", pts, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	m.Inherit(old)
	if got := m.Map(gateway.Reading{Device: "d", Point: "same", Value: gateway.Int(1)}); got != nil {
		t.Errorf("unchanged point after reload: got %+v, want it held back (state inherited)", got)
	}
	if got := m.Map(gateway.Reading{Device: "d", Point: "changed", Value: gateway.Int(1)}); len(got) != 1 {
		t.Errorf("changed point after reload: got %d messages, want 1 (fresh state)", len(got))
	}
}

func TestParseDeadband(t *testing.T) {
	tests := []struct {
		in      string
		d       float64
		percent bool
		ok      bool
	}{
		{"0.5", 0.5, false, true},
		{"5%", 5, true, true},
		{" 2.5 % ", 2.5, true, true},
		{"0", 0, false, true},
		{"-1", 0, false, false},
		{"%", 0, false, false},
		{"abc", 0, false, false},
		{"NaN", 0, false, false},
	}
	for _, tt := range tests {
		d, p, err := ParseDeadband(tt.in)
		if (err == nil) != tt.ok || d != tt.d || p != tt.percent {
			t.Errorf("ParseDeadband(%q) = %v, %v, %v; want %v, %v, ok=%v", tt.in, d, p, err, tt.d, tt.percent, tt.ok)
		}
	}
}

func TestCheckReport(t *testing.T) {
	for _, r := range []Rule{
		{Deadband: -1}, {Deadband: math.Inf(1)}, {Heartbeat: -time.Second}, {MinInterval: -1},
	} {
		r.Topic, r.Payload = "t", "json"
		if err := Check("pi", Point{Device: "d", Point: "p", Rule: r}); err == nil {
			t.Errorf("Check(%+v): want an error", r)
		}
	}
}
