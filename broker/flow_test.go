package broker

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
)

func TestConnectRules(t *testing.T) {
	b := newTestBroker(t, Config{})
	t.Run("assigned id [MQTT-3.1.3-6]", func(t *testing.T) {
		c := pipeClient(t, b)
		c.connect(&packet.Connect{CleanSession: true}, false)
	})
	t.Run("empty id persistent refused [MQTT-3.1.3-8]", func(t *testing.T) {
		c := pipeClient(t, b)
		c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4})
		c.expect(&packet.Connack{ReturnCode: packet.RefusedIdentifierRejected})
		c.expectClosed()
	})
	t.Run("unsupported level [MQTT-3.1.2-2]", func(t *testing.T) {
		c := pipeClient(t, b)
		c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 6, ClientID: "x"})
		c.expect(&packet.Connack{ReturnCode: packet.RefusedProtocolVersion})
		c.expectClosed()
	})
	t.Run("MQIsdp level 3", func(t *testing.T) {
		c := pipeClient(t, b)
		c.connect(&packet.Connect{ProtocolName: "MQIsdp", ProtocolLevel: 3, ClientID: "old", CleanSession: true}, false)
	})
	t.Run("MQIsdp id over 23 chars", func(t *testing.T) {
		c := pipeClient(t, b)
		c.send(&packet.Connect{ProtocolName: "MQIsdp", ProtocolLevel: 3, ClientID: "abcdefghijklmnopqrstuvwxyz", CleanSession: true})
		c.expect(&packet.Connack{ReturnCode: packet.RefusedIdentifierRejected})
	})
	t.Run("first packet not CONNECT [MQTT-3.1.0-1]", func(t *testing.T) {
		c := pipeClient(t, b)
		c.send(&packet.Pingreq{})
		c.expectClosed()
	})
	t.Run("second CONNECT [MQTT-3.1.0-2]", func(t *testing.T) {
		c := pipeClient(t, b)
		c.connect(&packet.Connect{ClientID: "twice", CleanSession: true}, false)
		c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: "twice"})
		c.expectClosed()
	})
	t.Run("malformed packet closes [MQTT-4.8.0-1]", func(t *testing.T) {
		c := pipeClient(t, b)
		c.connect(&packet.Connect{ClientID: "bad", CleanSession: true}, false)
		c.nc.Write([]byte{0x62, 2, 0, 1}) // PUBREL with flags 0010 is fine...
		c.expect(&packet.Pubcomp{PacketID: 1})
		c.nc.Write([]byte{0x60, 2, 0, 1}) // ...with 0000 it is malformed [MQTT-3.6.1-1]
		c.expectClosed()
	})
	t.Run("ping [MQTT-3.12.4-1]", func(t *testing.T) {
		c := pipeClient(t, b)
		c.connect(&packet.Connect{ClientID: "ping", CleanSession: true}, false)
		c.send(&packet.Pingreq{})
		c.expect(&packet.Pingresp{})
	})
}

func TestPublishQoSFlows(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "t/#", 2)
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)

	// QoS 0.
	pub.send(&packet.Publish{Topic: "t/0", Payload: []byte("zero")})
	sub.expect(&packet.Publish{Topic: "t/0", Payload: []byte("zero")})

	// QoS 1 in: PUBACK [MQTT-4.3.2-2]; out: PUBLISH with a packet id, PUBACK.
	pub.send(&packet.Publish{QoS: 1, PacketID: 5, Topic: "t/1", Payload: []byte("one")})
	pub.expect(&packet.Puback{PacketID: 5})
	sub.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "t/1", Payload: []byte("one")})
	sub.send(&packet.Puback{PacketID: 1})

	// QoS 2 in, with a duplicate before PUBREL: delivered once [MQTT-4.3.3-2].
	pub.send(&packet.Publish{QoS: 2, PacketID: 6, Topic: "t/2", Payload: []byte("two")})
	pub.expect(&packet.Pubrec{PacketID: 6})
	pub.send(&packet.Publish{Dup: true, QoS: 2, PacketID: 6, Topic: "t/2", Payload: []byte("two")})
	pub.expect(&packet.Pubrec{PacketID: 6})
	pub.send(&packet.Pubrel{PacketID: 6})
	pub.expect(&packet.Pubcomp{PacketID: 6})
	// QoS 2 out: PUBLISH, PUBREC -> PUBREL, PUBCOMP.
	sub.expect(&packet.Publish{QoS: 2, PacketID: 2, Topic: "t/2", Payload: []byte("two")})
	sub.send(&packet.Pubrec{PacketID: 2})
	sub.expect(&packet.Pubrel{PacketID: 2})
	sub.send(&packet.Pubcomp{PacketID: 2})

	// A marker proves the duplicate was not delivered.
	pub.send(&packet.Publish{Topic: "t/end", Payload: []byte("end")})
	sub.expect(&packet.Publish{Topic: "t/end", Payload: []byte("end")})
}

