package upstream_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/upstream"
)

// TestOverlappingSubscribeRules: a command matching two subscribe rules
// reaches the local topic of each, exactly once, as a broker delivers a
// message to every matching subscription (a 3.1.1 mosquitto sends one copy
// for the two; a 5.0 one a copy per subscription, which the subscription
// identifiers tell apart).
func TestOverlappingSubscribeRules(t *testing.T) { forEachVersion(t, testOverlappingSubscribeRules) }

func testOverlappingSubscribeRules(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	cfg := testConfig(t, up.URL())
	cfg.Subscribe = []upstream.SubscribeRule{
		{Filter: "cloud/gw1/cmd/#", LocalPrefix: "cmd"},
		{Filter: "cloud/gw1/cmd/pump/#", LocalPrefix: "pump"},
	}
	local, sink := chanSink()
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, sink, nil)
	waitUp(t, g.fwd)
	cloudPublish(t, up.URL(), "cloud/gw1/cmd/pump/speed", "3")
	cloudPublish(t, up.URL(), "cloud/gw1/cmd/boiler/on", "1") // one rule only: the end marker
	got := map[string]int{}
	for got["cmd/boiler/on"] == 0 {
		select {
		case m := <-local:
			got[m.Topic]++
		case <-time.After(10 * time.Second):
			t.Fatalf("the commands did not all arrive: got %v", got)
		}
	}
	want := map[string]int{"cmd/pump/speed": 1, "pump/speed": 1, "cmd/boiler/on": 1}
	for topic, n := range want {
		if got[topic] != n {
			t.Errorf("local %s: %d times, want %d (all: %v)", topic, got[topic], n, got)
		}
	}
}
