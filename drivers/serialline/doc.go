// Package serialline is the driver for sensors that print text lines on a
// serial port: Arduino and ESP32 sketches, GPS-style devices, anything that
// writes one record per line.
//
// Each line is split off at the configured terminator (default "\n", a
// trailing "\r" is dropped), timestamped when its terminator arrives, parsed by
// one of four formats and turned into one reading per configured point:
//
//   - json:  {"t": 21.5, "env": {"h": 40}, "v": [1, 2]} gives the fields
//     t, env.h, v.0 and v.1 (nested keys joined with ".", arrays by index).
//   - kv:    t=21.5 h=40 (pair and key/value separators are configurable).
//   - csv:   21.5,40 with the column names taken from the configuration.
//   - regex: a regular expression whose named groups are the fields.
//
// Numbers become float values, true and false become booleans, anything else
// a string. A point selects a field by name (its own name unless field is
// set) and may scale and offset it (value*scale + offset); a point whose field
// must be numeric but is not yields a reading with QualityBad and an error
// saying what was received. A field missing from a line emits nothing for
// that point, or a QualityBad reading when Missing is "bad". With no points
// configured, every field of every line is emitted under its own name.
//
// Garbage, partial and over-long lines are counted (see Driver.Stats) and
// logged once per state change, then at most once a minute with a count; they
// never stop the driver. A port that disappears (a USB adapter unplugged) is
// polled for with backoff and reopened when it returns. Prefer the stable
// /dev/serial/by-id/... paths over /dev/ttyUSB0, whose number changes between
// plug-ins. Opening a port needs membership in the dialout group on Debian and
// Raspberry Pi OS.
//
// In the gateway's TOML configuration a device looks like this:
//
//	[devices.weather]
//	driver = "serial"
//	port = "/dev/serial/by-id/usb-Arduino_Uno_75830333238351F0E1E1-if00"
//	baud = 115200
//	format = "kv"            # lines like "t=215 h=40 ok=true"
//	max_line_length = 256
//	write_template = "SET {{.Point}} {{.Raw}}"
//
//	[[devices.weather.points]]
//	name = "temperature"
//	field = "t"
//	scale = 0.1
//	unit = "°C"
//
// When WriteTemplate is set, the driver implements gateway.Writer: a command
// renders the template and writes the result to the device as one line.
package serialline
