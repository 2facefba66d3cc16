package upstream_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/upstream"
)

// TestSessionExpiryEndsTheCommandSession: with MQTT 5.0 the command
// session outlives the link by session_expiry, not for ever. A command sent
// after the cloud broker expired the session is not delivered when the
// gateway comes back (one sent within it is: TestCommandsWhileOffline/v5),
// and the gateway subscribes anew on a clean session.
func TestSessionExpiryEndsTheCommandSession(t *testing.T) {
	up := mqtttest.StartMosquitto(t, mqtttest.WithConfig("sys_interval 1"))
	cfg := testConfig(t, up.URL())
	cfg.ProtocolVersion = 5
	cfg.SessionExpiry = 3 * time.Second // over two of mosquitto's $SYS intervals: the kept session is seen
	cfg.Subscribe = []upstream.SubscribeRule{{Filter: "cloud/gw1/cmd/#", LocalPrefix: "cmd"}}
	local, sink := chanSink()
	db := filepath.Join(t.TempDir(), "buffer.db")
	// mosquitto counts the sessions kept for disconnected clients.
	kept := mqtttest.Subscribe(t, up.URL(), "$SYS/broker/clients/disconnected")
	last := func() string {
		ms := kept.Snapshot()
		if len(ms) == 0 {
			return ""
		}
		return ms[len(ms)-1].Payload
	}
	g := startGW(t, db, cfg, sink, nil)
	waitUp(t, g.fwd)
	g.stop()
	testutil.WaitFor(t, 10*time.Second, "mosquitto to keep the gateway's session", func() bool { return last() == "1" })
	testutil.WaitFor(t, 10*time.Second, "mosquitto to expire the session after session_expiry", func() bool { return last() == "0" })

	cloudPublish(t, up.URL(), "cloud/gw1/cmd/boiler/setpoint", "late") // no session holds it
	g = startGW(t, db, cfg, sink, nil)
	waitUp(t, g.fwd)
	cloudPublish(t, up.URL(), "cloud/gw1/cmd/boiler/setpoint", "fresh")
	select {
	case m := <-local:
		if string(m.Payload) != "fresh" {
			t.Errorf("local got %s %q first, want \"fresh\": the expired session's command was delivered", m.Topic, m.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command sent after the restart never arrived")
	}
}
