// Package config decodes and validates the gateway's one TOML file.
//
// Loading has three stages: decode the TOML into the tagged structs of this
// package (unknown keys are errors), validate the values, collecting every
// problem with its file, line and key path, and compile into the
// ready-to-run configurations of each package. This package keeps what
// concerns the file: syntax, unknown keys, values that do not parse, the
// line of each key, the [gateway] table and the keys every device and
// point has. Each component's table (broker, buffer, web, mapping,
// upstream) and each driver's keys have their defaults, rules and
// compiling in the component's or driver's package, which reports through
// a Reporter; cmd/gateway holds the tables of components and drivers.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/edgegw/gateway"
)

// Config is the whole configuration file.
type Config struct {
	Gateway  Gateway  `toml:"gateway"`
	Broker   Broker   `toml:"broker"`
	Upstream Upstream `toml:"upstream"`
	Buffer   Buffer   `toml:"buffer"`
	Web      Web      `toml:"web"`
	Mapping  Mapping  `toml:"mapping"`
	Devices  []Device `toml:"devices"`

	HomeAssistant HomeAssistant `toml:"homeassistant"`

	file    string
	loc     *locator
	drivers []Driver
}

// Gateway is the [gateway] table.
type Gateway struct {
	Name      string `toml:"name"`       // this gateway's name, the {gateway} in topics
	DataDir   string `toml:"data_dir"`   // where databases live
	LogLevel  string `toml:"log_level"`  // debug|info|warn|error
	LogFormat string `toml:"log_format"` // text|json
	// Availability (online/offline, retained): the gateway's status topic
	// ({gateway}) and each device's ({gateway}, {device}); "" for none.
	StatusTopic       string `toml:"status_topic"`
	DeviceStatusTopic string `toml:"device_status_topic"`
}

// Web is the [web] table: the status page and API. Its defaults, rules and
// compiling are the web package's (web.DefaultSection, web.CheckSection,
// web.FromSection); this is its shape in the file.
type Web struct {
	Address string         `toml:"address"` // host:port; "" disables the web server
	Token   gateway.Secret `toml:"token"`   // bearer token; required (or a password_file) off loopback
	// HTTPS for the page: PEM certificate chain and private key (both or neither).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Log levels and formats accepted by [gateway].
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"text", "json"}
)

// Default returns the configuration every file starts from: the defaults
// of [gateway] and [homeassistant]. Each component's table starts from the
// defaults its package sets (Component.Default).
func Default() Config {
	return Config{
		Gateway: Gateway{
			Name:      "gateway",
			DataDir:   "/var/lib/gateway",
			LogLevel:  "info",
			LogFormat: "text",

			StatusTopic:       DefaultStatusTopic,
			DeviceStatusTopic: DefaultDeviceStatusTopic,
		},
	}
}

// DefaultInterval is a device's poll interval when it names none.
const DefaultInterval = time.Second

// Check is a component's check of the decoded config: the rules that live
// in the component's package (e.g. the forwarder's), reported through p at
// the keys they concern. It runs even when other keys have problems, so
// every problem is reported at once.
type Check func(c *Config, p *Problems)

// Component is one row of the component table (cmd/gateway holds it): a
// part of the file whose defaults and rules live in the component's
// package, as a driver's keys live in the driver's (Driver).
type Component struct {
	Name string // the table, e.g. "broker", for people
	// Default sets the component's defaults in c before the file is
	// decoded over them; nil for none.
	Default func(c *Config)
	// Check reports the problems the component's rules find in the
	// decoded c; nil for none.
	Check Check
	// Files lists the files c names for the component (their keys from
	// the file's root, see Under) that it opens when it starts, for the
	// check of this machine; nil for none.
	Files func(c *Config) []File
}

// Load reads, decodes and validates the file at path; drivers is the
// driver table, which decodes and checks each device's driver keys, and
// components the component table.
func Load(path string, drivers []Driver, components ...Component) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, bytes.NewReader(b), drivers, components...)
}

// LoadWithProblems is Load for callers that go on past a config's
// problems (`gateway doctor`): with the problems it returns the config as
// decoded, nil only when the file could not be read or decoded (a syntax
// error, a value of the wrong type). The values a problem names may be
// invalid, so the caller must leave alone what depends on them
// (Errors.Has).
func LoadWithProblems(path string, drivers []Driver, components ...Component) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return parse(path, bytes.NewReader(b), drivers, components...)
}

