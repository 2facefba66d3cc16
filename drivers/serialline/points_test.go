package serialline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

func TestPointReading(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := Fields{"t": f(215), "s": s("ERR"), "b": bl(true), "one": f(1), "n": {}, "txt": s("hi")}
	tests := []struct {
		name       string
		p          Point
		missingBad bool
		wantOK     bool
		want       gateway.Value
		wantErr    error  // with QualityBad
		wantMsg    string // in the error
	}{
		{"as parsed", Point{Name: "t"}, false, true, f(215), nil, ""},
		{"field and scale", Point{Name: "temp", Field: "t", Scale: 0.1, Offset: -1.5}, false, true, f(215*0.1 - 1.5), nil, ""},
		{"offset only", Point{Name: "t", Offset: 5}, false, true, f(220), nil, ""},
		{"string as parsed", Point{Name: "s"}, false, true, s("ERR"), nil, ""},
		{"string to scaled point", Point{Name: "x", Field: "s", Scale: 2}, false, true, gateway.Value{}, ErrNotNumber, `point "x": field "s": value is not a number: got string "ERR"`},
		{"bool to number", Point{Name: "b", Type: TypeNumber}, false, true, gateway.Value{}, ErrNotNumber, "got bool true"},
		{"bool", Point{Name: "b", Type: TypeBool}, false, true, bl(true), nil, ""},
		{"1 as bool", Point{Name: "one", Type: TypeBool}, false, true, bl(true), nil, ""},
		{"number as bool", Point{Name: "t", Type: TypeBool}, false, true, gateway.Value{}, ErrNotBool, "got float 215: want true, false, 0 or 1"},
		{"string type", Point{Name: "t", Type: TypeString}, false, true, s("215"), nil, ""},
		{"null", Point{Name: "n"}, false, true, gateway.Value{}, ErrNull, "value is null"},
		{"missing skipped", Point{Name: "gone"}, false, false, gateway.Value{}, nil, ""},
		{"missing bad", Point{Name: "gone"}, true, true, gateway.Value{}, ErrMissingField, `field "gone": field missing from line`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePoint(tc.p)
			r, ok := p.reading("dev", line, at, tc.missingBad)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if r.Device != "dev" || r.Point != tc.p.Name || !r.Time.Equal(at) {
				t.Errorf("reading = %+v, want device dev, point %s, time %v", r, tc.p.Name, at)
			}
			if tc.wantErr != nil {
				if r.Quality != gateway.QualityBad || !errors.Is(r.Err, tc.wantErr) || !strings.Contains(r.Err.Error(), tc.wantMsg) {
					t.Errorf("reading = %v %v, want bad with %v containing %q", r.Quality, r.Err, tc.wantErr, tc.wantMsg)
				}
				if !r.Value.IsNone() {
					t.Errorf("bad reading has value %#v, want none", r.Value)
				}
				return
			}
			if r.Quality != gateway.QualityGood || r.Err != nil || !r.Value.Equal(tc.want) {
				t.Errorf("reading = %#v %v %v, want %#v good", r.Value, r.Quality, r.Err, tc.want)
			}
		})
	}
}

func TestUnconvert(t *testing.T) {
	p := compilePoint(Point{Name: "sp", Scale: 0.1, Offset: 10})
	if got := p.unconvert(f(31)); !got.Equal(f((31.0 - 10) / 0.1)) {
		t.Errorf("unconvert(31) = %v, want 210", got)
	}
	if got := compilePoint(Point{Name: "x"}).unconvert(s("on")); !got.Equal(s("on")) {
		t.Errorf("unconvert of an unscaled point = %v, want on", got)
	}
}
