package buffer

import "strings"

// matchTopic reports whether topic matches the MQTT topic filter, with "+"
// matching one level and a trailing "#" any number of levels, including the
// parent ([MQTT-4.7.1-2], [MQTT-4.7.1-3]). Topics starting with "$" are not
// matched by a filter starting with a wildcard ([MQTT-4.7.2-1]).
func matchTopic(filter, topic string) bool {
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

// prefixLevels is how many topic levels drops are counted under.
const prefixLevels = 2

// topicPrefix returns the first prefixLevels levels of topic.
func topicPrefix(topic string) string {
	n := 0
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			n++
			if n == prefixLevels {
				return topic[:i]
			}
		}
	}
	return topic
}
