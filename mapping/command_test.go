package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

func ptr(f float64) *float64 { return &f }

func TestCommandParse(t *testing.T) {
	num := CommandSpec{Kind: gateway.KindFloat, Min: ptr(5), Max: ptr(22)}
	tests := []struct {
		spec    CommandSpec
		payload string
		want    gateway.Value
		err     string // the whole reason; "" for success
	}{
		{num, "21.5", gateway.Float(21.5), ""},
		{num, " 21.5\n", gateway.Float(21.5), ""},
		{num, "0x10", gateway.Float(16), ""},
		{num, "1e1", gateway.Float(10), ""},
		{num, `{"value": 21.5}`, gateway.Float(21.5), ""},
		{num, `{"value":"21.5"}`, gateway.Float(21.5), ""},
		{num, `"21.5"`, gateway.Float(21.5), ""},
		{num, "22", gateway.Float(22), ""}, // the range is inclusive
		{num, "5", gateway.Float(5), ""},
		{num, "25", gateway.Value{}, "25: above max 22"},
		{num, "-3", gateway.Value{}, "-3: below min 5"},
		{num, `{"value":25}`, gateway.Value{}, "25: above max 22"},
		{num, "abc", gateway.Value{}, `"abc": want a number`},
		{num, "true", gateway.Value{}, `"true": want a number`},
		{num, "NaN", gateway.Value{}, `"NaN": want a number`},
		{num, "inf", gateway.Value{}, `"inf": want a number`},
		{num, "", gateway.Value{}, `empty payload: want a value or {"value": ..}`},
		{num, `{"value":null}`, gateway.Value{}, `"{\"value\":null}": no "value"`},
		{num, `{}`, gateway.Value{}, `"{}": no "value"`},
		{num, `{"valeu":1}`, gateway.Value{}, `"{\"valeu\":1}": want {"value": ..}: json: unknown field "valeu"`},
		{num, `{"value":1} x`, gateway.Value{}, `"{\"value\":1} x": want {"value": ..}: data after the object`},
		{num, `{"value":[1]}`, gateway.Value{}, `"[1]": want a number`},
		{num, `{"value":`, gateway.Value{}, `"{\"value\":": want {"value": ..}: unexpected EOF`},
		{num, strings.Repeat("x", 100), gateway.Value{}, `"` + strings.Repeat("x", 40) + `"...: want a number`},
		{CommandSpec{}, "-3", gateway.Float(-3), ""}, // KindNone is a float
		{CommandSpec{Kind: gateway.KindInt}, "-3", gateway.Int(-3), ""},
		{CommandSpec{Kind: gateway.KindInt}, "0x10", gateway.Int(16), ""},
		{CommandSpec{Kind: gateway.KindInt}, "0b101", gateway.Int(5), ""},
		{CommandSpec{Kind: gateway.KindInt}, "21.0", gateway.Int(21), ""},
		{CommandSpec{Kind: gateway.KindInt}, "21.5", gateway.Value{}, "21.5: want an integer"},
		{CommandSpec{Kind: gateway.KindInt}, "1e30", gateway.Value{}, "1e30: out of range for an integer"},
		{CommandSpec{Kind: gateway.KindInt}, "x", gateway.Value{}, `"x": want an integer`},
		{CommandSpec{Kind: gateway.KindInt, Max: ptr(100)}, "101", gateway.Value{}, "101: above max 100"},
		{CommandSpec{Kind: gateway.KindUint}, "65535", gateway.Uint(65535), ""},
		{CommandSpec{Kind: gateway.KindUint}, "-1", gateway.Value{}, "-1: want an integer >= 0"},
		{CommandSpec{Kind: gateway.KindUint}, "2.0", gateway.Uint(2), ""},
		{CommandSpec{Kind: gateway.KindBool}, "true", gateway.Bool(true), ""},
		{CommandSpec{Kind: gateway.KindBool}, "ON", gateway.Bool(true), ""},
		{CommandSpec{Kind: gateway.KindBool}, "1", gateway.Bool(true), ""},
		{CommandSpec{Kind: gateway.KindBool}, "off", gateway.Bool(false), ""},
		{CommandSpec{Kind: gateway.KindBool}, "0", gateway.Bool(false), ""},
		{CommandSpec{Kind: gateway.KindBool}, `{"value":false}`, gateway.Bool(false), ""},
		{CommandSpec{Kind: gateway.KindBool}, `{"value":1}`, gateway.Bool(true), ""},
		{CommandSpec{Kind: gateway.KindBool}, "2", gateway.Value{}, `"2": want true, false, on, off, 1 or 0`},
		{CommandSpec{Kind: gateway.KindString}, " hello world ", gateway.String(" hello world "), ""},
		{CommandSpec{Kind: gateway.KindString}, `"quoted"`, gateway.String("quoted"), ""},
		{CommandSpec{Kind: gateway.KindString}, `{"value":"x"}`, gateway.String("x"), ""},
		{CommandSpec{Kind: gateway.KindString}, `{"value":5}`, gateway.String("5"), ""},
		{CommandSpec{Kind: gateway.KindString}, "", gateway.String(""), ""},
	}
	for _, tt := range tests {
		got, err := tt.spec.Parse([]byte(tt.payload))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidCommand) {
				t.Errorf("%v Parse(%q): got %#v, %v; want error %s (an ErrInvalidCommand)", tt.spec.Kind, tt.payload, got, err, tt.err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%v Parse(%q) = %#v, %v; want %#v", tt.spec.Kind, tt.payload, got, err, tt.want)
		}
	}
}