func TestQoSDowngradeAndOverlap(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/+", QoS: 0}, {Filter: "a/#", QoS: 1}, {Filter: "a/#/x", QoS: 1}}})
	sub.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0, 1, packet.SubackFailure}}) // [MQTT-3.9.3-2]
	// Overlapping subscriptions: one copy at the highest granted QoS
	// [MQTT-3.3.5-1].
	if err := b.Publish(t.Context(), gateway.Message{Topic: "a/b", Payload: []byte("x"), QoS: 2}); err != nil {
		t.Fatal(err)
	}
	sub.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: []byte("x")})
	sub.send(&packet.Puback{PacketID: 1})
	// Unsubscribe [MQTT-3.10.4-4]: only a/+ at QoS 0 is left.
	sub.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"a/#"}})
	sub.expect(&packet.Unsuback{PacketID: 2})
	b.Publish(t.Context(), gateway.Message{Topic: "a/b", Payload: []byte("y"), QoS: 2})
	sub.expect(&packet.Publish{Topic: "a/b", Payload: []byte("y")})
}

func TestRetained(t *testing.T) {
	b := newTestBroker(t, Config{})
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "r/a", Payload: []byte("A")})
	pub.expect(&packet.Puback{PacketID: 1})
	pub.send(&packet.Publish{Retain: true, Topic: "r/b", Payload: []byte("B")})
	pub.send(&packet.Publish{Retain: true, Topic: "r/b", Payload: []byte("B2")}) // replaces [MQTT-3.3.1-5]
	pub.send(&packet.Pingreq{})
	pub.expect(&packet.Pingresp{})

	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "r/a", 1)
	// [MQTT-3.3.1-6] [MQTT-3.3.1-8] sent on subscribe with retain set.
	sub.expect(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "r/a", Payload: []byte("A")})
	sub.send(&packet.Puback{PacketID: 1})
	sub.subscribe(2, "r/+", 0)
	got := map[string]string{}
	for range 2 {
		p := sub.recv().(*packet.Publish)
		if !p.Retain {
			t.Errorf("retained %s delivered without retain flag", p.Topic)
		}
		got[p.Topic] = string(p.Payload)
	}
	if got["r/a"] != "A" || got["r/b"] != "B2" {
		t.Errorf("retained on r/+ = %v", got)
	}
	// Live delivery clears the retain flag [MQTT-3.3.1-9]; an empty
	// payload deletes the retained message [MQTT-3.3.1-10].
	pub.send(&packet.Publish{Retain: true, Topic: "r/b", Payload: nil})
	sub.expect(&packet.Publish{Topic: "r/b"})
	if n := b.Stats().Retained; n != 1 {
		t.Errorf("Stats().Retained = %d, want 1", n)
	}
	sub2 := pipeClient(t, b)
	sub2.connect(&packet.Connect{ClientID: "sub2", CleanSession: true}, false)
	sub2.subscribe(1, "r/#", 0)
	sub2.expect(&packet.Publish{Retain: true, Topic: "r/a", Payload: []byte("A")})
	sub2.send(&packet.Pingreq{})
	sub2.expect(&packet.Pingresp{}) // and nothing for r/b
}

