package mapping

import (
	"fmt"
	"strings"
)

// Placeholders are the names a topic template may use.
var Placeholders = []string{"gateway", "device", "point", "unit"}

// Names fill a topic template's placeholders.
type Names struct {
	Gateway, Device, Point, Unit string
}

// ExpandTopic fills the placeholders of a topic template such as
// "{gateway}/{device}/{point}". It returns an error for an unknown or
// unclosed placeholder, and for a result that is not a valid topic to
// publish to (empty, or containing + or # [MQTT-3.3.2-2]).
func ExpandTopic(tmpl string, n Names) (string, error) {
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("topic %q: unclosed {", tmpl)
		}
		switch name := rest[i+1 : i+j]; name {
		case "gateway":
			b.WriteString(n.Gateway)
		case "device":
			b.WriteString(n.Device)
		case "point":
			b.WriteString(n.Point)
		case "unit":
			b.WriteString(n.Unit)
		default:
			return "", fmt.Errorf("topic %q: unknown placeholder {%s}: want {gateway}, {device}, {point} or {unit}", tmpl, name)
		}
		rest = rest[i+j+1:]
	}
	topic := b.String()
	switch {
	case topic == "":
		return "", fmt.Errorf("topic %q: expands to an empty topic", tmpl)
	case strings.ContainsAny(topic, "+#"):
		return "", fmt.Errorf("topic %q: expands to %q, which contains a wildcard (+ or #)", tmpl, topic)
	case strings.ContainsRune(topic, 0):
		return "", fmt.Errorf("topic %q: contains a NUL character", tmpl)
	}
	return topic, nil
}
