package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want.err from the current output")

// TestParseCases runs every folder under testdata: config.toml must produce
// exactly want.err, or parse cleanly when the folder has no want.err.
func TestParseCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/config.toml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, perr := Parse("config.toml", f)
			wantPath := filepath.Join(dir, "want.err")
			if *update && perr != nil {
				if err := os.WriteFile(wantPath, []byte(perr.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantPath)
			if errors.Is(err, os.ErrNotExist) {
				if perr != nil {
					t.Fatalf("want no error, got:\n%v", perr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if perr == nil {
				t.Fatalf("got no error, want:\n%s", want)
			}
			if got := perr.Error() + "\n"; got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			var es Errors
			if !errors.As(perr, &es) || len(es) == 0 {
				t.Errorf("error is %T, want a non-empty Errors", perr)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	f, err := os.Open("testdata/ok-full/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Parse("config.toml", f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Devices[0].Interval.Duration, 250*time.Millisecond; got != want {
		t.Errorf("interval: got %v, want %v", got, want)
	}
	if got := c.Broker.Listeners[0].Protocol; got != "mqtt" {
		t.Errorf("listener protocol default: got %q, want mqtt", got)
	}
	if got := c.Upstream.Forward[0].QoS; got != nil {
		t.Errorf("forward qos: got %d, want nil (the forwarder's default, 1)", *got)
	}
	if got := c.Buffer.MaxBytes.Bytes; got != 10485760 {
		t.Errorf("max_bytes: got %d", got)
	}
	if got := c.Upstream.Password.String(); got != "<redacted>" {
		t.Errorf("password prints as %q, want it redacted", got)
	}
	r := c.Devices[0].Points[0].Rule.Inherit(c.Devices[0].Rule).Inherit(c.Mapping.Rule)
	if r.Topic != DefaultTopic || r.Payload != "value" || *r.QoS != 1 || !*r.Retain {
		t.Errorf("inherited rule: got topic %q payload %q qos %d retain %v", r.Topic, r.Payload, *r.QoS, *r.Retain)
	}
	// Defaults that were not overridden.
	if c.Devices[0].Points[0].Scale != nil {
		t.Error("scale: want nil (unset) by default")
	}
	if got, want := c.Broker.SessionExpiry.Duration, 7*24*time.Hour; got != want {
		t.Errorf("session_expiry default: got %v, want %v", got, want)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "64MB": 64e6, "1GiB": 1 << 30, "512k": 512e3, "1.5 MiB": 3 << 19, "10b": 10} {
		var b ByteSize
		if err := b.UnmarshalTOML(in); err != nil || b.bad != "" || b.Bytes != want {
			t.Errorf("ByteSize(%q) = %d (bad %q), want %d", in, b.Bytes, b.bad, want)
		}
	}
	for _, in := range []any{"lots", "-1MB", int64(-5), 1.5} {
		var b ByteSize
		if b.UnmarshalTOML(in); b.bad == "" {
			t.Errorf("ByteSize(%v): want it marked bad", in)
		}
	}
}

func TestLocator(t *testing.T) {
	src := `# comment
[gateway]
name = "x" # trailing
list = [
  "a]",
  "b",
]
text = """
[[devices]]
not = a table
"""

[[devices]]
name = "a"
  [[devices.points]]
  name = "p0"
  [[devices.points]]
  "quoted key" = 1
  name = 'p1'

[[devices]]
name = "b"
  [[devices.points]]
  wave.kind = "x"
`
	l := newLocator(src)
	for key, want := range map[string]int{
		"gateway":                           2,
		"gateway.name":                      3,
		"gateway.list":                      4,
		"gateway.text":                      8,
		"devices[0]":                        13,
		"devices[0].name":                   14,
		"devices[0].points[1].quoted key":   18,
		"devices[0].points[1].name":         19,
		"devices[1].name":                   22,
		"devices[1].points[0]":              23,
		"devices[1].points[0].wave.kind":    24,
		"devices[1].points[0].missing":      23, // nearest ancestor
		"devices[2]":                        0,
		"devices[0].points[0].name.nothing": 16,
	} {
		if got := l.line(key); got != want {
			t.Errorf("line(%q) = %d, want %d", key, got, want)
		}
	}
	if got := l.occurrences("devices.points.name"); len(got) != 2 {
		t.Errorf("occurrences(devices.points.name) = %v, want 2", got)
	}
}

// TestExampleFile parses config.toml.example, the reference users copy.
func TestExampleFile(t *testing.T) {
	c, err := Load("../config.toml.example")
	if err != nil {
		t.Fatalf("config.toml.example does not load:\n%v", err)
	}
	if len(c.Devices) == 0 || len(c.Broker.Listeners) == 0 || len(c.Upstream.Forward) == 0 {
		t.Errorf("example lacks devices, listeners or forward rules: %+v", c)
	}
}

// TestExampleDocumentsEveryKey fails when a config struct has a key that
// config.toml.example does not show (set, or commented out as "# key = ...").
func TestExampleDocumentsEveryKey(t *testing.T) {
	src, err := os.ReadFile("../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment "# key = value" lines so documented-but-unset keys count.
	var lines []string
	for _, line := range strings.Split(string(src), "\n") {
		trimmed := strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(trimmed, "#"); ok {
			rest = strings.TrimSpace(rest)
			if eq := keyEnd(rest); eq > 0 && !strings.ContainsAny(strings.TrimSpace(rest[:eq]), " \t") || strings.HasPrefix(rest, "[") {
				line = rest
			}
		}
		lines = append(lines, line)
	}
	l := newLocator(strings.Join(lines, "\n"))
	for _, k := range FieldKeys() {
		if len(l.occurrences(k)) == 0 {
			t.Errorf("config.toml.example does not document key %q", k)
		}
	}
	// And every key it shows is a real one.
	for bare := range l.bare {
		if _, ok := fieldKeys()[bare]; !ok {
			t.Errorf("config.toml.example shows %q, which is not a config key", bare)
		}
	}
}
