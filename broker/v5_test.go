package broker

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
)

// connect5 connects an MQTT 5.0 rawClient and returns the CONNACK, which
// must accept it with the given session-present flag.
func (c *rawClient) connect5(p *packet.Connect, present bool) *packet.Connack {
	c.t.Helper()
	p.ProtocolName, p.ProtocolLevel = "MQTT", packet.Version5
	c.version = packet.Version5
	c.send(p)
	ack, ok := c.recv().(*packet.Connack)
	if !ok || ack.ReasonCode != packet.CodeSuccess || ack.SessionPresent != present {
		c.t.Fatalf("CONNACK %+v, want success with session present %v", ack, present)
	}
	return ack
}

// expectDisconnect waits for a DISCONNECT with code, then the close.
func (c *rawClient) expectDisconnect(code packet.Code) {
	c.t.Helper()
	for {
		p := c.recv()
		if d, ok := p.(*packet.Disconnect); ok {
			if d.ReasonCode != code {
				c.t.Fatalf("DISCONNECT %#x (%v), want %#x (%v)", byte(d.ReasonCode), d.ReasonCode, byte(code), code)
			}
			break
		}
		if _, ok := p.(*packet.Publish); !ok {
			c.t.Fatalf("received %#v, want DISCONNECT %v", p, code)
		}
	}
	c.expectClosed()
}

func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }

// TestV5Connack: an MQTT 5.0 client is accepted and told the broker's
// limits and features (section 3.2.2.3); an empty client id gets one
// assigned [MQTT-3.2.2-16], also without Clean Start (5.0 allows it).
func TestV5Connack(t *testing.T) {
	b := newTestBroker(t, Config{MaxPacketSize: 4096})
	c := pipeClient(t, b)
	ack := c.connect5(&packet.Connect{KeepAlive: 60}, false)
	want := &packet.Properties{ReceiveMaximum: u16(receiveMaximum), MaximumPacketSize: u32(4096), TopicAliasMaximum: u16(topicAliasMaximum),
		AssignedClientID: ack.Properties.AssignedClientID}
	if !strings.HasPrefix(ack.Properties.AssignedClientID, "auto-") || !reflect.DeepEqual(ack.Properties, want) {
		t.Fatalf("CONNACK properties %+v, want %+v with an auto- client id", ack.Properties, want)
	}
	// The broker's session_expiry caps the client's Session Expiry
	// Interval, and CONNACK says so.
	b2 := newTestBroker(t, Config{SessionExpiry: time.Hour})
	c2 := pipeClient(t, b2)
	ack = c2.connect5(&packet.Connect{ClientID: "c2", CleanSession: true,
		Properties: &packet.Properties{SessionExpiry: u32(maxExpiryInterval)}}, false)
	if got := ack.Properties.SessionExpiry; got == nil || *got != 3600 {
		t.Fatalf("CONNACK session expiry %v, want 3600", got)
	}
}

// TestV5ConnectRefused: an Authentication Method is answered with 0x8C
// [MQTT-4.12.0-1], bad credentials with the 5.0 reason code, a will that
// is not the UTF-8 its payload format indicator says with 0x99.
func TestV5ConnectRefused(t *testing.T) {
	b := newTestBroker(t, Config{})
	for _, tc := range []struct {
		name string
		p    *packet.Connect
		want packet.Code
	}{
		{"auth method", &packet.Connect{ClientID: "a", CleanSession: true,
			Properties: &packet.Properties{AuthMethod: "SCRAM-SHA-1"}}, packet.ErrBadAuthMethod},
		{"will payload format", &packet.Connect{ClientID: "w", CleanSession: true, WillFlag: true, WillTopic: "t",
			WillPayload: []byte{0xff}, WillProperties: &packet.Properties{PayloadFormat: new(byte(1))}}, packet.ErrPayloadFormatInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pipeClient(t, b)
			tc.p.ProtocolName, tc.p.ProtocolLevel, c.version = "MQTT", packet.Version5, packet.Version5
			c.send(tc.p)
			c.expect(&packet.Connack{ReasonCode: tc.want})
			c.expectClosed()
		})
	}
}

