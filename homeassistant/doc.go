// Package homeassistant announces the gateway's points to Home Assistant
// with MQTT discovery: one retained config message per point at
// <prefix>/<component>/<gateway>_<device>/<point>/config, republished when
// Home Assistant comes online again (its birth message on <prefix>/status),
// and cleared (an empty retained message) when a point goes away.
//
// The keys and value types follow Home Assistant's MQTT documentation:
// https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery and the
// pages of the components used, sensor.mqtt, binary_sensor.mqtt, number.mqtt
// and switch.mqtt (testdata/schema.txt lists what the tests check against).
//
// The package knows nothing of drivers or the config file: cmd/gateway
// describes each point (its kind, writability, range, topics and the
// user's ha_* overrides) in a Config, and Entities turns it into messages.
package homeassistant