// Parse decodes and validates a config read from r; name is used in error
// messages, drivers is the driver table, components the component table.
// It has no side effects. The error, if any, is an Errors holding every
// problem found (a syntax error stops decoding, so it comes alone).
func Parse(name string, r io.Reader, drivers []Driver, components ...Component) (*Config, error) {
	c, err := parse(name, r, drivers, components...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parse is Parse, returning the config also when it has problems (as long
// as it decoded).
func parse(name string, r io.Reader, drivers []Driver, components ...Component) (*Config, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	c := Default()
	for _, comp := range components {
		if comp.Default != nil {
			comp.Default(&c)
		}
	}
	c.file = name
	c.drivers = drivers
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&c)
	if err != nil {
		return nil, Errors{decodeError(name, err)}
	}
	c.loc = newLocator(string(src))
	p := c.Problems()
	// Each device's driver decodes its own keys from the device's table.
	var raw struct {
		Devices []toml.Primitive `toml:"devices"`
	}
	rawMD, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&raw)
	if err != nil {
		return nil, Errors{decodeError(name, err)}
	}
	for i := range c.Devices {
		if i < len(raw.Devices) {
			c.decodeSection(p, rawMD, raw.Devices[i], i)
		}
	}
	seen := map[string]bool{}
	for _, k := range md.Undecoded() {
		if k[0] == "devices" && len(k) > 1 {
			continue // decodeSection has checked the device keys
		}
		// Undecoded lists a key once per array element that has it; the
		// locator finds every occurrence itself.
		if !seen[k.String()] {
			seen[k.String()] = true
			c.unknownKey(p, k)
		}
	}
	c.applyDefaults()
	c.validate(p)
	for _, comp := range components {
		if comp.Check != nil {
			comp.Check(&c, p)
		}
	}
	return &c, p.Err()
}

// decodeSection decodes device i's driver keys into its Section and
// reports the keys neither the device nor its driver has.
func (c *Config) decodeSection(p *Problems, md toml.MetaData, prim toml.Primitive, i int) {
	d := &c.Devices[i]
	var keys map[string]any
	if err := md.PrimitiveDecode(prim, &keys); err != nil {
		return // the whole-file decode has accepted it: cannot happen
	}
	drv, known := findDriver(c.drivers, d.Driver)
	var own [2][]string
	if known {
		sec := drv.New()
		if err := md.PrimitiveDecode(prim, sec); err != nil {
			e := decodeError(c.file, err)
			if e.Line == 0 {
				e.Line = c.loc.line(c.DevicePath(i).locKey())
			}
			if e.Key == "" {
				e.Key = c.DevicePath(i).String()
			}
			p.errs = append(p.errs, e)
		} else {
			d.Section = sec
		}
		own = sectionKeys(sec)
	}
	check := func(m map[string]any, level int, path Path) {
		common := commonKeys()[level]
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if k == "points" && level == 0 || slices.Contains(common, k) || slices.Contains(own[level], k) {
				continue
			}
			if !known {
				continue // the driver is reported; its keys cannot be judged
			}
			if others := c.owners(k, level); others != "" {
				p.Add(path.Key(k), "not a key of driver %q (it belongs to %s)", d.Driver, others)
				continue
			}
			hint := ""
			if s := closest(k, append(slices.Clone(common), own[level]...)); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.Add(path.Key(k), "unknown key%s", hint)
		}
	}
	check(keys, 0, c.DevicePath(i))
	pts, _ := keys["points"].([]map[string]any) // not an array of tables: the decoder has reported it
	for j, pm := range pts {
		if j < len(d.Points) {
			check(pm, 1, c.PointPath(i, j))
		}
	}
}

// owners names the drivers of the table that have key k at level (0
// device, 1 point), or "".
func (c *Config) owners(k string, level int) string {
	var ds []string
	for _, drv := range c.drivers {
		if slices.Contains(sectionKeys(drv.New())[level], k) {
			ds = append(ds, drv.Name)
		}
	}
	slices.Sort(ds)
	switch len(ds) {
	case 0:
		return ""
	case 1:
		return "driver " + ds[0]
	}
	return "drivers " + strings.Replace(orList(ds), " or ", " and ", 1)
}