// TestV5ReasonCodes: acknowledgements carry reason codes for MQTT 5.0
// clients (sections 3.4.2.1, 3.5.2.1, 3.7.2.1, 3.9.3, 3.11.3).
func TestV5ReasonCodes(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", CleanSession: true}, false)

	c.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "nobody/here", Payload: []byte("x")})
	c.expect(&packet.Puback{PacketID: 1, ReasonCode: packet.CodeNoMatchingSubscribers})
	c.send(&packet.Publish{QoS: 2, PacketID: 2, Topic: "nobody/here", Payload: []byte("x")})
	c.expect(&packet.Pubrec{PacketID: 2, ReasonCode: packet.CodeNoMatchingSubscribers})
	c.send(&packet.Pubrel{PacketID: 2})
	c.expect(&packet.Pubcomp{PacketID: 2})

	c.send(&packet.Publish{QoS: 1, PacketID: 3, Topic: "$SYS/x", Payload: []byte("x")})
	c.expect(&packet.Puback{PacketID: 3, ReasonCode: packet.ErrNotAuthorized})
	// A QoS 2 exchange refused in PUBREC ends there: a PUBREL for it is
	// for an unknown packet id.
	c.send(&packet.Publish{QoS: 2, PacketID: 4, Topic: "$SYS/x", Payload: []byte("x")})
	c.expect(&packet.Pubrec{PacketID: 4, ReasonCode: packet.ErrNotAuthorized})
	c.send(&packet.Pubrel{PacketID: 4})
	c.expect(&packet.Pubcomp{PacketID: 4, ReasonCode: packet.ErrPacketIDNotFound})

	c.send(&packet.Publish{QoS: 1, PacketID: 5, Topic: "a", Payload: []byte{0xc3},
		Properties: &packet.Properties{PayloadFormat: new(byte(1))}})
	c.expect(&packet.Puback{PacketID: 5, ReasonCode: packet.ErrPayloadFormatInvalid})

	c.send(&packet.Subscribe{PacketID: 6, Subscriptions: []packet.Subscription{
		{Filter: "a/#", QoS: 1}, {Filter: "a/#/b"}, {Filter: "$share/g+/a"}, {Filter: "b", QoS: 2}}})
	c.expect(&packet.Suback{PacketID: 6, ReturnCodes: []byte{1, byte(packet.ErrTopicFilterInvalid),
		byte(packet.ErrTopicFilterInvalid), 2}})
	c.send(&packet.Publish{QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("hi")})
	got := map[packet.Type]packet.Packet{}
	for range 2 { // PUBACK and the PUBLISH, in either order
		p := c.recv()
		got[p.Type()] = p
	}
	if !reflect.DeepEqual(got[packet.PUBACK], &packet.Puback{PacketID: 7}) {
		t.Fatalf("PUBACK %#v, want success", got[packet.PUBACK])
	}
	if pub, ok := got[packet.PUBLISH].(*packet.Publish); !ok || pub.Topic != "a/b" || string(pub.Payload) != "hi" || pub.QoS != 1 {
		t.Fatalf("PUBLISH %#v", got[packet.PUBLISH])
	}
	c.send(&packet.Puback{PacketID: got[packet.PUBLISH].(*packet.Publish).PacketID})
	c.send(&packet.Unsubscribe{PacketID: 8, Filters: []string{"a/#", "nothing"}})
	c.expect(&packet.Unsuback{PacketID: 8, ReasonCodes: []packet.Code{packet.CodeSuccess, packet.CodeNoSubscriptionExisted}})

	// A 3.1.1 client of the same broker gets the 3.1.1 forms.
	v3 := pipeClient(t, b)
	v3.connect(&packet.Connect{ClientID: "v3", CleanSession: true}, false)
	v3.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#/b"}, {Filter: "x"}}})
	v3.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{packet.SubackFailure, 0}})
}

