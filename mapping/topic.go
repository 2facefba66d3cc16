package mapping

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTopicLen is the longest topic name: a UTF-8 string is prefixed by a
// two-byte length [MQTT-1.5.3].
const maxTopicLen = 65535

// Placeholders are the names a topic template may use.
var Placeholders = []string{"gateway", "device", "point", "unit"}

// Names fill a topic template's placeholders.
type Names struct {
	Gateway, Device, Point, Unit string
}

// ExpandTopic fills the placeholders of a topic template such as
// "{gateway}/{device}/{point}". It returns an error for an unknown or
// unclosed placeholder, and for a result that is not a valid topic name to
// publish to: empty [MQTT-4.7.3-1], containing + or # [MQTT-3.3.2-2] or
// U+0000 [MQTT-1.5.3-2], not UTF-8 [MQTT-1.5.3-1], or longer than 65535
// bytes [MQTT-1.5.3].
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
	case !utf8.ValidString(topic):
		return "", fmt.Errorf("topic %q: expands to %q, which is not valid UTF-8", tmpl, topic)
	case len(topic) > maxTopicLen:
		return "", fmt.Errorf("topic %q: expands to %d bytes, more than the %d a topic can have", tmpl, len(topic), maxTopicLen)
	}
	return topic, nil
}
