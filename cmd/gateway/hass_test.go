package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/homeassistant"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/homeassistant/*.json from the current output")

// schemaKey is one line of testdata/homeassistant/schema.txt.
type schemaKey struct {
	typ      string
	required bool
}

// loadSchema reads the schema table: component -> key path -> type.
func loadSchema(t *testing.T) map[string]map[string]schemaKey {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "homeassistant", "schema.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := map[string]map[string]schemaKey{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 3 {
			t.Fatalf("schema.txt: %q: want COMPONENT KEY TYPE [required]", line)
		}
		if s[fs[0]] == nil {
			s[fs[0]] = map[string]schemaKey{}
		}
		s[fs[0]][fs[1]] = schemaKey{typ: fs[2], required: len(fs) > 3 && fs[3] == "required"}
	}
	return s
}

// checkSchema checks a config message against the keys and types Home
// Assistant documents for its component, and a few documented value rules.
func checkSchema(t *testing.T, schema map[string]map[string]schemaKey, component string, payload []byte) {
	t.Helper()
	var cfg map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", component, err)
	}
	keys := map[string]schemaKey{}
	for _, c := range []string{"*", component} {
		for k, v := range schema[c] {
			keys[k] = v
		}
	}
	if len(schema[component]) == 0 {
		t.Fatalf("component %q is not in schema.txt", component)
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := prefix + k
			sk, ok := keys[path]
			if !ok {
				t.Errorf("%s: key %q is not documented for %s", component, path, component)
				continue
			}
			if !typeOK(sk.typ, v) {
				t.Errorf("%s: %s = %v: want a %s", component, path, v, sk.typ)
			}
			switch x := v.(type) {
			case map[string]any:
				walk(path+".", x)
			case []any:
				for _, e := range x {
					if em, ok := e.(map[string]any); ok {
						walk(path+"[].", em)
					}
				}
			}
		}
		for k, sk := range keys {
			rest, ok := strings.CutPrefix(k, prefix)
			if ok && sk.required && !strings.ContainsAny(rest, ".[") {
				if _, set := m[rest]; !set {
					t.Errorf("%s: required key %q missing", component, k)
				}
			}
		}
	}
	walk("", cfg)
	// Documented values.
	oneOf := func(key string, allowed ...string) {
		if v, ok := cfg[key]; ok && !slices.Contains(allowed, v.(string)) {
			t.Errorf("%s: %s = %q: want one of %v", component, key, v, allowed)
		}
	}
	oneOf("availability_mode", "all", "any", "latest")
	oneOf("entity_category", "config", "diagnostic")
	oneOf("state_class", "measurement", "measurement_angle", "total", "total_increasing")
	oneOf("mode", "auto", "box", "slider")
	if step, ok := cfg["step"].(json.Number); ok {
		if f, _ := step.Float64(); f < 0.001 {
			t.Errorf("%s: step %v: Home Assistant wants at least 0.001", component, f)
		}
	}
	if dev, ok := cfg["device"].(map[string]any); ok && dev["identifiers"] == nil && dev["connections"] == nil {
		t.Errorf("%s: a device needs identifiers or connections", component)
	}
}

func typeOK(typ string, v any) bool {
	switch typ {
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		_, err := n.Int64()
		return ok && err == nil
	case "float":
		_, ok := v.(json.Number)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "map":
		_, ok := v.(map[string]any)
		return ok
	case "list":
		_, ok := v.([]any)
		return ok
	}
	return false
}

// TestDiscoveryGolden: the config messages of the demo's points (every
// component kind) match the golden files, and each one uses only keys and
// value types that Home Assistant documents for its component.
// go test ./cmd/gateway -run TestDiscoveryGolden -update-golden rewrites them.
func TestDiscoveryGolden(t *testing.T) {
	cfg := must(demo(t.TempDir()))
	pl, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc := haConfig(cfg, pl)
	hc.Version = "test" // not the build's
	es, err := homeassistant.Entities(hc)
	if err != nil {
		t.Fatal(err)
	}
	schema := loadSchema(t)
	dir := filepath.Join("testdata", "homeassistant")
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.Component] = true
		checkSchema(t, schema, e.Component, e.Payload)
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, e.Payload, "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteString("\n")
		name := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(e.Topic, "homeassistant/"), "/config"), "/", ".") + ".json"
		path := filepath.Join(dir, name)
		if *updateGolden {
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run with -update-golden)", e.Topic, err)
			continue
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("%s differs from %s:\n%s", e.Topic, path, pretty.Bytes())
		}
	}
	for _, c := range homeassistant.Components() {
		if !seen[c] {
			t.Errorf("the demo has no %s: the golden files should cover every component", c)
		}
	}
}

