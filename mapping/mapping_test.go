package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

var ts = time.Date(2026, 11, 21, 22, 30, 0, 123456789, time.UTC)

func TestExpandTopic(t *testing.T) {
	n := Names{Gateway: "pi", Device: "boiler", Point: "temp", Unit: "degC"}
	tests := []struct {
		tmpl, want, err string
	}{
		{"{gateway}/{device}/{point}", "pi/boiler/temp", ""},
		{"site/{device}/{point}/{unit}", "site/boiler/temp/degC", ""},
		{"plain/topic", "plain/topic", ""},
		{"{gateway}/{devcie}", "", "unknown placeholder {devcie}"},
		{"{gateway", "", "unclosed {"},
		{"{gateway}/+/x", "", "wildcard"},
		{"", "", "empty topic"},
	}
	for _, tt := range tests {
		got, err := ExpandTopic(tt.tmpl, n)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ExpandTopic(%q): got error %v, want one containing %q", tt.tmpl, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ExpandTopic(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

func TestFormats(t *testing.T) {
	good := gateway.Reading{Device: "boiler", Point: "temp", Unit: "°C", Value: gateway.Float(21.5), Time: ts}
	bad := gateway.Reading{Device: "boiler", Point: "temp", Quality: gateway.QualityBad, Err: errors.New("timeout"), Time: ts}
	tests := []struct {
		format string
		r      gateway.Reading
		want   string // "<nil>" for no payload
	}{
		{"json", good, `{"value":21.5,"unit":"°C","ts":"2026-11-21T22:30:00.123Z","quality":"good"}`},
		{"json", bad, `{"value":null,"ts":"2026-11-21T22:30:00.123Z","quality":"bad","error":"timeout"}`},
		{"json", gateway.Reading{Value: gateway.Bool(true), Time: ts}, `{"value":true,"ts":"2026-11-21T22:30:00.123Z","quality":"good"}`},
		{"json", gateway.Reading{Value: gateway.Uint(18446744073709551615), Time: ts}, `{"value":18446744073709551615,"ts":"2026-11-21T22:30:00.123Z","quality":"good"}`},
		{"value", good, "21.5"},
		{"value", bad, "<nil>"},
		{"{{.Device}}.{{.Point}}={{.Value}}{{.Unit}} {{.Quality}}", good, "boiler.temp=21.5°C good"},
	}
	for _, tt := range tests {
		f, err := ParseFormat(tt.format)
		if err != nil {
			t.Fatalf("ParseFormat(%q): %v", tt.format, err)
		}
		got := "<nil>"
		if b := f(tt.r); b != nil {
			got = string(b)
		}
		if got != tt.want {
			t.Errorf("format %q of %+v:\n got %s\nwant %s", tt.format, tt.r, got, tt.want)
		}
	}
	for _, f := range []string{"xml", "{{.Nope}}", "{{.Value"} {
		if _, err := ParseFormat(f); err == nil {
			t.Errorf("ParseFormat(%q): want an error", f)
		}
	}
}

func TestMapper(t *testing.T) {
	m, err := New("pi", []Point{
		{Device: "boiler", Point: "temp", Unit: "C", Rule: Rule{Topic: "{gateway}/{device}/{point}", Payload: "value", QoS: 1, Retain: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Map(gateway.Reading{Device: "boiler", Point: "temp", Value: gateway.Int(-3), Time: ts})
	want := gateway.Message{Topic: "pi/boiler/temp", Payload: []byte("-3"), QoS: 1, Retain: true, Time: ts}
	if len(got) != 1 || got[0].Topic != want.Topic || string(got[0].Payload) != string(want.Payload) ||
		got[0].QoS != want.QoS || got[0].Retain != want.Retain || !got[0].Time.Equal(ts) {
		t.Errorf("Map: got %+v, want [%+v]", got, want)
	}
	if got := m.Map(gateway.Reading{Device: "boiler", Point: "other"}); got != nil || m.Unmapped() != 1 {
		t.Errorf("unmapped point: got %+v (unmapped %d), want nothing and a count of 1", got, m.Unmapped())
	}
	if _, err := New("pi", []Point{{Device: "d", Point: "p", Rule: Rule{Topic: "{x}", Payload: "json"}}}); err == nil {
		t.Error("New with a bad topic template: want an error")
	}
}
