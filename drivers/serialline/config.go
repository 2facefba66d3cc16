package serialline

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/edgegw/gateway/config"
)

// The line formats a device may print (Config.Format).
const (
	FormatJSON  = "json"
	FormatKV    = "kv"
	FormatCSV   = "csv"
	FormatRegex = "regex"
)

// The point types (Point.Type).
const (
	TypeAuto   = ""       // the value as parsed; numeric when scale or offset is set
	TypeNumber = "number" // a float; anything else is a bad reading
	TypeBool   = "bool"   // true/false, or the numbers 0/1
	TypeString = "string" // the field's text, whatever it looks like
)

// The ways to report a configured point that a line does not carry
// (Config.Missing).
const (
	MissingSkip = "skip" // emit nothing for that point and line
	MissingBad  = "bad"  // emit a QualityBad reading
)

// Config is the configuration of one serial line device. Field names follow
// the TOML keys of a [devices.NAME] table with driver = "serial"; zero values
// take the defaults of DefaultConfig.
type Config struct {
	Device string // the device name (the TOML table key), copied into every reading

	Port     string // port, e.g. /dev/serial/by-id/usb-Arduino_Uno_123-if00 (stable across plug-ins)
	Baud     int    // baud; default 9600
	DataBits int    // data_bits: 5, 6, 7 or 8; default 8
	Parity   string // parity: none, even or odd; default none
	StopBits int    // stop_bits: 1 or 2; default 1

	// LineTerminator (line_terminator) ends a line: one byte, or "\r\n".
	// Default "\n"; with "\n" (and "\r\n") a trailing "\r" is dropped.
	LineTerminator string
	// MaxLineLength (max_line_length) is the longest line in bytes, without
	// its terminator; longer lines are counted and dropped. Default 4096.
	MaxLineLength int

	Format        string   // format: json, kv, csv or regex
	PairSeparator string   // pair_separator (kv): default " " (any run of blanks)
	KVSeparator   string   // kv_separator (kv): default "="
	Columns       []string // columns (csv): the field name of each column; "" or "_" skips a column
	Delimiter     string   // delimiter (csv): one character, default ","
	Pattern       string   // pattern (regex): Go RE2 syntax with named groups (?P<name>...)

	// Missing (missing) says what a point whose field a line lacks emits:
	// "skip" (nothing, the default) or "bad" (a QualityBad reading).
	Missing string

	// WriteTemplate (write_template) is a Go text/template rendering a command
	// as one line, e.g. "SET {{.Point}} {{.Value}}"; {{.Raw}} is the value
	// with the point's scale and offset undone. Empty: points are read-only.
	WriteTemplate string

	// ReopenMin and ReopenMax (reopen_min, reopen_max) bound the backoff
	// between attempts to open a port that is missing. Defaults 250ms and 5s.
	ReopenMin time.Duration
	ReopenMax time.Duration

	Points []Point // points
}

// Point is one value taken from each line.
type Point struct {
	Name   string  // name: the point name in readings and topics
	Field  string  // field: the field to read; default Name
	Scale  float64 // scale: the value is value*Scale + Offset; 0 means 1
	Offset float64 // offset
	Unit   string  // unit, copied into readings
	Type   string  // type: "" (auto), number, bool or string
}

// DefaultConfig returns a Config holding every default; the TOML loader
// starts from it. Zero fields of any Config also take these defaults.
func DefaultConfig() Config {
	return Config{
		Baud:           9600,
		DataBits:       8,
		Parity:         "none",
		StopBits:       1,
		LineTerminator: "\n",
		MaxLineLength:  4096,
		PairSeparator:  " ",
		KVSeparator:    "=",
		Delimiter:      ",",
		Missing:        MissingSkip,
		ReopenMin:      250 * time.Millisecond,
		ReopenMax:      5 * time.Second,
	}
}

// withDefaults returns c with its zero fields set from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.Baud, d.Baud)
	setDefault(&c.DataBits, d.DataBits)
	setDefault(&c.Parity, d.Parity)
	setDefault(&c.StopBits, d.StopBits)
	setDefault(&c.LineTerminator, d.LineTerminator)
	setDefault(&c.MaxLineLength, d.MaxLineLength)
	setDefault(&c.PairSeparator, d.PairSeparator)
	setDefault(&c.KVSeparator, d.KVSeparator)
	setDefault(&c.Delimiter, d.Delimiter)
	setDefault(&c.Missing, d.Missing)
	setDefault(&c.ReopenMin, d.ReopenMin)
	setDefault(&c.ReopenMax, d.ReopenMax)
	return c
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Validate reports every problem of c (after defaults) joined with
// errors.Join, or nil. Each message names the key and what was expected.
func (c Config) Validate() error {
	r := config.NewErrReporter()
	c.Check(r)
	return r.Err()
}

