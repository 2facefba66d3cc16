package config

import (
	"testing"
)

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
