package upstream_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// TestBirthAndWill: the birth message is published (retained) when the
// uplink comes up, and on a clean stop the forwarder publishes its will
// itself, since the DISCONNECT makes the broker discard it
// ([MQTT-3.1.2-10]). A crash (the will sent by the broker) is tested with
// the real binary in cmd/gateway (TestAvailabilityAndDiscovery).
func TestBirthAndWill(t *testing.T) { forEachVersion(t, testBirthAndWill) }

func testBirthAndWill(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	rec := mqtttest.Subscribe(t, up.URL(), "edge/#")
	cfg := testConfig(t, up.URL())
	cfg.Birth = &gateway.Message{Topic: "edge/gw1/status", Payload: []byte("online"), QoS: 1, Retain: true}
	cfg.Will = &gateway.Message{Topic: "edge/gw1/status", Payload: []byte("offline"), QoS: 1, Retain: true}
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	if got := rec.Wait(t, 1, 10*time.Second); got[0].String() != "edge/gw1/status online" {
		t.Fatalf("upstream got %v, want the birth message", got)
	}
	// A live subscriber gets retain 0 ([MQTT-3.3.1-9]); a late one sees the retained message.
	if got := mqtttest.Subscribe(t, up.URL(), "edge/gw1/status").Wait(t, 1, 10*time.Second); got[0].Payload != "online" || !got[0].Retain {
		t.Errorf("retained status: %v, want online", got)
	}
	g.stop()
	if got := rec.Wait(t, 2, 10*time.Second); got[1].String() != "edge/gw1/status offline" {
		t.Fatalf("upstream got %v, want the will after a clean stop", got)
	}
	// What a late subscriber sees: the retained offline.
	late := mqtttest.Subscribe(t, up.URL(), "edge/gw1/status")
	if got := late.Wait(t, 1, 10*time.Second); got[0].Payload != "offline" || !got[0].Retain {
		t.Errorf("retained status: %v, want offline", got)
	}
}