// commonKeys returns the keys of Device (0) and Point (1).
func commonKeys() [2][]string {
	var out [2][]string
	walkKeys(reflect.TypeFor[Device](), "", func(k string) {
		switch {
		case k == "points":
		case strings.HasPrefix(k, "points."):
			out[1] = append(out[1], strings.TrimPrefix(k, "points."))
		case !strings.Contains(k, "."):
			out[0] = append(out[0], k)
		}
	})
	return out
}

// closest returns the candidate within edit distance 2 of k, or "".
func closest(k string, candidates []string) string {
	best, bestD := "", 3
	for _, name := range candidates {
		if d := editDistance(name, k); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	return best
}

// File returns the name the config was loaded from.
func (c *Config) File() string { return c.file }

// Problems returns a collector for errors in c, positioned by key path. The
// compile stage in cmd/gateway uses it so its messages match Parse's.
func (c *Config) Problems() *Problems { return &Problems{file: c.file, loc: c.loc} }

// DevicePath is the path of devices[i].
func (c *Config) DevicePath(i int) Path { return Path{}.Index("devices", i, c.Devices[i].Name) }

// PointPath is the path of devices[i].points[j].
func (c *Config) PointPath(i, j int) Path {
	return c.DevicePath(i).Index("points", j, c.Devices[i].Points[j].Name)
}

var typeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// decodeError turns the decoder's error into an *Error with a position.
func decodeError(name string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Position.Line, Col: pe.Position.Col, Key: pe.LastKey, Msg: pe.Message}
	}
	if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1]) // the pattern only matches digits
		msg := strings.Replace(m[3], "incompatible types: TOML value has type", "wrong type: got", 1)
		msg = strings.Replace(msg, "; destination has type", ", want", 1)
		return &Error{File: name, Line: line, Key: m[2], Msg: msg}
	}
	return &Error{File: name, Msg: err.Error()}
}

// unknownKey reports a key no struct field took, at every place it occurs.
func (c *Config) unknownKey(p *Problems, k toml.Key) {
	bare := k.String()
	// A key below an unknown table is reported with the table.
	for i := 1; i < len(k); i++ {
		if len(c.loc.occurrences(k[:i].String())) > 0 && !c.known(k[:i]) {
			return
		}
	}
	hint := ""
	if s := c.suggest(k); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	what := "unknown key"
	if len(k) == 1 && c.isTable(k[0]) {
		what = "unknown table (the tables are gateway, broker, upstream, buffer, web, mapping, devices and homeassistant)"
	}
	occ := c.loc.occurrences(bare)
	if len(occ) == 0 {
		p.addRaw(0, bare, what+hint)
		return
	}
	for _, o := range occ {
		p.addRaw(c.loc.line(o), c.prettyKey(o), what+hint)
	}
}

// isTable reports whether the top-level key k has keys below it.
func (c *Config) isTable(k string) bool {
	for key := range c.loc.lines {
		if strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}

// known reports whether the bare key path names a field of Config.
func (c *Config) known(k toml.Key) bool {
	_, ok := fieldKeys()[k.String()]
	return ok
}

// suggest returns a known key at the same level that is close to k's last part.
func (c *Config) suggest(k toml.Key) string {
	parent := k[:len(k)-1].String()
	best, bestD := "", 3
	for fk := range fieldKeys() {
		i := strings.LastIndexByte(fk, '.')
		fp, name := "", fk
		if i >= 0 {
			fp, name = fk[:i], fk[i+1:]
		}
		if fp != parent {
			continue
		}
		if d := editDistance(name, k[len(k)-1]); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	return best
}

var elemRE = regexp.MustCompile(`(devices|points)\[(\d+)\]`)

// prettyKey adds device and point names to an indexed key from the locator.
func (c *Config) prettyKey(k string) string {
	dev := -1
	return elemRE.ReplaceAllStringFunc(k, func(m string) string {
		sub := elemRE.FindStringSubmatch(m)
		i, _ := strconv.Atoi(sub[2]) // the pattern only matches digits
		switch sub[1] {
		case "devices":
			dev = i
			if i < len(c.Devices) && c.Devices[i].Name != "" {
				return m + " " + strconv.Quote(c.Devices[i].Name)
			}
		case "points":
			if dev >= 0 && dev < len(c.Devices) && i < len(c.Devices[dev].Points) && c.Devices[dev].Points[i].Name != "" {
				return m + " " + strconv.Quote(c.Devices[dev].Points[i].Name)
			}
		}
		return m
	})
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