func TestWill(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "will/#", 1)

	// Closed without DISCONNECT: the will is published [MQTT-3.1.2-8].
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "w1", CleanSession: true, WillFlag: true, WillQoS: 1, WillTopic: "will/w1", WillPayload: []byte("gone")}, false)
	c.nc.Close()
	sub.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "will/w1", Payload: []byte("gone")})
	sub.send(&packet.Puback{PacketID: 1})

	// DISCONNECT discards the will [MQTT-3.1.2-10] [MQTT-3.14.4-3].
	c = pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "w2", CleanSession: true, WillFlag: true, WillTopic: "will/w2", WillPayload: []byte("no")}, false)
	c.send(&packet.Disconnect{})
	c.expectClosed()

	// A protocol violation publishes the will, retained when asked.
	c = pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "w3", CleanSession: true, WillFlag: true, WillRetain: true, WillTopic: "will/w3", WillPayload: []byte("bad")}, false)
	c.nc.Write([]byte{0xf0, 0})
	c.expectClosed()
	sub.expect(&packet.Publish{Topic: "will/w3", Payload: []byte("bad")})
	if n := b.Stats().Retained; n != 1 {
		t.Errorf("retained wills = %d, want 1", n)
	}
}

func TestKeepAlive(t *testing.T) {
	old := keepAliveDeadline
	keepAliveDeadline = func(ka uint16) time.Duration { return time.Duration(ka) * 150 * time.Millisecond }
	t.Cleanup(func() { keepAliveDeadline = old })
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "ka", 0)
	// [MQTT-3.1.2-24] silent for 1.5x the keep-alive: disconnected, and
	// the will is published.
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "ka", CleanSession: true, KeepAlive: 1, WillFlag: true, WillTopic: "ka", WillPayload: []byte("timeout")}, false)
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{})
	c.expectClosed()
	sub.expect(&packet.Publish{Topic: "ka", Payload: []byte("timeout")})
}

func TestSysTopicsNotMatchedByWildcard(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "#", 0)
	sub.subscribe(2, "$SYS/broker/version", 0)
	b.publishSys()
	// [MQTT-4.7.2-1] "#" does not match $SYS topics: only the explicit
	// subscription gets the version.
	sub.expect(&packet.Publish{Topic: "$SYS/broker/version", Payload: []byte(Version)})
	b.Publish(t.Context(), gateway.Message{Topic: "x", Payload: []byte("1")})
	sub.expect(&packet.Publish{Topic: "x", Payload: []byte("1")})
	// A client cannot publish into $SYS.
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "c", CleanSession: true}, false)
	c.send(&packet.Publish{Topic: "$SYS/broker/version", Payload: []byte("fake")})
	c.send(&packet.Publish{Topic: "x", Payload: []byte("2")})
	sub.expect(&packet.Publish{Topic: "x", Payload: []byte("2")})
}

func TestSlowSubscriberDoesNotStallPublisher(t *testing.T) {
	b := newTestBroker(t, Config{MaxQueuedMessages: 10})
	slow := pipeClient(t, b) // never reads after SUBACK: net.Pipe blocks the writer
	slow.connect(&packet.Connect{ClientID: "slow", CleanSession: true}, false)
	slow.subscribe(1, "s", 0)
	fast := pipeClient(t, b)
	fast.connect(&packet.Connect{ClientID: "fast", CleanSession: true}, false)
	fast.subscribe(1, "s", 0)
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	payload := bytes.Repeat([]byte("x"), 1000)
	// Lockstep: every message reaches the fast subscriber while the slow
	// one's writer is blocked and its queue overflows.
	for range 500 {
		pub.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "s", Payload: payload})
		pub.expect(&packet.Puback{PacketID: 1})
		fast.expect(&packet.Publish{Topic: "s", Payload: payload})
	}
	if d := b.Stats().Dropped; d == 0 {
		t.Errorf("Stats().Dropped = 0, want drops for the stuck subscriber")
	}
}

