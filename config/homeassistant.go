package config

import "strings"

// HomeAssistant is the [homeassistant] table: Home Assistant MQTT discovery
// of every point (off by default). Its defaults and rules are package
// homeassistant's (homeassistant.Component).
type HomeAssistant struct {
	Enabled         bool   `toml:"enabled"`          // announce the points
	DiscoveryPrefix string `toml:"discovery_prefix"` // Home Assistant's discovery prefix (default "homeassistant")
}

// DeviceInfo holds a device's optional keys for its Home Assistant device
// entry. They do not change how the device is read.
type DeviceInfo struct {
	Manufacturer string `toml:"manufacturer"`
	Model        string `toml:"model"`
}

// HAPoint holds a point's ha_* keys: how Home Assistant discovery announces
// it. They do not change how the point is read or published.
type HAPoint struct {
	HA               *bool  `toml:"ha"`                 // false: not announced
	HAName           string `toml:"ha_name"`            // entity name (default: the point name, humanized)
	HADeviceClass    string `toml:"ha_device_class"`    // overrides the class inferred from the unit; "none" for none
	HAStateClass     string `toml:"ha_state_class"`     // measurement|measurement_angle|total|total_increasing|none
	HAIcon           string `toml:"ha_icon"`            // e.g. "mdi:fire"
	HAEntityCategory string `toml:"ha_entity_category"` // config|diagnostic
	HAValueTemplate  string `toml:"ha_value_template"`  // how HA reads a custom payload template
}

// Default status topics: the gateway's, and each device's.
const (
	DefaultStatusTopic       = "{gateway}/status"
	DefaultDeviceStatusTopic = "{gateway}/{device}/status"
)

// HAStateClasses and HAEntityCategories are the values Home Assistant
// accepts for ha_state_class and ha_entity_category.
var (
	HAStateClasses     = []string{"measurement", "measurement_angle", "total", "total_increasing", "none"}
	HAEntityCategories = []string{"config", "diagnostic"}
)

func (h *HAPoint) validate(p *Problems, pp Path) {
	if h.HAStateClass != "" {
		oneOf(p, pp.Key("ha_state_class"), h.HAStateClass, HAStateClasses)
	}
	if h.HAEntityCategory != "" {
		oneOf(p, pp.Key("ha_entity_category"), h.HAEntityCategory, HAEntityCategories)
	}
	if c := h.HADeviceClass; c != "" && strings.Trim(c, "abcdefghijklmnopqrstuvwxyz_0123456789") != "" {
		p.Add(pp.Key("ha_device_class"), "%q: want a Home Assistant device class such as \"temperature\" (lower case and _), or \"none\"", c)
	}
}
