package mapping

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/edgegw/gateway"
)

// Format renders a reading as a message payload. It returns nil when the
// format cannot express the reading (a bad reading in the value format),
// which means "publish nothing".
type Format func(r gateway.Reading) []byte

// TimeLayout is RFC 3339 with milliseconds, the "ts" of JSON payloads.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// ParseFormat returns the payload format named by s: "json", "value", or a
// Go text/template (anything containing "{{").
func ParseFormat(s string) (Format, error) {
	switch {
	case s == "json":
		return JSON, nil
	case s == "value":
		return Plain, nil
	case strings.Contains(s, "{{"):
		t, err := template.New("payload").Option("missingkey=error").Parse(s)
		if err != nil {
			return nil, fmt.Errorf("payload template: %w", err)
		}
		// Render a sample so a template that names an unknown field fails now,
		// not on the first reading.
		if err := t.Execute(&bytes.Buffer{}, templateData{Value: gateway.Float(1), Time: time.Unix(0, 0)}); err != nil {
			return nil, fmt.Errorf("payload template: %w", err)
		}
		return templateFormat(t), nil
	}
	return nil, fmt.Errorf("payload %q: want json, value or a Go template containing {{ }}", s)
}

// JSON renders {"value":21.5,"unit":"°C","ts":"2026-01-01T00:00:00.000Z","quality":"good"};
// "unit" is left out when empty, and a reading with a non-empty Err has an
// "error" (a bad reading has "value":null), and one taken before the system
// clock was synchronised has "clock":"unsynced". It allocates only the payload.
func JSON(r gateway.Reading) []byte {
	n := len(`{"value":,"unit":"","ts":"2006-01-02T15:04:05.000Z","quality":"uncertain","clock":"unsynced"}`) + 24 + len(r.Unit) + len(r.Value.Str())
	var errText string
	if r.Err != nil {
		errText = r.Err.Error()
		n += len(`,"error":""`) + len(errText)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"value":`...)
	b = appendValue(b, r.Value)
	if r.Unit != "" {
		b = append(b, `,"unit":`...)
		b = appendString(b, r.Unit)
	}
	b = append(b, `,"ts":"`...)
	b = r.Time.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `","quality":`...)
	b = appendString(b, r.Quality.String())
	if errText != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, errText)
	}
	if r.ClockUnsynced {
		b = append(b, `,"clock":"unsynced"`...)
	}
	return append(b, '}')
}

// Plain renders the bare value as text, e.g. "21.5". A reading without a
// good or uncertain value renders nothing: plain text has no way to carry a
// quality flag, and a fake value would be worse than none.
func Plain(r gateway.Reading) []byte {
	if r.Value.IsNone() || r.Quality == gateway.QualityBad {
		return nil
	}
	return r.Value.AppendText(nil)
}

// templateData is what a payload template sees.
type templateData struct {
	Gateway, Device, Point, Unit string
	Value                        gateway.Value
	Time                         time.Time
	Quality                      gateway.Quality
	Error                        string
}

func templateFormat(t *template.Template) Format {
	return func(r gateway.Reading) []byte {
		d := templateData{Device: r.Device, Point: r.Point, Unit: r.Unit, Value: r.Value, Time: r.Time, Quality: r.Quality}
		if r.Err != nil {
			d.Error = r.Err.Error()
		}
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return []byte("template error: " + err.Error())
		}
		return b.Bytes()
	}
}
