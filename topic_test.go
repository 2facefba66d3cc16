package gateway

import "testing"

func TestMatchTopic(t *testing.T) {
	for _, tt := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a/b/c", true},
		{"a/#", "a", true}, // [MQTT-4.7.1-2] # includes the parent level
		{"#", "a/b", true},
		{"+/+", "/x", true},         // empty levels are levels
		{"#", "$SYS/uptime", false}, // [MQTT-4.7.2-1]
		{"+/uptime", "$SYS/uptime", false},
		{"$SYS/#", "$SYS/uptime", true},
		{"a/b", "a/c", false},
	} {
		if got := MatchTopic(tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestMapTopic(t *testing.T) {
	for _, tt := range []struct{ template, prefix, topic, want string }{
		{"", "", "a/b", "a/b"},
		{"", "sites", "a/b", "sites/a/b"},
		{"", "sites/", "a/b", "sites/a/b"},
		{"dev/{topic}/up", "ignored", "a/b", "dev/a/b/up"},
		{"fixed", "", "a/b", "fixed"},
	} {
		if got := MapTopic(tt.template, tt.prefix, tt.topic); got != tt.want {
			t.Errorf("MapTopic(%q, %q, %q) = %q, want %q", tt.template, tt.prefix, tt.topic, got, tt.want)
		}
	}
}
