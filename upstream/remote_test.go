package upstream

import "testing"

// TestRemoteTopicInvertsLocalTopic: for every kind of subscribe rule, the
// remote topic of a command's local topic is the one that maps to it.
func TestRemoteTopicInvertsLocalTopic(t *testing.T) {
	for _, tt := range []struct {
		rule   SubscribeRule
		remote string
	}{
		{SubscribeRule{Filter: "cmd/#"}, "cmd/boiler/set"},
		{SubscribeRule{Filter: "sites/a/cmd/#", LocalPrefix: "gw"}, "sites/a/cmd/boiler/set"},
		{SubscribeRule{Filter: "sites/+/cmd/#", LocalPrefix: "gw/"}, "sites/b/cmd/pump"},
		{SubscribeRule{Filter: "t/#", LocalTopic: "in/{topic}"}, "t/x/y"},
		{SubscribeRule{Filter: "t/#", LocalTopic: "{topic}/in"}, "t/x"},
		{SubscribeRule{Filter: "+/+", LocalTopic: "a/{topic}/b/{topic}"}, "p/q"},
		{SubscribeRule{Filter: "fixed/one", LocalTopic: "here"}, "fixed/one"},
	} {
		local := tt.rule.localTopic(tt.remote)
		got, ok := tt.rule.RemoteTopic(local)
		if !ok || got != tt.remote {
			t.Errorf("%+v: RemoteTopic(%q) = %q, %v; want %q", tt.rule, local, got, ok, tt.remote)
		}
	}
}
