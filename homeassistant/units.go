package homeassistant

import "strings"

// unitClasses maps a unit to the sensor device_class and state_class it
// implies, where the unit alone says what is measured. The device classes
// and their units are Home Assistant's
// (https://www.home-assistant.io/integrations/sensor/#device-class).
// Ambiguous units ("%": humidity, battery or moisture; "ppm": which gas?)
// are not in the table; ppm is carbon_dioxide only for a point named so.
var unitClasses = map[string][2]string{
	"°C": {"temperature", "measurement"},
	"°F": {"temperature", "measurement"},
	"K":  {"temperature", "measurement"},

	"W":  {"power", "measurement"},
	"kW": {"power", "measurement"},

	"Wh":  {"energy", "total_increasing"},
	"kWh": {"energy", "total_increasing"},
	"MWh": {"energy", "total_increasing"},

	"V":  {"voltage", "measurement"},
	"mV": {"voltage", "measurement"},
	"A":  {"current", "measurement"},
	"mA": {"current", "measurement"},

	"Pa":   {"pressure", "measurement"},
	"hPa":  {"pressure", "measurement"},
	"kPa":  {"pressure", "measurement"},
	"bar":  {"pressure", "measurement"},
	"mbar": {"pressure", "measurement"},
	"psi":  {"pressure", "measurement"},

	"m³/h":  {"volume_flow_rate", "measurement"},
	"L/min": {"volume_flow_rate", "measurement"},

	"lx": {"illuminance", "measurement"},
	"Hz": {"frequency", "measurement"},
}

// unitAliases are ASCII spellings of units Home Assistant only knows in
// their proper form.
var unitAliases = map[string]string{
	"m3/h": "m³/h",
	"m3":   "m³",
	"degC": "°C",
	"degF": "°F",
}

// NormalizeUnit returns the spelling of unit that Home Assistant's device
// classes use ("m3/h" is "m³/h"); other units are returned as they are.
func NormalizeUnit(unit string) string {
	if u, ok := unitAliases[unit]; ok {
		return u
	}
	return unit
}

// Classes returns the device_class and state_class a numeric sensor with
// this unit gets (see unitClasses); a number without a known unit is a
// "measurement" with no device class.
func Classes(unit, point string) (deviceClass, stateClass string) {
	u := NormalizeUnit(unit)
	if c, ok := unitClasses[u]; ok {
		return c[0], c[1]
	}
	if u == "ppm" && strings.Contains(strings.ToLower(point), "co2") {
		return "carbon_dioxide", "measurement"
	}
	return "", "measurement"
}
