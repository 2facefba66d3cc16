package config_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/serialline"
	"github.com/edgegw/gateway/drivers/sim"
	"github.com/edgegw/gateway/homeassistant"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/upstream"
	"github.com/edgegw/gateway/web"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want.err from the current output")

// testComponents is cmd/gateway's component table, without the compile
// stage.
var testComponents = []config.Component{
	broker.Component(),
	buffer.Component(),
	web.Component(),
	mapping.Component(),
	upstream.Component(),
	homeassistant.Component(),
}

// testDrivers is cmd/gateway's driver table, as config.Parse takes it.
var testDrivers = []config.Driver{
	{Name: "sim", New: sim.NewSection},
	{Name: "serial", New: serialline.NewSection},
	{Name: modbus.DriverTCP, New: modbus.NewTCPSection},
	{Name: modbus.DriverRTU, New: modbus.NewRTUSection},
}

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
			_, perr := config.Parse("config.toml", f, testDrivers, testComponents...)
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
			var es config.Errors
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
	c, err := config.Parse("config.toml", f, testDrivers, testComponents...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Devices[0].Interval.Duration, 250*time.Millisecond; got != want {
		t.Errorf("interval: got %v, want %v", got, want)
	}
	if got := broker.FromSection(c.Broker, c.Gateway.DataDir).Listeners[0].Protocol; got != "mqtt" {
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
	if r.Topic != mapping.DefaultTopic || r.Payload != "value" || *r.QoS != 1 || !*r.Retain {
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

// TestExampleFile parses config.toml.example, the reference users copy.
func TestExampleFile(t *testing.T) {
	c, err := config.Load("../config.toml.example", testDrivers, testComponents...)
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
	shown := config.DocumentedKeys(src)
	keys := config.FieldKeys(testDrivers)
	for _, k := range keys {
		if !slices.Contains(shown, k) {
			t.Errorf("config.toml.example does not document key %q", k)
		}
	}
	// And every key it shows is a real one.
	for _, k := range shown {
		if !slices.Contains(keys, k) {
			t.Errorf("config.toml.example shows %q, which is not a config key", k)
		}
	}
}