func TestTakeover(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "will", 0)
	c1 := pipeClient(t, b)
	c1.connect(&packet.Connect{ClientID: "same", WillFlag: true, WillTopic: "will", WillPayload: []byte("c1")}, false)
	c1.subscribe(1, "keep", 1)
	// [MQTT-3.1.4-2] the second connection closes the first; the
	// persistent session carries over (session present [MQTT-3.2.2-2]).
	c2 := pipeClient(t, b)
	c2.connect(&packet.Connect{ClientID: "same"}, true)
	c1.expectClosed()
	sub.expect(&packet.Publish{Topic: "will", Payload: []byte("c1")})
	b.Publish(t.Context(), gateway.Message{Topic: "keep", Payload: []byte("k"), QoS: 1})
	c2.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "keep", Payload: []byte("k")})
	c2.send(&packet.Puback{PacketID: 1})
	// A clean session discards the stored one [MQTT-3.1.2-6] [MQTT-3.2.2-1].
	c3 := pipeClient(t, b)
	c3.connect(&packet.Connect{ClientID: "same", CleanSession: true}, false)
	c2.expectClosed()
	b.Publish(t.Context(), gateway.Message{Topic: "keep", Payload: []byte("k2"), QoS: 1})
	c3.send(&packet.Pingreq{})
	c3.expect(&packet.Pingresp{})
}

func TestPersistentSessionRedelivery(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "p"}, false)
	c.subscribe(1, "q/#", 2)
	b.Publish(t.Context(), gateway.Message{Topic: "q/1", Payload: []byte("1"), QoS: 1})
	c.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "q/1", Payload: []byte("1")})
	b.Publish(t.Context(), gateway.Message{Topic: "q/2", Payload: []byte("2"), QoS: 2})
	c.expect(&packet.Publish{QoS: 2, PacketID: 2, Topic: "q/2", Payload: []byte("2")})
	c.send(&packet.Pubrec{PacketID: 2})
	c.expect(&packet.Pubrel{PacketID: 2})
	c.nc.Close()           // no acks: both stay in flight
	waitOffline(t, b, "p") // its session offline, not only its connection counted out
	// Queued while offline: QoS 1 and 2 kept, QoS 0 not.
	b.Publish(t.Context(), gateway.Message{Topic: "q/3", Payload: []byte("3"), QoS: 0})
	b.Publish(t.Context(), gateway.Message{Topic: "q/4", Payload: []byte("4"), QoS: 1})

	c = pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "p"}, true) // [MQTT-3.2.2-2]
	// [MQTT-4.4.0-1] unacknowledged PUBLISH resent with DUP [MQTT-3.3.1-1],
	// PUBREL resent, then the queue.
	c.expect(&packet.Publish{Dup: true, QoS: 1, PacketID: 1, Topic: "q/1", Payload: []byte("1")})
	c.expect(&packet.Pubrel{PacketID: 2})
	c.expect(&packet.Publish{QoS: 1, PacketID: 3, Topic: "q/4", Payload: []byte("4")})
	c.send(&packet.Puback{PacketID: 1})
	c.send(&packet.Pubcomp{PacketID: 2})
	c.send(&packet.Puback{PacketID: 3})
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{})
}

func TestInProcess(t *testing.T) {
	b := newTestBroker(t, Config{})
	b.Publish(t.Context(), gateway.Message{Topic: "in/r", Payload: []byte("ret"), QoS: 1, Retain: true})
	got := make(chan gateway.Message, 10)
	unsub, err := b.Subscribe("in/#", 1, func(m gateway.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m.Topic != "in/r" || string(m.Payload) != "ret" || !m.Retain || m.QoS != 1 {
		t.Errorf("retained on subscribe = %+v", m)
	}
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "c", CleanSession: true}, false)
	c.subscribe(1, "in/x", 0)
	c.send(&packet.Publish{QoS: 2, PacketID: 9, Topic: "in/x", Payload: []byte("from client")})
	c.expect(&packet.Pubrec{PacketID: 9})
	c.expect(&packet.Publish{Topic: "in/x", Payload: []byte("from client")}) // its own subscription
	m = <-got
	if m.Topic != "in/x" || string(m.Payload) != "from client" || m.Retain || m.QoS != 1 {
		t.Errorf("client publish = %+v", m)
	}
	b.Publish(t.Context(), gateway.Message{Topic: "in/x", Payload: []byte("pipeline"), QoS: 0})
	c.expect(&packet.Publish{Topic: "in/x", Payload: []byte("pipeline")})
	<-got
	unsub()
	if err := b.Publish(t.Context(), gateway.Message{Topic: "bad/#"}); err == nil {
		t.Error("Publish to a wildcard topic succeeded")
	}
	if _, err := b.Subscribe("a/#/b", 0, func(gateway.Message) {}); err == nil {
		t.Error("Subscribe to an invalid filter succeeded")
	}
	var _ gateway.Sink = b
	_ = context.Background
}