// TestV5ServerDisconnect: the broker tells an MQTT 5.0 client why it closes
// the connection (section 4.13, [MQTT-4.13.2-1]).
func TestV5ServerDisconnect(t *testing.T) {
	t.Run("session taken over", func(t *testing.T) {
		b := newTestBroker(t, Config{})
		old := pipeClient(t, b)
		old.connect5(&packet.Connect{ClientID: "same", CleanSession: true}, false)
		nw := pipeClient(t, b)
		nw.connect5(&packet.Connect{ClientID: "same", CleanSession: true}, false)
		old.expectDisconnect(packet.ErrSessionTakenOver)
	})
	t.Run("shutdown", func(t *testing.T) {
		b := newTestBroker(t, Config{})
		c := pipeClient(t, b)
		c.connect5(&packet.Connect{ClientID: "c", CleanSession: true}, false)
		done := make(chan struct{})
		go func() { defer close(done); b.Close() }()
		c.expectDisconnect(packet.ErrServerShuttingDown)
		<-done
	})
	t.Run("keep-alive timeout", func(t *testing.T) {
		old := keepAliveDeadline
		keepAliveDeadline = func(uint16) time.Duration { return 50 * time.Millisecond }
		t.Cleanup(func() { keepAliveDeadline = old })
		b := newTestBroker(t, Config{})
		c := pipeClient(t, b)
		c.connect5(&packet.Connect{ClientID: "c", CleanSession: true, KeepAlive: 1}, false)
		c.expectDisconnect(packet.ErrKeepAliveTimeout)
	})
	for _, tc := range []struct {
		name string
		raw  []byte // sent after CONNECT
		want packet.Code
	}{
		{"packet too large", (&packet.Publish{Topic: "t", Payload: make([]byte, 600)}).AppendVersion(nil, packet.Version5), packet.ErrTooLarge},
		{"malformed", []byte{0x30, 0x02, 0x00, 0x05}, packet.ErrMalformed},
		{"second CONNECT", (&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 5, ClientID: "x", CleanSession: true}).Append(nil), packet.ErrProtocol},
		{"AUTH", (&packet.Auth{ReasonCode: packet.CodeReAuthenticate}).AppendVersion(nil, packet.Version5), packet.ErrProtocol},
		{"topic alias too large", (&packet.Publish{Topic: "t", Properties: &packet.Properties{TopicAlias: u16(topicAliasMaximum + 1)}}).AppendVersion(nil, packet.Version5), packet.ErrTopicAliasInvalid},
		{"topic alias not set", (&packet.Publish{Properties: &packet.Properties{TopicAlias: u16(1)}}).AppendVersion(nil, packet.Version5), packet.ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBroker(t, Config{MaxPacketSize: 512})
			c := pipeClient(t, b)
			c.connect5(&packet.Connect{ClientID: "c", CleanSession: true}, false)
			c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
			go c.nc.Write(tc.raw) // the broker may stop reading midway
			c.expectDisconnect(tc.want)
		})
	}
	t.Run("receive maximum exceeded", func(t *testing.T) {
		b := newTestBroker(t, Config{})
		c := tcpClient(t, b)
		c.connect5(&packet.Connect{ClientID: "c", CleanSession: true}, false)
		// QoS 2 messages never released stay unacknowledged.
		var burst []byte
		for id := range uint16(receiveMaximum + 1) {
			burst = (&packet.Publish{QoS: 2, PacketID: id + 1, Topic: "t"}).AppendVersion(burst, packet.Version5)
		}
		go c.nc.Write(burst)
		for range receiveMaximum {
			if p := c.recv(); p.Type() != packet.PUBREC {
				t.Fatalf("received %#v, want PUBREC", p)
			}
		}
		c.expectDisconnect(packet.ErrReceiveMaximumExceeded)
	})
}

