package homeassistant

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edgegw/gateway"
)

// DefaultPrefix is Home Assistant's default discovery prefix.
const DefaultPrefix = "homeassistant"

// The components (entity platforms) a point can become.
const (
	Sensor       = "sensor"
	BinarySensor = "binary_sensor"
	Number       = "number"
	Switch       = "switch"
)

// Availability payloads: Home Assistant's defaults for payload_available and
// payload_not_available, and what the gateway's status topics carry.
const (
	Online  = "online"
	Offline = "offline"
)

// Switch and binary sensor states: Home Assistant's default payload_on and
// payload_off, which the gateway's command parser accepts ("on", "off" in
// any case).
const (
	payloadOn  = "ON"
	payloadOff = "OFF"
)

// None as a device_class or state_class override removes the class that
// would be inferred from the unit.
const None = "none"

// StateClasses are the state_class values of a sensor
// (https://developers.home-assistant.io/docs/core/entity/sensor#available-state-classes).
var StateClasses = []string{"measurement", "measurement_angle", "total", "total_increasing", None}

// EntityCategories are the entity_category values.
var EntityCategories = []string{"config", "diagnostic"}

// Config describes what to announce.
type Config struct {
	Gateway string // the gateway's name: its own device, the first part of every id
	Version string // the gateway's version, the sw_version of its device entry
	Prefix  string // discovery prefix; "" means DefaultPrefix
	// StatusTopic is the gateway's status topic (online/offline): the
	// first availability topic of every entity. "" leaves it out.
	StatusTopic string
	Devices     []Device
	Points      []Point
}

// Device is one configured device: a device entry in Home Assistant.
type Device struct {
	Name         string
	Manufacturer string // optional
	Model        string // optional
	StatusTopic  string // its status topic (online/offline); "" leaves it out
}

// Point is one device point: an entity.
type Point struct {
	Device, Name string
	Unit         string
	Kind         gateway.Kind // the kind of value: bool, string or a number
	// Writable points with a CommandTopic become a number or a switch.
	Writable     bool
	CommandTopic string
	StateTopic   string
	// Payload is the point's payload format: "json", "value" or a template
	// (then Override.ValueTemplate says how to read it).
	Payload string
	QoS     byte
	// Min and Max are the configured range of a number; nil: Limits, the
	// range the point's data type can hold.
	Min, Max *float64
	Limits   [2]float64
	// Step is a number's step (the scale of a scaled register); 0: 1 for
	// integer kinds, 0.001 for floats.
	Step     float64
	Override Override
}

// Override holds the per-point ha_* keys of the config.
type Override struct {
	Skip           bool   // ha = false: not announced
	Name           string // ha_name
	DeviceClass    string // ha_device_class; None for none
	StateClass     string // ha_state_class; None for none
	Icon           string // ha_icon, e.g. "mdi:fire"
	EntityCategory string // ha_entity_category: config or diagnostic
	ValueTemplate  string // ha_value_template: how to read a custom payload
}

// Entity is one announced entity and its config message.
type Entity struct {
	Component   string
	Device      string // "" for the gateway's own status entity
	Point       string
	Name        string
	DeviceClass string
	StateClass  string
	Unit        string
	Topic       string // the config topic
	Payload     []byte // the config (JSON)
}

// Message returns the retained config message of e.
func (e Entity) Message() gateway.Message {
	return gateway.Message{Topic: e.Topic, Payload: e.Payload, QoS: 1, Retain: true}
}

// discoveryConfig is a discovery config message. The keys are those documented for
// each component; testdata/schema.txt lists them.
type discoveryConfig struct {
	Name             string         `json:"name"`
	UniqueID         string         `json:"unique_id"`
	DefaultEntityID  string         `json:"default_entity_id"`
	StateTopic       string         `json:"state_topic"`
	ValueTemplate    string         `json:"value_template,omitempty"`
	CommandTopic     string         `json:"command_topic,omitempty"`
	PayloadOn        string         `json:"payload_on,omitempty"`
	PayloadOff       string         `json:"payload_off,omitempty"`
	Min              *float64       `json:"min,omitempty"`
	Max              *float64       `json:"max,omitempty"`
	Step             float64        `json:"step,omitempty"`
	Mode             string         `json:"mode,omitempty"`
	Unit             string         `json:"unit_of_measurement,omitempty"`
	DeviceClass      string         `json:"device_class,omitempty"`
	StateClass       string         `json:"state_class,omitempty"`
	Icon             string         `json:"icon,omitempty"`
	EntityCategory   string         `json:"entity_category,omitempty"`
	QoS              byte           `json:"qos,omitempty"`
	Availability     []availability `json:"availability,omitempty"`
	AvailabilityMode string         `json:"availability_mode,omitempty"`
	Device           device         `json:"device"`
	Origin           origin         `json:"origin"`
}