// TestCrashSurvival: once a QoS 1 PUBLISH is acknowledged, the message
// queued for an offline persistent session and the retained message are
// committed: a second broker opening the same database without the first
// one closing (as after kill -9) restores them.
func TestCrashSurvival(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	b1 := newTestBroker(t, Config{PersistencePath: db})
	c := pipeClient(t, b1)
	c.connect(&packet.Connect{ClientID: "durable"}, false)
	c.subscribe(1, "d/#", 1)
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitFor(t, "disconnect", func() bool { return b1.Stats().ClientsConnected == 0 })
	pub := pipeClient(t, b1)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "d/1", Payload: []byte("acked"), Retain: true})
	pub.expect(&packet.Puback{PacketID: 1})

	b2 := newTestBroker(t, Config{PersistencePath: db}) // b1 is never closed before
	c = pipeClient(t, b2)
	c.connect(&packet.Connect{ClientID: "durable"}, true)
	c.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "d/1", Payload: []byte("acked")})
	if n := b2.Stats().Retained; n != 1 {
		t.Errorf("retained after crash = %d, want 1", n)
	}
}

// TestQoS2StateAcrossRestart: a QoS 2 message in flight to a persistent
// session keeps its packet id across a broker restart: the restarted
// broker resends the PUBLISH with DUP, or PUBREL once PUBREC came
// [MQTT-4.4.0-1], so the client's exactly-once state still applies.
func TestQoS2StateAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	b1, err := New(Config{PersistencePath: db}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b1.Close() })
	c := pipeClient(t, b1)
	c.connect(&packet.Connect{ClientID: "q2"}, false)
	c.subscribe(1, "x", 2)
	b1.Publish(t.Context(), gateway.Message{Topic: "x", Payload: []byte("one"), QoS: 2})
	c.expect(&packet.Publish{QoS: 2, PacketID: 1, Topic: "x", Payload: []byte("one")})
	c.send(&packet.Pubrec{PacketID: 1})
	c.expect(&packet.Pubrel{PacketID: 1})
	b1.Publish(t.Context(), gateway.Message{Topic: "x", Payload: []byte("two"), QoS: 2})
	c.expect(&packet.Publish{QoS: 2, PacketID: 2, Topic: "x", Payload: []byte("two")})
	b1.Publish(t.Context(), gateway.Message{Topic: "x", Payload: []byte("three"), QoS: 1})
	c.expect(&packet.Publish{QoS: 1, PacketID: 3, Topic: "x", Payload: []byte("three")})
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := newTestBroker(t, Config{PersistencePath: db})
	c = pipeClient(t, b2)
	c.connect(&packet.Connect{ClientID: "q2"}, true)
	c.expect(&packet.Pubrel{PacketID: 1})
	c.expect(&packet.Publish{Dup: true, QoS: 2, PacketID: 2, Topic: "x", Payload: []byte("two")})
	c.expect(&packet.Publish{QoS: 1, PacketID: 3, Topic: "x", Payload: []byte("three")}) // QoS 1: resent as new
	c.send(&packet.Pubcomp{PacketID: 1})
	c.send(&packet.Pubrec{PacketID: 2})
	c.expect(&packet.Pubrel{PacketID: 2})
	c.send(&packet.Pubcomp{PacketID: 2})
	c.send(&packet.Puback{PacketID: 3})
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{})
}