// TestV5Will: DISCONNECT with reason code 0x04 publishes the will, 0x00
// does not [MQTT-3.1.2-10]; a 3.1.1 subscriber gets a 5.0 client's will.
func TestV5Will(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "will/#", 0)
	for _, tc := range []struct {
		code packet.Code
		will bool
	}{{packet.CodeNormalDisconnection, false}, {packet.CodeDisconnectWithWill, true}} {
		c := pipeClient(t, b)
		c.connect5(&packet.Connect{ClientID: "dev", CleanSession: true, WillFlag: true, WillTopic: "will/dev",
			WillPayload: []byte{byte(tc.code)}}, false)
		c.send(&packet.Disconnect{ReasonCode: tc.code})
		c.expectClosed()
		// The broker publishes the will after closing: wait until the
		// connection is finished (only sub's is left).
		waitFor(t, "connection finished", func() bool { return b.nconns.Load() == 1 })
	}
	// A marker after both: only the will of 0x04 comes before it.
	if err := b.Publish(t.Context(), gateway.Message{Topic: "will/marker", Payload: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	sub.expect(&packet.Publish{Topic: "will/dev", Payload: []byte{byte(packet.CodeDisconnectWithWill)}})
	sub.expect(&packet.Publish{Topic: "will/marker", Payload: []byte("m")})
}

// TestV5SessionExpiry: the Session Expiry Interval decides whether a
// session outlives its connection [MQTT-3.1.2-23], Clean Start whether it
// is resumed; DISCONNECT may change the interval, not from 0
// [MQTT-3.14.2-2].
func TestV5SessionExpiry(t *testing.T) {
	b := newTestBroker(t, Config{})
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)

	c := pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "s", CleanSession: true, Properties: &packet.Properties{SessionExpiry: u32(60)}}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q", QoS: 1}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitOffline(t, b, "s")
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "q", Payload: []byte("queued")})
	pub.expect(&packet.Puback{PacketID: 1})

	// Resumed: the queued message arrives. This connection asks for 0,
	// and its DISCONNECT may not raise it.
	c = pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "s"}, true)
	if p, ok := c.recv().(*packet.Publish); !ok || string(p.Payload) != "queued" {
		t.Fatalf("received %#v, want the queued message", p)
	}
	c.send(&packet.Disconnect{Properties: &packet.Properties{SessionExpiry: u32(60)}})
	c.expectDisconnect(packet.ErrProtocol)

	// The session ended with that connection (expiry 0).
	waitFor(t, "session s gone", func() bool { return b.Stats().Sessions == 1 })
	c = pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "s", Properties: &packet.Properties{SessionExpiry: u32(60)}}, false)
	// DISCONNECT with Session Expiry 0 ends it too.
	c.send(&packet.Disconnect{Properties: &packet.Properties{SessionExpiry: u32(0)}})
	c.expectClosed()
	waitFor(t, "session s gone", func() bool { return b.Stats().Sessions == 1 })

	// A 3.1.1 client resumes a session a 5.0 client created.
	c = pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "x", CleanSession: true, Properties: &packet.Properties{SessionExpiry: u32(60)}}, false)
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitOffline(t, b, "x")
	c = pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "x"}, true)
}

// TestV5CrossVersion: a 5.0 message reaches a 3.1.1 subscriber and the
// other way round, each in its own encoding.
func TestV5CrossVersion(t *testing.T) {
	b := newTestBroker(t, Config{})
	v3 := pipeClient(t, b)
	v3.connect(&packet.Connect{ClientID: "v3", CleanSession: true}, false)
	v3.subscribe(1, "from5", 0)
	v5 := pipeClient(t, b)
	v5.connect5(&packet.Connect{ClientID: "v5", CleanSession: true}, false)
	v5.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "from3"}}})
	v5.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0}})

	v5.send(&packet.Publish{Topic: "from5", Payload: []byte("five"),
		Properties: &packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}}})
	v3.expect(&packet.Publish{Topic: "from5", Payload: []byte("five")})
	v3.send(&packet.Publish{Topic: "from3", Payload: []byte("three")})
	v5.expect(&packet.Publish{Topic: "from3", Payload: []byte("three")})
	// $SYS, metrics and the status page count clients by version.
	if st := b.Stats(); st.ClientsConnected != 2 || st.ClientsMQTT5 != 1 {
		t.Fatalf("clients %d, MQTT 5.0 %d; want 2 and 1", st.ClientsConnected, st.ClientsMQTT5)
	}
}

