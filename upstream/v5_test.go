package upstream_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/upstream"
)

// v5Session makes a durable MQTT 5.0 session subscribed to filter with
// mosquitto_sub, and returns a function that collects what the broker
// queued for it: each message as "topic|message expiry|user
// properties|payload", waiting up to wait for want of them.
func v5Session(t *testing.T, up *mqtttest.Mosquitto, filter string) func(want int, wait time.Duration) []string {
	t.Helper()
	bin := mqtttest.NeedTool(t, "mosquitto_sub")
	args := []string{"-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(up.Port()), "-c", "-i", "v5sub", "-x", "300",
		"-q", "1", "-t", filter}
	if out, err := exec.Command(bin, append(args, "-E")...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_sub -E: %v: %s", err, out)
	}
	return func(want int, wait time.Duration) []string {
		t.Helper()
		// With -W, mosquitto_sub exits non-zero on timeout: the lines tell.
		out, _ := exec.Command(bin, append(args, "-C", strconv.Itoa(want), "-W", strconv.Itoa(int(wait.Seconds())),
			"-F", "%t|%E|%P|%p")...).Output()
		if s := strings.TrimSpace(string(out)); s != "" {
			return strings.Split(s, "\n")
		}
		return nil
	}
}

// TestV5MessageExpiryAndUserProperties: with MQTT 5.0 a forward rule's
// message_expiry counts from the reading's own time: a buffered reading
// older than that is not delivered (removed from the queue and counted), a
// younger one arrives with the remaining lifetime as its Message Expiry
// Interval; its user properties and timestamp reach a real 5.0 subscriber.
func TestV5MessageExpiryAndUserProperties(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	collect := v5Session(t, up, "edge/#")
	cfg := versionConfig(up.URL(), 5)
	cfg.Forward[0].MessageExpiry = time.Minute
	cfg.Forward[0].UserProperties = []packet.UserProperty{{Key: "site", Value: "north"}}
	cfg.Forward[0].TimestampProperty = "ts"
	now := time.Now()
	ts := now.Add(-10 * time.Second)
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	for _, m := range []gateway.Message{
		{Topic: "site/old", Payload: []byte("old"), QoS: 1, Time: now.Add(-2 * time.Minute)},
		{Topic: "site/fresh", Payload: []byte("fresh"), QoS: 1, Time: ts},
	} {
		if err := g.in.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	g.waitEmpty(t) // acknowledged: queued in the subscriber's session
	lines := collect(2, 3*time.Second)
	if len(lines) != 1 {
		t.Fatalf("mosquitto_sub printed %q, want the fresh reading only", lines)
	}
	l := lines[0]
	f := strings.Split(l, "|")
	if len(f) != 4 || f[0] != "edge/gw1/site/fresh" || f[3] != "fresh" {
		t.Fatalf("mosquitto_sub printed %q, want the fresh reading only", l)
	}
	if e, err := strconv.Atoi(f[1]); err != nil || e < 45 || e > 50 {
		t.Errorf("message expiry %q, want the remaining lifetime of a 10 s old reading, 50 s or a little less", f[1])
	}
	wantTS := ts.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if !strings.Contains(f[2], "site:north") || !strings.Contains(f[2], "ts:"+wantTS) {
		t.Errorf("user properties %q, want site:north and ts:%s", f[2], wantTS)
	}
	if s := g.fwd.Status(); s.Expired != 1 || s.Protocol != "5.0" {
		t.Errorf("status: expired %d protocol %q, want 1 and 5.0", s.Expired, s.Protocol)
	}
}

// TestV5NoLocal: a subscribe rule whose filter overlaps a forward rule's
// remote topics gets no echo of our own messages with MQTT 5.0 (No Local),
// while what the cloud publishes there still arrives.
func TestV5NoLocal(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	rec := mqtttest.Subscribe(t, up.URL(), "edge/#")
	cfg := versionConfig(up.URL(), 5)
	cfg.Subscribe = []upstream.SubscribeRule{{Filter: "edge/gw1/#", LocalPrefix: "down"}}
	local, sink := chanSink()
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, sink, nil)
	waitUp(t, g.fwd)
	if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/a", Payload: []byte("up"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, 1, 10*time.Second)
	g.waitEmpty(t) // acknowledged: an echo would have been sent before the PUBACK
	cloudPublish(t, up.URL(), "edge/gw1/cmd", "down")
	select {
	case m := <-local:
		if string(m.Payload) != "down" {
			t.Fatalf("local got %s %q: our own message came back", m.Topic, m.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cloud's message did not arrive")
	}
}

// TestV5RefusedPublish: mosquitto's ACL refuses a forwarded QoS 1 publish
// with PUBACK 0x87 under MQTT 5.0: the message is not delivered, is removed
// from the queue (it would be refused for ever), and the refusal is counted
// and shown; the messages behind it go on.
func TestV5RefusedPublish(t *testing.T) {
	acl := mqtttest.WriteFile(t, "acl", "topic readwrite edge/#\n")
	// max_queued_messages: mosquitto 2.0.11 drops the connection after a
	// denied publish when it is 0 (mqtttest's "no limit").
	up := mqtttest.StartMosquitto(t, mqtttest.WithConfig("acl_file "+acl, "max_queued_messages 1000"))
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	cfg := versionConfig(up.URL(), 5)
	cfg.Forward[1].QoS = qos(1) // alarm/+ -> alerts/{topic}: denied
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	for _, topic := range []string{"alarm/1", "site/a", "alarm/2", "site/b"} {
		if err := g.in.Publish(t.Context(), gateway.Message{Topic: topic, Payload: []byte(topic), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.Wait(t, 2, 10*time.Second)
	g.waitEmpty(t)
	if got[0].Topic != "edge/gw1/site/a" || got[1].Topic != "edge/gw1/site/b" {
		t.Errorf("upstream got %v, want the two allowed messages", got)
	}
	testutil.WaitFor(t, 5*time.Second, "two refusals counted", func() bool { return g.fwd.Status().Refused == 2 })
	if s := g.fwd.Status(); s.LastReasonCode != 0x87 || !strings.Contains(s.LastReason, "PUBACK 0x87") || s.State != "up" {
		t.Errorf("status %+v, want the last refusal PUBACK 0x87 and the uplink up", s)
	}
}

// TestV5TopicAliasesAcrossReconnect: with MQTT 5.0 the forwarder sends
// each remote topic once per connection and its Topic Alias afterwards,
// and a new connection starts with no aliases [MQTT-3.3.2-7]. Messages
// published on a connection that died (their PUBLISHes used aliases set
// on it) are resent after the reconnect with their topics in full: mosquitto
// takes them (it disconnects a client that uses an alias not set on the
// connection), and a real 5.0 subscriber gets every message with its full
// topic. The bytes the forwarder sends upstream show the aliases at work.
func TestV5TopicAliasesAcrossReconnect(t *testing.T) {
	up := mqtttest.StartMosquitto(t) // max_topic_alias 10, its default
	collect := v5Session(t, up, "edge/#")
	proxy := startProxy(t, up, 0)
	cfg := versionConfig("mqtt://"+proxy.Addr(), 5)
	cfg.Forward[0].TimestampProperty = "" // the payloads alone are compared
	cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 100*time.Millisecond
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	waitUp(t, g.fwd)
	const points = 5
	var want []string
	round := func(r int) {
		t.Helper()
		for i := range points {
			local := "site/boiler/point-" + strconv.Itoa(i)
			payload := strconv.Itoa(r*points + i)
			if err := g.in.Publish(t.Context(), gateway.Message{Topic: local, Payload: []byte(payload), QoS: 1}); err != nil {
				t.Fatal(err)
			}
			want = append(want, "edge/gw1/"+local+"|||"+payload)
		}
	}
	s0 := proxy.Sent()
	round(0)
	g.waitEmpty(t)
	s1 := proxy.Sent()
	round(1) // the topics have aliases now: this round goes as aliases alone
	g.waitEmpty(t)
	// Round 1 leaves the remote topics out. A PINGREQ (2 bytes, after 15 s
	// of nothing to send) could fall in either round on a very slow machine.
	saved := int64(points * len("edge/gw1/site/boiler/point-0"))
	if d0, d1 := s1-s0, proxy.Sent()-s1; d0-d1 < saved-4 || d0-d1 > saved+4 {
		t.Errorf("sent %d bytes for the first round (topic and alias), %d for the second (aliases alone): want %d fewer", d0, d1, saved)
	}

	// The link passes nothing more: round 2 goes out with the aliases of
	// this connection and is never acknowledged. Then the link is cut,
	// which the forwarder notices at once, and restored.
	proxy.Blackhole()
	before := g.fwd.Status().Sent
	round(2)
	waitFor(t, "round 2 sent on the dead connection", 10*time.Second, func() bool { return g.fwd.Status().Sent >= before+points })
	proxy.Cut()
	waitFor(t, "the uplink to go down", 30*time.Second, func() bool { return g.fwd.Status().State == "down" })
	proxy.Heal()
	proxy.Restore()
	waitUp(t, g.fwd)
	g.waitEmpty(t) // round 2 resent on the new connection, and acknowledged
	round(3)
	g.waitEmpty(t)
	if st := g.fwd.Status(); st.Refused != 0 {
		t.Errorf("status %+v: publishes refused", st)
	}
	got := collect(len(want), 10*time.Second)
	if !slices.Equal(got, want) {
		t.Errorf("mosquitto_sub printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