type availability struct {
	Topic string `json:"topic"`
}

type device struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name,omitempty"`
	Manufacturer string   `json:"manufacturer,omitempty"`
	Model        string   `json:"model,omitempty"`
	SWVersion    string   `json:"sw_version,omitempty"`
	ViaDevice    string   `json:"via_device,omitempty"`
}

// origin says who published a config; Home Assistant logs it with
// discovery problems.
type origin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version,omitempty"`
}

// originName is the name in every config's origin.
const originName = "edgegw gateway"

// Entities returns the entities of c, the gateway's own status entity
// first (when c has a StatusTopic), then the points in order. Points with
// Override.Skip are left out. Two points whose ids collide once made
// topic-safe are an error.
func Entities(c Config) ([]Entity, error) {
	prefix := c.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	gwID := ID(c.Gateway)
	var out []Entity
	if c.StatusTopic != "" {
		cfg := discoveryConfig{
			Name: "Status", UniqueID: gwID + "_status", DefaultEntityID: BinarySensor + "." + slug(c.Gateway+"_status"),
			StateTopic: c.StatusTopic, PayloadOn: Online, PayloadOff: Offline,
			DeviceClass: "connectivity", EntityCategory: "diagnostic",
			Device: device{Identifiers: []string{gwID}, Name: c.Gateway, Manufacturer: "edgegw", Model: "gateway", SWVersion: c.Version},
			Origin: origin{Name: originName, SWVersion: c.Version},
		}
		out = append(out, entity(prefix, BinarySensor, gwID, "status", "", "status", cfg))
	}
	devices := map[string]Device{}
	for _, d := range c.Devices {
		devices[d.Name] = d
	}
	seen := map[string]string{}
	var errs []error
	for _, p := range c.Points {
		if p.Override.Skip {
			continue
		}
		id := UniqueID(c.Gateway, p.Device, p.Name)
		if prev, dup := seen[id]; dup {
			errs = append(errs, fmt.Errorf("%s/%s and %s have the same Home Assistant unique_id %s: rename one", p.Device, p.Name, prev, id))
			continue
		}
		e := pointEntity(c, prefix, devices[p.Device], p)
		seen[id] = p.Device + "/" + p.Name
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

func pointEntity(c Config, prefix string, d Device, p Point) Entity {
	o := p.Override
	node, object := ID(c.Gateway+"_"+p.Device), ID(p.Name)
	comp := component(p)
	cfg := discoveryConfig{
		Name:            o.Name,
		UniqueID:        UniqueID(c.Gateway, p.Device, p.Name),
		DefaultEntityID: comp + "." + slug(c.Gateway+"_"+p.Device+"_"+p.Name),
		StateTopic:      p.StateTopic,
		ValueTemplate:   valueTemplate(p),
		Icon:            o.Icon,
		EntityCategory:  o.EntityCategory,
		QoS:             p.QoS,
		Device: device{
			Identifiers: []string{node}, Name: p.Device, Manufacturer: d.Manufacturer, Model: d.Model,
			ViaDevice: ID(c.Gateway),
		},
		Origin: origin{Name: originName, SWVersion: c.Version},
	}
	if cfg.Name == "" {
		cfg.Name = humanize(p.Name)
	}
	for _, t := range []string{c.StatusTopic, d.StatusTopic} {
		if t != "" {
			cfg.Availability = append(cfg.Availability, availability{Topic: t})
		}
	}
	if len(cfg.Availability) > 1 {
		// Available only while the gateway and the device both say online.
		cfg.AvailabilityMode = "all"
	}
	switch comp {
	case BinarySensor, Switch:
		cfg.PayloadOn, cfg.PayloadOff = payloadOn, payloadOff
	case Sensor, Number:
		if isNumber(p.Kind) {
			cfg.Unit = NormalizeUnit(p.Unit)
			cfg.DeviceClass, cfg.StateClass = Classes(p.Unit, p.Name)
			if comp == Number {
				cfg.StateClass = "" // not a key of number
			}
		}
	}
	if o.DeviceClass != "" {
		cfg.DeviceClass = o.DeviceClass
	}
	if o.StateClass != "" && comp == Sensor {
		cfg.StateClass = o.StateClass
	}
	if cfg.DeviceClass == None {
		cfg.DeviceClass = ""
	}
	if cfg.StateClass == None {
		cfg.StateClass = ""
	}
	if comp == Number || comp == Switch {
		cfg.CommandTopic = p.CommandTopic
	}
	if comp == Number {
		lo, hi := p.Limits[0], p.Limits[1]
		if p.Min != nil {
			lo = *p.Min
		}
		if p.Max != nil {
			hi = *p.Max
		}
		cfg.Min, cfg.Max = &lo, &hi
		cfg.Step = p.Step
		if cfg.Step <= 0 {
			cfg.Step = 1
			if p.Kind == gateway.KindFloat {
				cfg.Step = 0.001 // the smallest step Home Assistant accepts
			}
		}
		if p.Min == nil || p.Max == nil {
			cfg.Mode = "box" // a slider over a data type's whole range is no use
		}
	}
	return entity(prefix, comp, node, object, p.Device, p.Name, cfg)
}

func entity(prefix, comp, node, object, dev, point string, cfg discoveryConfig) Entity {
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // strings, numbers and slices of them always marshal
	}
	return Entity{
		Component: comp, Device: dev, Point: point, Name: cfg.Name, DeviceClass: cfg.DeviceClass,
		StateClass: cfg.StateClass, Unit: cfg.Unit,
		Topic:   prefix + "/" + comp + "/" + node + "/" + object + "/config",
		Payload: b,
	}
}

// component chooses the entity platform of a point: bools are binary
// sensors, or switches when writable; numbers are sensors, or numbers when
// writable; strings are sensors.
func component(p Point) string {
	writable := p.Writable && p.CommandTopic != ""
	switch {
	case p.Kind == gateway.KindBool && writable:
		return Switch
	case p.Kind == gateway.KindBool:
		return BinarySensor
	case isNumber(p.Kind) && writable:
		return Number
	}
	return Sensor
}

func isNumber(k gateway.Kind) bool {
	return k == gateway.KindFloat || k == gateway.KindInt || k == gateway.KindUint
}

// valueTemplate reads the point's state from its payload: the "value"
// field of the json format (null, a bad reading, renders None: unknown in
// Home Assistant), the payload itself for the value format, and whatever
// the user says for a custom template.
func valueTemplate(p Point) string {
	if p.Override.ValueTemplate != "" {
		return p.Override.ValueTemplate
	}
	switch {
	case p.Payload == "json" && p.Kind == gateway.KindBool:
		return "{% if value_json.value is none %}None{% elif value_json.value %}" + payloadOn + "{% else %}" + payloadOff + "{% endif %}"
	case p.Payload == "json":
		return "{{ value_json.value }}"
	case p.Payload == "value" && p.Kind == gateway.KindBool:
		return "{{ '" + payloadOn + "' if value == 'true' else '" + payloadOff + "' }}"
	}
	return "" // the value format's payload is the state itself
}

// UniqueID is the unique_id of a point's entity (and its discovery topic's
// node and object id, joined): names made topic-safe may collide, and
// cmd/gateway reports such points.
func UniqueID(gateway, device, point string) string {
	return ID(gateway+"_"+device) + "_" + ID(point)
}

// ID makes s usable as a node or object id in a discovery topic, which
// allows only [a-zA-Z0-9_-]: every other character becomes "_".
func ID(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}

// slug makes s the object part of an entity id: lower case letters,
// digits and single underscores, none at either end.
func slug(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r < 0x80 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
			continue
		}
		under = true
	}
	if b.Len() == 0 {
		return "point"
	}
	return b.String()
}

// humanize turns a point name into an entity name: "flow_rate" is "Flow rate".
func humanize(s string) string {
	s = strings.NewReplacer("_", " ", "-", " ").Replace(s)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Removed returns an empty retained message for every config topic of old
// that cur no longer has: Home Assistant removes those entities (a point
// removed or renamed, or a device gone).
func Removed(old, cur []Entity) []gateway.Message {
	keep := map[string]bool{}
	for _, e := range cur {
		keep[e.Topic] = true
	}
	var out []gateway.Message
	for _, e := range old {
		if !keep[e.Topic] {
			out = append(out, gateway.Message{Topic: e.Topic, QoS: 1, Retain: true})
		}
	}
	return out
}

// Components lists the components Entities produces, sorted.
func Components() []string {
	c := []string{Sensor, BinarySensor, Number, Switch}
	slices.Sort(c)
	return c
}