// TestV5ClientLimits: the broker keeps to the client's Receive Maximum
// [MQTT-3.3.4-7] and Maximum Packet Size [MQTT-3.1.2-24]: a message too
// large for the client is not sent to it, and counted.
func TestV5ClientLimits(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := tcpClient(t, b) // net.Pipe would block the broker writing while the test writes
	c.connect5(&packet.Connect{ClientID: "c", CleanSession: true,
		Properties: &packet.Properties{ReceiveMaximum: u16(2), MaximumPacketSize: u32(100)}}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 1}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	for i, payload := range []string{"1", strings.Repeat("x", 200), "2", "3", "4"} {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "t", Payload: []byte(payload)})
		pub.expect(&packet.Puback{PacketID: uint16(i + 1)})
	}
	var got []string
	var ids []uint16
	for range 2 {
		p := c.recv().(*packet.Publish)
		got, ids = append(got, string(p.Payload)), append(ids, p.PacketID)
	}
	// Nothing more until one is acknowledged: a PINGRESP comes first.
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{})
	c.send(&packet.Puback{PacketID: ids[0]})
	c.send(&packet.Puback{PacketID: ids[1]})
	for range 2 {
		p := c.recv().(*packet.Publish)
		got = append(got, string(p.Payload))
		c.send(&packet.Puback{PacketID: p.PacketID})
	}
	if want := []string{"1", "2", "3", "4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
	if n := b.Stats().TooLarge; n != 1 {
		t.Fatalf("TooLarge %d, want 1", n)
	}
}

// TestV5MessageProperties: the properties of a message reach MQTT 5.0
// subscribers unchanged and in order, with the Message Expiry Interval
// counted down and the Subscription Identifiers of the matching
// subscriptions [MQTT-3.3.2-6] [MQTT-3.3.2-18] [MQTT-3.3.4-3]; a 3.1.1
// subscriber gets the message without them.
func TestV5MessageProperties(t *testing.T) {
	b, clk := newExpiryBroker(t, Config{}, time.Hour, nil)
	sub := pipeClient(t, b)
	sub.connect5(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "p/#", QoS: 1}},
		Properties: &packet.Properties{SubscriptionIDs: []uint32{7}}})
	sub.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	sub.send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "p/+", QoS: 1}},
		Properties: &packet.Properties{SubscriptionIDs: []uint32{9}}})
	sub.expect(&packet.Suback{PacketID: 2, ReturnCodes: []byte{1}})
	v3 := pipeClient(t, b)
	v3.connect(&packet.Connect{ClientID: "v3", CleanSession: true}, false)
	v3.subscribe(1, "p/#", 0)

	props := func(expiry uint32) *packet.Properties {
		return &packet.Properties{PayloadFormat: new(byte(1)), MessageExpiry: u32(expiry), ContentType: "application/json",
			ResponseTopic: "re/ply", CorrelationData: []byte{0, 1, 2},
			User: []packet.UserProperty{{Key: "k", Value: "2"}, {Key: "a", Value: "x"}, {Key: "k", Value: "1"}}}
	}
	pub := pipeClient(t, b)
	pub.connect5(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "p/x", Payload: []byte(`{"v":1}`), Properties: props(60)})
	pub.expect(&packet.Puback{PacketID: 1})

	v3.expect(&packet.Publish{Topic: "p/x", Payload: []byte(`{"v":1}`)})
	got := sub.recv().(*packet.Publish)
	want := props(60)
	if ids := got.Properties.SubscriptionIDs; len(ids) == 2 && ids[0] == 9 {
		ids[0], ids[1] = ids[1], ids[0] // either order
	}
	want.SubscriptionIDs = []uint32{7, 9}
	if !reflect.DeepEqual(got.Properties, want) {
		t.Fatalf("properties %+v\nwant %+v", got.Properties, want)
	}
	sub.send(&packet.Puback{PacketID: got.PacketID})

	// Queued for an offline session, the interval counts down; once it
	// has passed, the message is not sent [MQTT-3.3.2-5]. The same for a
	// retained message.
	per := pipeClient(t, b)
	per.connect5(&packet.Connect{ClientID: "per", CleanSession: true, Properties: &packet.Properties{SessionExpiry: u32(3600)}}, false)
	per.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "e/#", QoS: 1}}})
	per.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	per.send(&packet.Disconnect{})
	per.expectClosed()
	waitOffline(t, b, "per")
	for i, expiry := range []uint32{10, 100} {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(2 + i), Retain: i == 0, Topic: fmt.Sprintf("e/%d", expiry),
			Payload: []byte("m"), Properties: &packet.Properties{MessageExpiry: u32(expiry)}})
		pub.expect(&packet.Puback{PacketID: uint16(2 + i)})
	}
	clk.set(30 * time.Second)
	per = pipeClient(t, b)
	per.connect5(&packet.Connect{ClientID: "per", Properties: &packet.Properties{SessionExpiry: u32(3600)}}, true)
	p := per.recv().(*packet.Publish)
	if p.Topic != "e/100" || p.Properties == nil || *p.Properties.MessageExpiry > 70 || *p.Properties.MessageExpiry < 69 {
		t.Fatalf("received %s with %+v, want e/100 with about 70 s left", p.Topic, p.Properties)
	}
	per.send(&packet.Puback{PacketID: p.PacketID})
	if n := b.Stats().Expired; n != 1 {
		t.Fatalf("Expired %d, want 1", n)
	}
	late := pipeClient(t, b)
	late.connect5(&packet.Connect{ClientID: "late", CleanSession: true}, false)
	late.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "e/#"}}})
	late.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0}})
	late.send(&packet.Pingreq{})
	late.expect(&packet.Pingresp{}) // no expired retained message before it
}

