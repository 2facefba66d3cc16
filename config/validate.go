package config

import (
	"maps"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
)

func (c *Config) applyDefaults() {
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Interval.Duration == 0 && d.Interval.bad == "" {
			d.Interval = Dur(DefaultInterval)
		}
	}
}

// validate checks every value of the file's own tables and the common
// keys of devices, adding each problem to p; the components' tables are
// checked by their packages (Component.Check).
func (c *Config) validate(p *Problems) {
	c.checkValues(p)
	g := At("gateway")
	checkLevel(p, g.Key("name"), c.Gateway.Name)
	if c.Gateway.DataDir == "" {
		p.Add(g.Key("data_dir"), "missing: want a directory the gateway may write, e.g. \"/var/lib/gateway\"")
	}
	oneOf(p, g.Key("log_level"), c.Gateway.LogLevel, LogLevels)
	oneOf(p, g.Key("log_format"), c.Gateway.LogFormat, LogFormats)
	c.Upstream.validate(p)
	c.validateDevices(p)
}

var (
	fieldKeysOnce sync.Once
	fieldKeysMap  map[string]struct{}
)

// fieldKeys returns every bare key path the Config structs define, such as
// "devices.points.wave"; embedded structs are flattened as the decoder does.
func fieldKeys() map[string]struct{} {
	fieldKeysOnce.Do(func() {
		fieldKeysMap = map[string]struct{}{}
		walkKeys(reflect.TypeFor[Config](), "", func(k string) { fieldKeysMap[k] = struct{}{} })
	})
	return fieldKeysMap
}

// FieldKeys returns every key path the config structs and the drivers'
// sections define, sorted, e.g. "devices.points.wave". The example-file
// test uses it.
func FieldKeys(drivers []Driver) []string {
	var ks []string
	for k := range fieldKeys() {
		ks = append(ks, k)
	}
	for _, d := range drivers {
		sk := sectionKeys(d.New())
		for _, k := range sk[0] {
			ks = append(ks, "devices."+k)
		}
		for _, k := range sk[1] {
			ks = append(ks, "devices.points."+k)
		}
	}
	slices.Sort(ks)
	return slices.Compact(ks)
}

// DocumentedKeys returns the bare key paths a reference file such as
// config.toml.example shows, set or commented out as "# key = ...", sorted.
func DocumentedKeys(src []byte) []string {
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
	return slices.Sorted(maps.Keys(l.bare))
}

func walkKeys(t reflect.Type, prefix string, visit func(string)) {
	for f := range t.Fields() {
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if !f.IsExported() && !(f.Anonymous && ft.Kind() == reflect.Struct) {
			continue // the decoder takes the fields of embedded unexported structs
		}
		if f.Anonymous {
			walkKeys(ft, prefix, visit)
			continue
		}
		name := strings.Split(f.Tag.Get("toml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		visit(key)
		if ft.Kind() == reflect.Struct && !isValueType(ft) {
			walkKeys(ft, key+".", visit)
		}
	}
}

// isValueType reports whether t decodes from one TOML value, not a table.
func isValueType(t reflect.Type) bool {
	return t == reflect.TypeFor[Duration]() || t == reflect.TypeFor[ByteSize]() || t == reflect.TypeFor[Deadband]()
}

// CheckAddress reports, through r at key, an address that is missing or
// not host:port; example shows one.
func CheckAddress(r Reporter, key, addr, example string) {
	if addr == "" {
		r.Problem(key, "missing: want host:port, e.g. %q", example)
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		r.Problem(key, "%q: want host:port, e.g. %q", addr, example)
	}
}

// oneOf reports a value that is not one of allowed.
func oneOf(p *Problems, path Path, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		p.Add(path, "%q: want %s", v, orList(allowed))
	}
}

// orList renders a, b or c.
func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	out := ""
	for i, x := range xs[:len(xs)-1] {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out + " or " + xs[len(xs)-1]
}

// IsLoopback reports whether addr's host is a loopback address or localhost.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
