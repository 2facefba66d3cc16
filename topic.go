package gateway

import "strings"

// MatchTopic reports whether topic matches the MQTT topic filter, with "+"
// matching one level and a trailing "#" any number of levels, including the
// parent ([MQTT-4.7.1-2], [MQTT-4.7.1-3]). Topics starting with "$" are not
// matched by a filter starting with a wildcard ([MQTT-4.7.2-1]). The filter
// is assumed valid; the broker's topic package validates filters.
func MatchTopic(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			// "a/#" matches "a" ([MQTT-4.7.1-2]).
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// MapTopic maps a topic onto another topic space, as the upstream forward
// and subscribe rules do: with a template, "{topic}" in it is replaced by
// topic; otherwise topic follows prefix and a "/" (no separator for an empty
// prefix or one ending in "/").
func MapTopic(template, prefix, topic string) string {
	if template != "" {
		return strings.ReplaceAll(template, "{topic}", topic)
	}
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return prefix + topic
	}
	return prefix + "/" + topic
}