// TestV5SubscriptionOptions: No Local [MQTT-3.8.3-3], Retain As Published
// [MQTT-3.3.1-12] [MQTT-3.3.1-13] and Retain Handling 0, 1 and 2
// [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
func TestV5SubscriptionOptions(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", CleanSession: true}, false)
	sub := func(id uint16, s packet.Subscription) {
		t.Helper()
		c.send(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{s}})
		c.expect(&packet.Suback{PacketID: id, ReturnCodes: []byte{s.QoS}})
	}
	sub(1, packet.Subscription{Filter: "nl", NoLocal: true})
	sub(2, packet.Subscription{Filter: "rap", RetainAsPublished: true})
	sub(3, packet.Subscription{Filter: "norap"})
	c.send(&packet.Publish{Topic: "nl", Payload: []byte("own")})
	c.send(&packet.Publish{Topic: "rap", Retain: true, Payload: []byte("r")})
	c.expect(&packet.Publish{Topic: "rap", Retain: true, Payload: []byte("r")})
	c.send(&packet.Publish{Topic: "norap", Retain: true, Payload: []byte("n")})
	c.expect(&packet.Publish{Topic: "norap", Payload: []byte("n")}) // the own "nl" message did not come

	// A retained message on rh, and subscriptions with each handling.
	c.send(&packet.Publish{Topic: "rh", Retain: true, Payload: []byte("kept")})
	sub(4, packet.Subscription{Filter: "rh", RetainHandling: 2})
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{})
	c.send(&packet.Unsubscribe{PacketID: 5, Filters: []string{"rh"}})
	c.expect(&packet.Unsuback{PacketID: 5, ReasonCodes: []packet.Code{0}})
	sub(6, packet.Subscription{Filter: "rh", RetainHandling: 1}) // new: sent
	c.expect(&packet.Publish{Topic: "rh", Retain: true, Payload: []byte("kept")})
	sub(7, packet.Subscription{Filter: "rh", RetainHandling: 1}) // existing: not sent
	sub(8, packet.Subscription{Filter: "rh"})                    // 0: sent
	c.expect(&packet.Publish{Topic: "rh", Retain: true, Payload: []byte("kept")})
}

