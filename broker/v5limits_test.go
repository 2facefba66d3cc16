package broker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

// TestV5ResendOverMaximumPacketSize: a QoS 1 message in flight when the
// connection broke is resent to the resuming connection [MQTT-4.4.0-1]
// only if it fits the new connection's Maximum Packet Size; a larger one
// is discarded as if delivered and counted [MQTT-3.1.2-25].
func TestV5ResendOverMaximumPacketSize(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := tcpClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", CleanSession: true, Properties: &packet.Properties{SessionExpiry: u32(600)}}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 1}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	big := strings.Repeat("x", 300)
	for i, payload := range []string{"1", big, "2"} {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "t", Payload: []byte(payload)})
		pub.expect(&packet.Puback{PacketID: uint16(i + 1)})
	}
	for _, want := range []string{"1", big, "2"} {
		if p := c.recv().(*packet.Publish); string(p.Payload) != want {
			t.Fatalf("received %q, want %q", p.Payload, want)
		}
	}
	c.nc.Close() // none acknowledged
	waitOffline(t, b, "c")

	c = tcpClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", Properties: &packet.Properties{SessionExpiry: u32(600), MaximumPacketSize: u32(100)}}, true)
	var got []string
	for range 2 {
		p := c.recv().(*packet.Publish)
		if !p.Dup {
			t.Errorf("resend of %q without DUP", p.Payload)
		}
		got = append(got, string(p.Payload))
		c.send(&packet.Puback{PacketID: p.PacketID})
	}
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{}) // and not the large message
	if want := []string{"1", "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resent %q, want %q", got, want)
	}
	if n := b.Stats().TooLarge; n != 1 {
		t.Fatalf("TooLarge %d, want 1", n)
	}
	b.mu.Lock()
	s := b.sessions["c"]
	b.mu.Unlock()
	s.mu.Lock()
	inflight := len(s.inflight)
	s.mu.Unlock()
	if inflight != 0 {
		t.Fatalf("%d messages still in flight, want none", inflight)
	}
}

// TestV5QuotaExceeded: at max_memory an MQTT 5.0 QoS 1 or 2 PUBLISH is
// refused with 0x97 Quota exceeded (section 3.4.2.1) and routed to nobody;
// a 3.1.1 one is routed and acknowledged as before (its publisher waits for
// the connected subscriber); an empty retained message, which frees
// memory, is taken, and after it the 5.0 publisher is served again.
func TestV5QuotaExceeded(t *testing.T) {
	b := newTestBroker(t, Config{MaxMemory: 1000, StallTimeout: time.Minute})
	sub := tcpClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "#", 1)
	v3 := tcpClient(t, b)
	v3.connect(&packet.Connect{ClientID: "v3", CleanSession: true}, false)
	v5 := tcpClient(t, b)
	v5.connect5(&packet.Connect{ClientID: "v5", CleanSession: true}, false)
	received := func(want string) {
		t.Helper()
		p := sub.recv().(*packet.Publish)
		if string(p.Payload) != want {
			t.Fatalf("subscriber got %q (topic %s), want %q", p.Payload, p.Topic, want)
		}
		sub.send(&packet.Puback{PacketID: p.PacketID})
	}

	full := strings.Repeat("r", 950)
	v3.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "r", Payload: []byte(full)})
	v3.expect(&packet.Puback{PacketID: 1})
	received(full)

	big := strings.Repeat("x", 100)
	v5.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "q", Payload: []byte(big)})
	v5.expect(&packet.Puback{PacketID: 1, ReasonCode: packet.ErrQuotaExceeded})
	v5.send(&packet.Publish{QoS: 2, PacketID: 2, Topic: "q", Payload: []byte(big)})
	v5.expect(&packet.Pubrec{PacketID: 2, ReasonCode: packet.ErrQuotaExceeded})
	if st := b.Stats(); st.MemoryDropped != 2 || st.Dropped != 2 {
		t.Errorf("MemoryDropped %d, Dropped %d; want 2 refusals counted in both", st.MemoryDropped, st.Dropped)
	}

	v3.send(&packet.Publish{QoS: 1, PacketID: 2, Topic: "q", Payload: []byte("v3 " + big)})
	received("v3 " + big)
	v3.expect(&packet.Puback{PacketID: 2})

	v5.send(&packet.Publish{QoS: 1, PacketID: 3, Retain: true, Topic: "r"}) // deletes the retained message
	v5.expect(&packet.Puback{PacketID: 3})
	received("")
	// The QoS 2 exchange ended with 0x97 (section 4.3.3): its packet id
	// is free, and the message is taken now.
	v5.send(&packet.Publish{QoS: 2, PacketID: 2, Topic: "q", Payload: []byte(big)})
	v5.expect(&packet.Pubrec{PacketID: 2})
	v5.send(&packet.Pubrel{PacketID: 2})
	v5.expect(&packet.Pubcomp{PacketID: 2})
	received(big)
}

// TestMosquittoV5QuotaExceeded: mosquitto_pub -V mqttv5 -d shows the
// reason code 0x97 (151) of a PUBACK at max_memory.
func TestMosquittoV5QuotaExceeded(t *testing.T) {
	b := newTestBroker(t, Config{MaxMemory: 1000})
	if out, err := mosquittoPub(t, b, "-V", "mqttv5", "-t", "r", "-r", "-q", "1", "-m", strings.Repeat("r", 990)); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	out, _ := mosquittoPub(t, b, "-V", "mqttv5", "-d", "-t", "q", "-q", "1", "-m", strings.Repeat("x", 100))
	if !strings.Contains(out, "received PUBACK (Mid: 1, RC:151)") {
		t.Fatalf("mosquitto_pub -d output lacks PUBACK with RC:151:\n%s", out)
	}
}
