package serialline

import (
	"strings"
	"testing"
)

func validKV() Config {
	return Config{Device: "probe", Port: "/dev/serial/by-id/usb-x", Format: FormatKV,
		Points: []Point{{Name: "temp", Field: "t", Scale: 0.1, Unit: "°C"}, {Name: "h"}}}
}

func TestValidateOK(t *testing.T) {
	cfgs := map[string]Config{
		"kv defaults": validKV(),
		"json":        {Port: "/dev/ttyUSB0", Format: FormatJSON, Points: []Point{{Name: "a.b"}}},
		"csv":         {Port: "/dev/ttyUSB0", Format: FormatCSV, Columns: []string{"t", "_", "h"}, Delimiter: ";", Points: []Point{{Name: "t"}}},
		"regex":       {Port: "/dev/ttyUSB0", Format: FormatRegex, Pattern: `T=(?P<t>\S+)`, Points: []Point{{Name: "temp", Field: "t", Type: TypeNumber}}},
		"everything": {Port: "/dev/ttyAMA0", Baud: 115200, DataBits: 7, Parity: "even", StopBits: 2, LineTerminator: "\r\n",
			MaxLineLength: 100, Format: FormatKV, PairSeparator: ";", KVSeparator: ":", Missing: MissingBad,
			WriteTemplate: "SET {{.Point}} {{.Value}}", Points: []Point{{Name: "on", Type: TypeBool}}},
		"no points": {Port: "/dev/ttyUSB0", Format: FormatJSON},
	}
	for name, cfg := range cfgs {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // each must appear in the joined error
	}{
		{"everything wrong at once", func(c *Config) {
			c.Port, c.DataBits, c.Parity, c.StopBits, c.Format = "", 9, "mark", 3, "xml"
		}, []string{
			"port: missing: want the device path, e.g. /dev/serial/by-id/",
			"data_bits: 9: want 5, 6, 7 or 8",
			`parity: "mark": want none, even or odd`,
			"stop_bits: 3: want 1 or 2",
			`format: "xml": want json, kv, csv or regex`,
		}},
		{"no format", func(c *Config) { c.Format = "" }, []string{"format: missing"}},
		{"bad terminator", func(c *Config) { c.LineTerminator = "END" }, []string{`line_terminator: "END": want one byte`}},
		{"negative lengths", func(c *Config) { c.MaxLineLength, c.Baud = -1, -5 }, []string{"max_line_length: -1", "baud: -5"}},
		{"missing mode", func(c *Config) { c.Missing = "zero" }, []string{`missing: "zero": want skip or bad`}},
		{"template", func(c *Config) { c.WriteTemplate = "{{.Point" }, []string{"write_template: template:"}},
		{"kv separators", func(c *Config) { c.PairSeparator, c.KVSeparator = "==", "=" }, []string{"do not contain each other"}},
		{"kv blank separator", func(c *Config) { c.KVSeparator = " " }, []string{`kv_separator: " ": want a non-blank`}},
		{"points", func(c *Config) {
			c.Points = []Point{{Name: ""}, {Name: "a"}, {Name: "a"}, {Name: "b", Type: "int"}, {Name: "c", Type: TypeBool, Scale: 2}}
		}, []string{
			"points[0]: name: missing",
			`points[2] "a": name: "a": duplicate point name`,
			`points[3] "b": type: "int": want number, bool or string`,
			`points[4] "c": type: scale and offset need a numeric point`,
		}},
		{"csv", func(c *Config) {
			c.Format, c.Delimiter, c.Columns = FormatCSV, `"`, []string{"t", "t", "_"}
			c.Points = []Point{{Name: "x"}}
		}, []string{
			`delimiter: "\"": want one character`,
			`columns: [1] "t": duplicate column name`,
			`points[0] "x": name: field "x": not a csv field: want one of t`,
		}},
		{"csv no columns", func(c *Config) { c.Format, c.Points = FormatCSV, nil }, []string{"columns: missing"}},
		{"regex missing", func(c *Config) { c.Format = FormatRegex }, []string{"pattern: missing"}},
		{"regex invalid", func(c *Config) { c.Format, c.Pattern = FormatRegex, "(" }, []string{"pattern: error parsing regexp"}},
		{"regex unnamed", func(c *Config) { c.Format, c.Pattern, c.Points = FormatRegex, "(a)", nil }, []string{`pattern: "(a)": no named groups`}},
		{"regex field", func(c *Config) { c.Format, c.Pattern = FormatRegex, `(?P<t>\d+)` }, []string{`points[1] "h": name: field "h": not a regex field: want one of t`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validKV()
			tc.modify(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() =\n%v\nwant it to contain %q", err, w)
				}
			}
			if _, nerr := New(cfg, discard()); nerr == nil {
				t.Errorf("New accepted a config Validate rejects")
			}
		})
	}
}

func TestDefaultsFillZeroFields(t *testing.T) {
	got := Config{}.withDefaults()
	want := DefaultConfig()
	if got.Baud != want.Baud || got.MaxLineLength != 4096 || got.LineTerminator != "\n" || got.Parity != "none" {
		t.Errorf("withDefaults() = %+v, want the values of DefaultConfig %+v", got, want)
	}
}