// TestV5StateAcrossRestart: a persistent MQTT 5.0 session keeps its Session
// Expiry Interval, its subscription options and Subscription Identifier,
// and its queued message with properties and Message Expiry Interval in
// broker/store; so does a retained message.
func TestV5StateAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	open := func() *Broker {
		b, err := New(Config{PersistencePath: db}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	props := &packet.Properties{ContentType: "text/plain", MessageExpiry: u32(600),
		User: []packet.UserProperty{{Key: "k", Value: "v"}}}
	b1 := open()
	c := pipeClient(t, b1)
	c.connect5(&packet.Connect{ClientID: "s", CleanSession: true, Properties: &packet.Properties{SessionExpiry: u32(120)}}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q/#", QoS: 1, NoLocal: true}},
		Properties: &packet.Properties{SubscriptionIDs: []uint32{42}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitOffline(t, b1, "s")
	pub := pipeClient(t, b1)
	pub.connect5(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "q/1", Payload: []byte("m"), Properties: props})
	pub.expect(&packet.Puback{PacketID: 1})
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := open()
	b2.mu.Lock()
	s := b2.sessions["s"]
	b2.mu.Unlock()
	if s == nil || s.expiry != 120*time.Second || s.subs["q/#"] != (subOpts{qos: 1, noLocal: true, id: 42}) {
		t.Fatalf("restored session %+v", s)
	}
	c = pipeClient(t, b2)
	c.connect5(&packet.Connect{ClientID: "s", Properties: &packet.Properties{SessionExpiry: u32(120)}}, true)
	p := c.recv().(*packet.Publish)
	want := &packet.Properties{ContentType: "text/plain", MessageExpiry: p.Properties.MessageExpiry,
		User: []packet.UserProperty{{Key: "k", Value: "v"}}, SubscriptionIDs: []uint32{42}}
	if left := *p.Properties.MessageExpiry; left > 600 || left < 590 || !reflect.DeepEqual(p.Properties, want) {
		t.Fatalf("queued message after restart: %+v", p.Properties)
	}
	c.send(&packet.Puback{PacketID: p.PacketID})
	r := pipeClient(t, b2)
	r.connect5(&packet.Connect{ClientID: "r", CleanSession: true}, false)
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q/1"}}})
	r.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0}})
	rp := r.recv().(*packet.Publish)
	if !rp.Retain || rp.Properties == nil || rp.Properties.ContentType != "text/plain" || rp.Properties.MessageExpiry == nil {
		t.Fatalf("retained message after restart: %+v %+v", rp, rp.Properties)
	}
}

// TestV5TopicAliasFromClient: a client sets a Topic Alias with a topic
// name and then publishes with the alias alone (section 3.3.2.3.4).
func TestV5TopicAliasFromClient(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "long/topic/#", 0)
	c := pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", CleanSession: true}, false)
	c.send(&packet.Publish{Topic: "long/topic/a", Payload: []byte("1"), Properties: &packet.Properties{TopicAlias: u16(3)}})
	c.send(&packet.Publish{Payload: []byte("2"), Properties: &packet.Properties{TopicAlias: u16(3)}})
	c.send(&packet.Publish{Topic: "long/topic/b", Payload: []byte("3"), Properties: &packet.Properties{TopicAlias: u16(3)}})
	c.send(&packet.Publish{Payload: []byte("4"), Properties: &packet.Properties{TopicAlias: u16(3)}})
	for _, want := range []struct{ topic, payload string }{{"long/topic/a", "1"}, {"long/topic/a", "2"}, {"long/topic/b", "3"}, {"long/topic/b", "4"}} {
		sub.expect(&packet.Publish{Topic: want.topic, Payload: []byte(want.payload)})
	}
}

