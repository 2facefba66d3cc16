package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a TOML string such as "500ms" or "1m". A value that does not
// parse is kept, not rejected during decoding, so that Validate can report it
// together with every other problem in the file.
type Duration struct {
	time.Duration
	bad string // the raw text when it did not parse
}

// Dur returns a valid Duration of d, for defaults and tests.
func Dur(d time.Duration) Duration { return Duration{Duration: d} }

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		d.bad = fmt.Sprint(v)
		return nil
	}
	pd, err := time.ParseDuration(s)
	if err != nil || pd < 0 {
		d.bad = strconv.Quote(s)
		return nil
	}
	d.Duration, d.bad = pd, ""
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// check reports an unparsable duration at path.
func (d Duration) check(p *Problems, path Path) {
	if d.bad != "" {
		p.Add(path, "%s: want a duration such as \"500ms\", \"10s\" or \"1m\"", d.bad)
	}
}

// ByteSize is a size in bytes: a TOML integer, or a string with a unit such
// as "64MB", "1GiB" or "512k" (k/M/G are powers of 1000, Ki/Mi/Gi of 1024).
type ByteSize struct {
	Bytes int64
	bad   string
}

// Size returns a valid ByteSize of n bytes.
func Size(n int64) ByteSize { return ByteSize{Bytes: n} }

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// UnmarshalTOML implements toml.Unmarshaler.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			b.bad = strconv.FormatInt(x, 10)
			return nil
		}
		b.Bytes, b.bad = x, ""
		return nil
	case string:
		n, ok := parseByteSize(x)
		if !ok {
			b.bad = strconv.Quote(x)
			return nil
		}
		b.Bytes, b.bad = n, ""
		return nil
	}
	b.bad = fmt.Sprint(v)
	return nil
}

func parseByteSize(s string) (int64, bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, false
	}
	return int64(f * float64(mult)), true
}

func (b ByteSize) check(p *Problems, path Path) {
	if b.bad != "" {
		p.Add(path, "%s: want a size such as 1048576, \"64MB\" or \"1GiB\"", b.bad)
	}
}

// Check reports, through r at key, a duration that did not parse.
func (d Duration) Check(r Reporter, key string) {
	if d.bad != "" {
		r.Problem(key, "%s: want a duration such as \"500ms\", \"10s\" or \"1m\"", d.bad)
	}
}

// Valid reports whether the duration parsed (or was not given).
func (d Duration) Valid() bool { return d.bad == "" }

// Valid reports whether the size parsed (or was not given).
func (b ByteSize) Valid() bool { return b.bad == "" }