func TestNewCommandsErrors(t *testing.T) {
	w := func(dev, pt, topic string) CommandSpec {
		return CommandSpec{Device: dev, Point: pt, Writable: true, CommandTopic: topic}
	}
	tests := []struct {
		name  string
		specs []CommandSpec
		err   string // "" for success
	}{
		{"defaults", []CommandSpec{w("a", "x", ""), w("a", "y", ""), w("b", "x", "")}, ""},
		{"same topic", []CommandSpec{w("a", "x", "{gateway}/{device}/set"), w("a", "y", "{gateway}/{device}/set")},
			`command for a/y: topic "pi/a/set" is also the command topic of a/x`},
		{"a read-only point may share a topic", []CommandSpec{w("a", "x", "t"), {Device: "a", Point: "y", CommandTopic: "t"}}, ""},
		{"read-only points may share a topic", []CommandSpec{{Device: "a", Point: "x", CommandTopic: "t"}, {Device: "a", Point: "y", CommandTopic: "t"}}, ""},
		{"a result topic", []CommandSpec{w("a", "x", "t"), w("a", "y", "t/result")},
			`command for a/y: topic "t/result" is the result topic of a/x's command topic "t"`},
		{"wildcard", []CommandSpec{w("a", "x", "{device}/+/set")}, "command for a/x: topic \"{device}/+/set\": expands to \"a/+/set\", which contains a wildcard"},
		{"bad placeholder", []CommandSpec{w("a", "x", "{nope}")}, "unknown placeholder {nope}"},
		{"a point twice", []CommandSpec{w("a", "x", "t1"), w("a", "x", "t2")}, "command for a/x: point given twice"},
		{"min above max", []CommandSpec{{Device: "a", Point: "x", Min: ptr(3), Max: ptr(2)}}, "command for a/x: min 3 is above max 2"},
		{"range on a bool", []CommandSpec{{Device: "a", Point: "x", Kind: gateway.KindBool, Max: ptr(2)}}, "max: only a numeric point has a range, and this one is bool"},
		{"every problem", []CommandSpec{w("a", "x", "{nope}"), w("a", "y", "+")}, "{nope}"},
	}
	for _, tt := range tests {
		_, err := NewCommands("pi", tt.specs)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: NewCommands: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: NewCommands: got error %v, want one containing %q", tt.name, err, tt.err)
		}
	}
	_, err := NewCommands("pi", []CommandSpec{w("a", "x", "{nope}"), w("a", "y", "+")})
	if err == nil || !strings.Contains(err.Error(), "a/x") || !strings.Contains(err.Error(), "a/y") {
		t.Errorf("two bad specs: got %v, want both named", err)
	}
}