// TestV5WillDelay: a will with a Will Delay Interval is not sent when the
// session is resumed within it [MQTT-3.1.3-9]; it is sent when the session
// ends first: started anew with Clean Start, or expired.
func TestV5WillDelay(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "will/#", 0)
	connect := func(clean bool, present bool, expiry uint32, payload string) *rawClient {
		c := tcpClient(t, b)
		c.connect5(&packet.Connect{ClientID: "dev", CleanSession: clean, WillFlag: true, WillTopic: "will/dev",
			WillPayload: []byte(payload), WillProperties: &packet.Properties{WillDelay: u32(3600)},
			Properties: &packet.Properties{SessionExpiry: u32(expiry)}}, present)
		return c
	}
	marker := func(m string) {
		t.Helper()
		if err := b.Publish(t.Context(), gateway.Message{Topic: "will/marker", Payload: []byte(m)}); err != nil {
			t.Fatal(err)
		}
		sub.expect(&packet.Publish{Topic: "will/marker", Payload: []byte(m)})
	}
	c := connect(true, false, 600, "1")
	c.nc.Close() // lost without DISCONNECT
	waitOffline(t, b, "dev")
	c = connect(false, true, 600, "2") // resumed in time: will 1 is not sent
	marker("a")
	c.nc.Close()
	waitOffline(t, b, "dev")
	c = connect(true, false, 1, "3") // Clean Start ends the session: will 2 now
	sub.expect(&packet.Publish{Topic: "will/dev", Payload: []byte("2")})
	c.nc.Close() // the session ends after 1 s, before the delay: will 3 then
	sub.expect(&packet.Publish{Topic: "will/dev", Payload: []byte("3")})
}

// TestV5SharedSubscription: each message of a shared subscription goes to
// one member of the group [MQTT-4.8.2-2], 3.1.1 members included; a member
// that goes away with a message unacknowledged does not take it with it:
// another member gets it (section 4.8.2).
func TestV5SharedSubscription(t *testing.T) {
	b := newTestBroker(t, Config{})
	a := tcpClient(t, b)
	a.connect5(&packet.Connect{ClientID: "a", CleanSession: true}, false)
	a.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/s/#", QoS: 1}}})
	a.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	bc := tcpClient(t, b)
	bc.connect(&packet.Connect{ClientID: "b", CleanSession: true}, false)
	bc.subscribe(1, "$share/g/s/#", 1)
	pub := tcpClient(t, b)
	pub.connect5(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	const n = 10
	for i := range n {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "s/x", Payload: []byte{byte(i)}})
		pub.expect(&packet.Puback{PacketID: uint16(i + 1)})
	}
	seen := map[byte]int{}
	for _, c := range []*rawClient{a, bc} {
		for range n / 2 { // round robin between two connected members
			p := c.recv().(*packet.Publish)
			seen[p.Payload[0]]++
			c.send(&packet.Puback{PacketID: p.PacketID})
		}
	}
	if len(seen) != n {
		t.Fatalf("messages seen %v, want each of %d once", seen, n)
	}
	// a's turn: it gets the next message and leaves without acknowledging
	// it; its session ends (expiry 0), and b gets the message.
	pub.send(&packet.Publish{QoS: 1, PacketID: 20, Topic: "s/x", Payload: []byte("kept")})
	pub.expect(&packet.Puback{PacketID: 20})
	if p := a.recv().(*packet.Publish); string(p.Payload) != "kept" {
		t.Fatalf("a got %q", p.Payload)
	}
	a.nc.Close()
	if p := bc.recv().(*packet.Publish); string(p.Payload) != "kept" {
		t.Fatalf("b got %q after a left, want the message a did not acknowledge", p.Payload)
	}
}

// TestV5TopicAliasToClient: to a client with a Topic Alias Maximum the
// broker sends a topic name once with an alias, then the alias alone; past
// the maximum, topic names, also for a topic sent again: aliases are not
// replaced (see aliasOut).
func TestV5TopicAliasToClient(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := pipeClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", CleanSession: true, Properties: &packet.Properties{TopicAliasMaximum: u16(2)}}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t/#"}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0}})
	for _, tc := range []struct {
		topic, sent string
		alias       uint16
	}{{"t/a", "t/a", 1}, {"t/a", "", 1}, {"t/b", "t/b", 2}, {"t/c", "t/c", 0}, {"t/b", "", 2}, {"t/c", "t/c", 0}, {"t/a", "", 1}} {
		if err := b.Publish(t.Context(), gateway.Message{Topic: tc.topic, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		want := &packet.Publish{Topic: tc.sent, Payload: []byte("x")}
		if tc.alias != 0 {
			want.Properties = &packet.Properties{TopicAlias: u16(tc.alias)}
		}
		c.expect(want)
	}
}
