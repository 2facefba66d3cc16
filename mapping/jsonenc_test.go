package mapping

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// jsonRef is the json payload as encoding/json renders it, the reference
// the hand-written encoder must match byte for byte.
type jsonRef struct {
	Value   gateway.Value   `json:"value"`
	Unit    string          `json:"unit,omitempty"`
	TS      string          `json:"ts"`
	Quality gateway.Quality `json:"quality"`
	Error   string          `json:"error,omitempty"`
}

func refJSON(t testing.TB, r gateway.Reading) string {
	p := jsonRef{Value: r.Value, Unit: r.Unit, TS: r.Time.UTC().Format(TimeLayout), Quality: r.Quality}
	if r.Err != nil {
		p.Error = r.Err.Error()
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var jsonStrings = []string{
	"", "°C", `a"b\c`, "tab\there\nnewline\r\b\f", "\x00\x01\x1f\x7f", "<script>&amp;", "\u2028\u2029",
	"bad utf8 \xff\xfe end", "😀 emoji", "\xe2\x82", "plain",
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	values := []gateway.Value{
		{}, gateway.Float(21.5), gateway.Float(math.NaN()), gateway.Float(math.Inf(-1)), gateway.Float(1e21),
		gateway.Float(1e-7), gateway.Float(math.Copysign(0, -1)), gateway.Int(-3), gateway.Uint(math.MaxUint64), gateway.Bool(true),
	}
	for _, s := range jsonStrings {
		values = append(values, gateway.String(s))
	}
	for _, v := range values {
		for _, s := range jsonStrings {
			for _, q := range []gateway.Quality{gateway.QualityGood, gateway.QualityBad, gateway.Quality(9)} {
				r := gateway.Reading{Value: v, Unit: s, Quality: q, Time: ts}
				if q == gateway.QualityBad {
					r.Err = errors.New(s)
				}
				if got, want := string(JSON(r)), refJSON(t, r); got != want {
					t.Errorf("JSON(%#v, unit %q, %v):\n got %s\nwant %s", v, s, q, got, want)
				}
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// TestJSONClockUnsynced: a reading taken before the system clock was
// synchronised says so, since its ts may be days off.
func TestJSONClockUnsynced(t *testing.T) {
	r := gateway.Reading{Value: gateway.Float(1.5), Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ClockUnsynced: true}
	want := `{"value":1.5,"ts":"2026-01-01T00:00:00.000Z","quality":"good","clock":"unsynced"}`
	if got := string(JSON(r)); got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	r.ClockUnsynced = false
	if got := string(JSON(r)); strings.Contains(got, "clock") {
		t.Errorf("JSON of a synchronised reading = %s, want no clock", got)
	}
}