// TestSchemaCheckerRefuses: the schema check catches what Home Assistant
// would not take.
func TestSchemaCheckerRefuses(t *testing.T) {
	schema := loadSchema(t)
	for _, bad := range []string{
		`{"state_topic":"a","object_id":"x","device":{"identifiers":["d"]},"origin":{"name":"o"}}`, // undocumented key
		`{"state_topic":"a","qos":"1","origin":{"name":"o"}}`,                                      // wrong type
		`{"origin":{"name":"o"}}`, // no state_topic
		`{"state_topic":"a","origin":{"name":"o"},"state_class":"sometimes"}`,
	} {
		ft := &testing.T{}
		func() {
			defer func() { _ = recover() }() // Fatalf in a fake T
			checkSchema(ft, schema, "sensor", []byte(bad))
		}()
		if !ft.Failed() {
			t.Errorf("schema check passed %s", bad)
		}
	}
}

func TestRemoteCommandTopic(t *testing.T) {
	rules := []config.Subscribe{
		{Filter: "cloud/+/x"},                             // no prefix: the same topic, if the filter matches
		{Filter: "sites/a/commands/#", LocalPrefix: "gw"}, // literal levels + the rest
		{Filter: "t/#", LocalTopic: "fixed/{topic}/set"},  // a template: reversed
		{Filter: "u/+/v", LocalTopic: "twice/{topic}/{topic}"},
		{Filter: "one/cmd", LocalTopic: "the/one"}, // no {topic}, no wildcard: that topic
		{Filter: "many/+", LocalTopic: "the/many"}, // no {topic}, a wildcard: which one is unknown
		{Filter: "p/#", LocalPrefix: "pre"},        // the remote must match the filter
	}
	for _, tt := range []struct{ local, want string }{
		{"gw/boiler/setpoint/set", "sites/a/commands/boiler/setpoint/set"},
		{"cloud/b/x", "cloud/b/x"},
		{"other/set", ""},
		{"fixed/t/a/set", "t/a"},
		{"fixed/x/a/set", ""}, // x/a: not under t/#
		{"fixed/t/a", ""},     // no /set
		{"twice/u/1/v/u/1/v", "u/1/v"},
		{"twice/u/1/v/u/2/v", ""},
		{"the/one", "one/cmd"},
		{"the/many", ""},
		{"pre/q", "p/q"},
		{"", ""},
	} {
		if got := remoteCommandTopic(rules, tt.local); got != tt.want {
			t.Errorf("remoteCommandTopic(%q) = %q, want %q", tt.local, got, tt.want)
		}
	}
}

func TestStatusMessages(t *testing.T) {
	cfg := must(demo(t.TempDir()))
	birth, will := statusMessages(cfg)
	if birth != nil || will != nil {
		t.Errorf("the demo forwards only demo/meter/#: got birth %v will %v", birth, will)
	}
	q := 0
	cfg.Upstream.Forward = append(cfg.Upstream.Forward, config.Forward{Filter: "demo/#", RemoteTopic: "d/{topic}", QoS: &q})
	birth, will = statusMessages(cfg)
	if birth == nil || will == nil || birth.Topic != "d/demo/status" || string(birth.Payload) != "online" ||
		string(will.Payload) != "offline" || !will.Retain || will.QoS != 0 {
		t.Errorf("birth %+v, will %+v", birth, will)
	}
}

// TestCheckHomeAssistant: check --homeassistant prints the demo's entities
// as a table.
func TestCheckHomeAssistant(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.toml")
	if err := os.WriteFile(path, demoConfig, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"check", "--homeassistant", path}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{
		"COMPONENT      DEVICE     POINT        NAME         DEVICE CLASS      STATE CLASS       UNIT",
		"number         boiler     setpoint     Setpoint     temperature       -                 °C",
		"switch         boiler     running      Running      -                 -                 -",
		"sensor         meter      energy       Energy       energy            total_increasing  Wh",
	} {
		if !strings.Contains(out.String(), row+"\n") {
			t.Errorf("no row %q in:\n%s", row, out.String())
		}
	}
}
