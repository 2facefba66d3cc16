package gateway

import "testing"

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
