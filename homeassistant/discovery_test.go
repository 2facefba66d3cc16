package homeassistant

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/edgegw/gateway"
)

func ptr(f float64) *float64 { return &f }

func decode(t *testing.T, e Entity) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Payload, &m); err != nil {
		t.Fatalf("%s: %v", e.Topic, err)
	}
	return m
}

func TestComponents(t *testing.T) {
	base := Config{Gateway: "gw", StatusTopic: "gw/status", Devices: []Device{{Name: "dev", StatusTopic: "gw/dev/status"}}}
	for _, tt := range []struct {
		name string
		p    Point
		want string
		keys map[string]any // expected values of some keys
	}{
		{"number sensor", Point{Kind: gateway.KindFloat, Unit: "°C", Payload: "json"}, Sensor,
			map[string]any{"device_class": "temperature", "state_class": "measurement", "unit_of_measurement": "°C", "value_template": "{{ value_json.value }}"}},
		{"energy", Point{Kind: gateway.KindUint, Unit: "kWh", Payload: "value"}, Sensor,
			map[string]any{"device_class": "energy", "state_class": "total_increasing", "value_template": nil}},
		{"ambiguous unit", Point{Kind: gateway.KindInt, Unit: "%", Payload: "json"}, Sensor,
			map[string]any{"device_class": nil, "state_class": "measurement"}},
		{"co2 by name", Point{Name: "co2", Kind: gateway.KindInt, Unit: "ppm", Payload: "json"}, Sensor,
			map[string]any{"device_class": "carbon_dioxide"}},
		{"ppm not named", Point{Name: "voc", Kind: gateway.KindInt, Unit: "ppm", Payload: "json"}, Sensor,
			map[string]any{"device_class": nil}},
		{"ascii unit", Point{Kind: gateway.KindFloat, Unit: "m3/h", Payload: "json"}, Sensor,
			map[string]any{"device_class": "volume_flow_rate", "unit_of_measurement": "m³/h"}},
		{"bool", Point{Kind: gateway.KindBool, Payload: "json"}, BinarySensor,
			map[string]any{"payload_on": "ON", "command_topic": nil}},
		{"string", Point{Kind: gateway.KindString, Unit: "°C", Payload: "json", Writable: true, CommandTopic: "c"}, Sensor,
			map[string]any{"unit_of_measurement": nil, "command_topic": nil}},
		{"writable number", Point{Kind: gateway.KindInt, Payload: "json", Writable: true, CommandTopic: "gw/dev/p/set", Limits: [2]float64{-32768, 32767}}, Number,
			map[string]any{"command_topic": "gw/dev/p/set", "min": -32768.0, "max": 32767.0, "step": 1.0, "mode": "box", "state_class": nil}},
		{"number range", Point{Kind: gateway.KindFloat, Payload: "json", Writable: true, CommandTopic: "c", Min: ptr(5), Max: ptr(30), Step: 0.5}, Number,
			map[string]any{"min": 5.0, "max": 30.0, "step": 0.5, "mode": nil}},
		{"writable without command topic", Point{Kind: gateway.KindInt, Payload: "json", Writable: true}, Sensor, nil},
		{"writable bool", Point{Kind: gateway.KindBool, Payload: "json", Writable: true, CommandTopic: "c"}, Switch,
			map[string]any{"payload_on": "ON", "payload_off": "OFF", "command_topic": "c"}},
		{"overrides", Point{Kind: gateway.KindFloat, Unit: "°C", Payload: "{{.Value}}", Override: Override{
			Name: "Flue", DeviceClass: None, StateClass: "total", Icon: "mdi:fire", EntityCategory: "diagnostic", ValueTemplate: "{{ value }}"}}, Sensor,
			map[string]any{"name": "Flue", "device_class": nil, "state_class": "total", "icon": "mdi:fire", "entity_category": "diagnostic", "value_template": "{{ value }}"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.p.Device = "dev"
			if tt.p.Name == "" {
				tt.p.Name = "the_point"
			}
			tt.p.StateTopic = "gw/dev/" + tt.p.Name
			c.Points = []Point{tt.p}
			es, err := Entities(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 2 {
				t.Fatalf("got %d entities, want the gateway's and the point's", len(es))
			}
			e := es[1]
			if e.Component != tt.want {
				t.Errorf("component = %s, want %s", e.Component, tt.want)
			}
			if want := "homeassistant/" + tt.want + "/gw_dev/" + tt.p.Name + "/config"; e.Topic != want {
				t.Errorf("topic = %s, want %s", e.Topic, want)
			}
			m := decode(t, e)
			for k, want := range tt.keys {
				if got := m[k]; got != want {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			if m["availability_mode"] != "all" {
				t.Errorf("availability_mode = %v, want all", m["availability_mode"])
			}
			av, _ := json.Marshal(m["availability"])
			if string(av) != `[{"topic":"gw/status"},{"topic":"gw/dev/status"}]` {
				t.Errorf("availability = %s", av)
			}
			dev := m["device"].(map[string]any)
			if dev["via_device"] != "gw" || dev["name"] != "dev" {
				t.Errorf("device = %v", dev)
			}
		})
	}
}

func TestSkipAndDuplicates(t *testing.T) {
	c := Config{Gateway: "gw", Points: []Point{
		{Device: "d", Name: "a", Kind: gateway.KindFloat, Override: Override{Skip: true}},
		{Device: "d", Name: "b.c", Kind: gateway.KindFloat},
	}}
	es, err := Entities(c)
	if err != nil || len(es) != 1 || es[0].Point != "b.c" || !strings.Contains(es[0].Topic, "/gw_d/b_c/") {
		t.Fatalf("got %v, %v; want only b.c, with a topic-safe id", es, err)
	}
	if m := decode(t, es[0]); m["availability"] != nil || m["default_entity_id"] != "sensor.gw_d_b_c" {
		t.Errorf("no status topics: want no availability, got %v; default_entity_id %v", m["availability"], m["default_entity_id"])
	}
	c.Points = append(c.Points, Point{Device: "d", Name: "b/c", Kind: gateway.KindFloat})
	if _, err := Entities(c); err == nil || !strings.Contains(err.Error(), "same Home Assistant unique_id") {
		t.Errorf("b.c and b/c: err = %v, want a collision", err)
	}
}

// recorder is a Sink that keeps what it gets.
type recorder struct{ msgs []gateway.Message }

func (r *recorder) Publish(_ context.Context, m gateway.Message) error {
	r.msgs = append(r.msgs, m)
	return nil
}

func TestAnnouncerClearsRemoved(t *testing.T) {
	mk := func(names ...string) []Entity {
		var ps []Point
		for _, n := range names {
			ps = append(ps, Point{Device: "d", Name: n, Kind: gateway.KindFloat, StateTopic: "gw/d/" + n, Payload: "json"})
		}
		es, err := Entities(Config{Gateway: "gw", Points: ps})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	var rec recorder
	a := NewAnnouncer(&rec)
	if err := a.Set(t.Context(), mk("a", "b")); err != nil {
		t.Fatal(err)
	}
	rec.msgs = nil
	if err := a.Set(t.Context(), mk("a", "c")); err != nil { // b renamed to c
		t.Fatal(err)
	}
	var got []string
	for _, m := range rec.msgs {
		if !m.Retain {
			t.Errorf("%s not retained", m.Topic)
		}
		got = append(got, m.Topic+" "+map[bool]string{true: "empty", false: "config"}[len(m.Payload) == 0])
	}
	want := []string{
		"homeassistant/sensor/gw_d/b/config empty",
		"homeassistant/sensor/gw_d/a/config config",
		"homeassistant/sensor/gw_d/c/config config",
	}
	if !slices.Equal(got, want) {
		t.Errorf("published\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rec.msgs = nil
	if err := a.Republish(t.Context()); err != nil || len(rec.msgs) != 2 {
		t.Errorf("Republish: %d messages, %v; want 2", len(rec.msgs), err)
	}
}

func TestIDs(t *testing.T) {
	for _, tt := range []struct{ in, id, slug string }{
		{"boiler", "boiler", "boiler"},
		{"Kessel 1", "Kessel_1", "kessel_1"},
		{"temp°C", "temp_C", "temp_c"},
		{"_x__y_", "_x__y_", "x_y"},
	} {
		if got := ID(tt.in); got != tt.id {
			t.Errorf("ID(%q) = %q, want %q", tt.in, got, tt.id)
		}
		if got := slug(tt.in); got != tt.slug {
			t.Errorf("slug(%q) = %q, want %q", tt.in, got, tt.slug)
		}
	}
	if !IsOnline([]byte("online\n")) || IsOnline([]byte("offline")) {
		t.Error("IsOnline")
	}
}

func TestOwned(t *testing.T) {
	es, err := Entities(Config{Gateway: "gw 1", StatusTopic: "s", Points: []Point{{Device: "d", Name: "p", Kind: gateway.KindFloat}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if !Owned(e.Payload, "gw 1") || Owned(e.Payload, "gw") {
			t.Errorf("%s: Owned wrong for its own gateway or another", e.Topic)
		}
	}
	if Owned([]byte(`{"device":{"identifiers":["x"],"via_device":"y"}}`), "gw") || Owned([]byte("not json"), "gw") {
		t.Error("Owned: another publisher's config or garbage")
	}
}
