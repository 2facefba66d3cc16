package gateway

import "strings"

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