func TestCommandsRoute(t *testing.T) {
	clk := &clock{t: ts}
	c, err := NewCommands("pi", []CommandSpec{
		{Device: "boiler", Point: "setpoint", Kind: gateway.KindFloat, Min: ptr(5), Max: ptr(22), Writable: true},
		{Device: "boiler", Point: "pump", Kind: gateway.KindBool, Writable: true, CommandTopic: "cmd/{device}/{point}"},
		{Device: "boiler", Point: "temp", Kind: gateway.KindFloat},
	}, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.Topics(), " "), "cmd/boiler/pump pi/boiler/setpoint/set"; got != want {
		t.Errorf("Topics() = %s, want %s", got, want)
	}
	const stamp = `"ts":"2026-11-21T22:30:00.123Z"`
	tests := []struct {
		topic, payload string
		want           Command
		is             error // nil for success
		result         string
	}{
		{"pi/boiler/setpoint/set", "21.5", Command{"pi/boiler/setpoint/set", "boiler", "setpoint", gateway.Float(21.5)}, nil,
			`{"ok":true,"value":21.5,` + stamp + `}`},
		{"cmd/boiler/pump", `{"value":"on"}`, Command{"cmd/boiler/pump", "boiler", "pump", gateway.Bool(true)}, nil,
			`{"ok":true,"value":true,` + stamp + `}`},
		{"pi/boiler/setpoint/set", "25", Command{"pi/boiler/setpoint/set", "boiler", "setpoint", gateway.Value{}}, ErrInvalidCommand,
			`{"ok":false,"error":"25: above max 22",` + stamp + `}`},
		{"pi/boiler/setpoint/set", `"abc"`, Command{"pi/boiler/setpoint/set", "boiler", "setpoint", gateway.Value{}}, ErrInvalidCommand,
			`{"ok":false,"error":"\"abc\": want a number",` + stamp + `}`},
		{"pi/boiler/temp/set", "21", Command{"pi/boiler/temp/set", "boiler", "temp", gateway.Value{}}, gateway.ErrNotWritable,
			`{"ok":false,"error":"point is not writable",` + stamp + `}`},
		{"pi/boiler/nope/set", "1", Command{Topic: "pi/boiler/nope/set"}, gateway.ErrUnknownPoint,
			`{"ok":false,"error":"command topic \"pi/boiler/nope/set\": unknown point",` + stamp + `}`},
	}
	for _, tt := range tests {
		got, err := c.Route(tt.topic, []byte(tt.payload))
		if (tt.is == nil) != (err == nil) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("Route(%q, %q): error %v, want %v", tt.topic, tt.payload, err, tt.is)
		}
		if got != tt.want {
			t.Errorf("Route(%q, %q) = %+v, want %+v", tt.topic, tt.payload, got, tt.want)
		}
		m := c.Result(got, err)
		if m.Topic != tt.topic+"/result" || string(m.Payload) != tt.result || m.QoS != 1 || m.Retain || !m.Time.Equal(ts) {
			t.Errorf("Result of %q %q = %s %s (qos %d retain %v at %v), want %s/result %s", tt.topic, tt.payload,
				m.Topic, m.Payload, m.QoS, m.Retain, m.Time, tt.topic, tt.result)
		}
	}
	// A write that fails at the device reports the value it tried.
	cmd, err := c.Route("pi/boiler/setpoint/set", []byte("20"))
	if err != nil {
		t.Fatal(err)
	}
	clk.t = ts.Add(time.Second)
	m := c.Result(cmd, errors.New("write slave 1 holding 10: timeout"))
	if want := `{"ok":false,"value":20,"error":"write slave 1 holding 10: timeout","ts":"2026-11-21T22:30:01.123Z"}`; string(m.Payload) != want {
		t.Errorf("failed write result: got %s, want %s", m.Payload, want)
	}
}

func FuzzCommandParse(f *testing.F) {
	for _, s := range []string{"21.5", "0x10", `{"value":1}`, "on", `"x"`, "", "{", "1e400"} {
		f.Add(s)
	}
	specs := []CommandSpec{
		{Kind: gateway.KindFloat, Min: ptr(-10), Max: ptr(10)}, {Kind: gateway.KindInt}, {Kind: gateway.KindUint},
		{Kind: gateway.KindBool}, {Kind: gateway.KindString},
	}
	f.Fuzz(func(t *testing.T, payload string) {
		for _, s := range specs {
			v, err := s.Parse([]byte(payload))
			if err != nil {
				if !errors.Is(err, ErrInvalidCommand) {
					t.Errorf("%v Parse(%q): error %v is not an ErrInvalidCommand", s.Kind, payload, err)
				}
				continue
			}
			if v.Kind() != s.Kind {
				t.Errorf("%v Parse(%q) = %#v: wrong kind", s.Kind, payload, v)
			}
			if f, ok := v.Float64(); ok && s.Kind == gateway.KindFloat && (f < -10 || f > 10) {
				t.Errorf("%v Parse(%q) = %v: out of range", s.Kind, payload, f)
			}
		}
	})
}