// Check reports every problem of c (after defaults) through r, each at its
// key: the one set of rules for a config file (gateway check and run) and
// for Validate.
func (c Config) Check(r config.Reporter) {
	c = c.withDefaults()
	if c.Port == "" {
		r.Problem("port", "missing: want the device path, e.g. /dev/serial/by-id/usb-...")
	}
	if c.Baud < 0 {
		r.Problem("baud", "%d: want a positive rate such as 9600 or 115200", c.Baud)
	}
	if c.DataBits < 5 || c.DataBits > 8 {
		r.Problem("data_bits", "%d: want 5, 6, 7 or 8", c.DataBits)
	}
	if _, ok := parities[c.Parity]; !ok {
		r.Problem("parity", "%q: want none, even or odd", c.Parity)
	}
	if c.StopBits != 1 && c.StopBits != 2 {
		r.Problem("stop_bits", "%d: want 1 or 2", c.StopBits)
	}
	if _, err := terminatorOf(c.LineTerminator); err != nil {
		r.Problem("line_terminator", "%q: %v", c.LineTerminator, err)
	}
	if c.MaxLineLength < 0 {
		r.Problem("max_line_length", "%d: want a positive number of bytes", c.MaxLineLength)
	}
	if c.Missing != MissingSkip && c.Missing != MissingBad {
		r.Problem("missing", "%q: want skip or bad", c.Missing)
	}
	if c.ReopenMin < 0 || c.ReopenMax < c.ReopenMin {
		r.Problem("reopen_min", "%s, reopen_max %s: want 0 < reopen_min <= reopen_max", c.ReopenMin, c.ReopenMax)
	}
	if c.WriteTemplate != "" {
		if _, err := template.New("write_template").Parse(c.WriteTemplate); err != nil {
			r.Problem("write_template", "%v", err)
		}
	}
	fields := c.checkFormat(r)
	c.checkPoints(fields, r)
}

// checkFormat checks the format keys and returns the field names a line
// can have, or nil when any name is possible (json, kv).
func (c Config) checkFormat(r config.Reporter) []string {
	switch c.Format {
	case FormatJSON:
	case FormatKV:
		if c.KVSeparator == "" || strings.TrimSpace(c.KVSeparator) == "" {
			r.Problem("kv_separator", "%q: want a non-blank separator such as \"=\" or \":\"", c.KVSeparator)
		}
		if strings.Contains(c.PairSeparator, c.KVSeparator) || strings.Contains(c.KVSeparator, c.PairSeparator) {
			r.Problem("pair_separator", "%q, kv_separator %q: want two separators that do not contain each other", c.PairSeparator, c.KVSeparator)
		}
	case FormatCSV:
		if _, err := delimiterOf(c.Delimiter); err != nil {
			r.Problem("delimiter", "%q: %v", c.Delimiter, err)
		}
		var names []string
		for i, col := range c.Columns {
			if skipColumn(col) {
				continue
			}
			if slices.Contains(names, col) {
				r.Problem("columns", "[%d] %q: duplicate column name", i, col)
			}
			names = append(names, col)
		}
		if len(names) == 0 {
			r.Problem("columns", "missing: want the name of each CSV column, e.g. [\"t\", \"h\"]")
		}
		return names
	case FormatRegex:
		if c.Pattern == "" {
			r.Problem("pattern", "missing: want a regular expression with named groups, e.g. T=(?P<t>[0-9.]+)")
			return []string{}
		}
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			r.Problem("pattern", "%v", err)
			return nil
		}
		var names []string
		for _, n := range re.SubexpNames() {
			if n != "" {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			r.Problem("pattern", "%q: no named groups: want (?P<name>...) for each field", c.Pattern)
		}
		return names
	case "":
		r.Problem("format", "missing: want json, kv, csv or regex")
	default:
		r.Problem("format", "%q: want json, kv, csv or regex", c.Format)
	}
	return nil
}

func (c Config) checkPoints(fields []string, r config.Reporter) {
	seen := map[string]bool{}
	for i, p := range c.Points {
		pr := r.Elem("points", i, p.Name)
		if p.Name == "" {
			pr.Problem("name", "missing")
		} else if seen[p.Name] {
			pr.Problem("name", "%q: duplicate point name", p.Name)
		}
		seen[p.Name] = true
		field := p.field()
		if fields != nil && field != "" && !slices.Contains(fields, field) {
			key := "field"
			if p.Field == "" {
				key = "name" // the field is the point's name
			}
			pr.Problem(key, "field %q: not a %s field: want one of %s", field, c.Format, strings.Join(fields, ", "))
		}
		switch p.Type {
		case TypeAuto, TypeNumber:
		case TypeBool, TypeString:
			if p.Scale != 0 || p.Offset != 0 {
				pr.Problem("type", "scale and offset need a numeric point, not type %q", p.Type)
			}
		default:
			pr.Problem("type", "%q: want number, bool or string (or none)", p.Type)
		}
	}
}

// field returns the field a point reads.
func (p Point) field() string {
	if p.Field != "" {
		return p.Field
	}
	return p.Name
}

// terminatorOf returns the byte ending a line for the line_terminator key.
func terminatorOf(s string) (byte, error) {
	switch {
	case s == "\r\n":
		return '\n', nil
	case len(s) == 1:
		return s[0], nil
	}
	return 0, errors.New(`want one byte such as "\n" or "\r", or "\r\n"`)
}

// delimiterOf returns the CSV delimiter rune for the delimiter key, with the
// rules of encoding/csv.
func delimiterOf(s string) (rune, error) {
	r, n := utf8.DecodeRuneInString(s)
	if n != len(s) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
		return 0, errors.New(`want one character other than a quote or line break, such as "," or ";"`)
	}
	return r, nil
}
