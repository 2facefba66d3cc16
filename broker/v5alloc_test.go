package broker

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

// TestMessageExpiry: a PUBLISH's Message Expiry Interval becomes the time
// the message expires; none, or no properties, never expires.
func TestMessageExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	if got := messageExpiry(&packet.Properties{MessageExpiry: u32(60), TopicAlias: u16(3)}, now); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("messageExpiry(60 s) = %v, want %v", got, now.Add(time.Minute))
	}
	if got := messageExpiry(&packet.Properties{TopicAlias: u16(1)}, now); !got.IsZero() {
		t.Errorf("messageExpiry(no expiry) = %v, want zero", got)
	}
	if got := messageExpiry(nil, now); !got.IsZero() {
		t.Errorf("messageExpiry(nil) = %v, want zero", got)
	}
}

// TestPublishPacketAllocs: building the PUBLISH of a message with
// properties, a Message Expiry Interval to count down, Subscription
// Identifiers and a topic alias allocates nothing once the connection has
// its scratch space, and the message properties go out as they came
// (issue 12: v5 within 10% of 3.1.1).
func TestPublishPacketAllocs(t *testing.T) {
	now := time.Now()
	// User Property k=v, then Content Type "" (sent present and empty: it
	// goes on as it came).
	msgProps := []byte{0x26, 0, 1, 'k', 0, 1, 'v', 0x03, 0, 0}
	m := &message{topic: "a/b", payload: []byte("x"), props: msgProps, expires: now.Add(time.Minute)}
	p := &pending{msg: m, qos: 1, id: 7, subIDs: []uint32{4}}
	s := &session{}
	c := &conn{version: packet.Version5, aliasMaxOut: 2, aliasesOut: map[string]uint16{}}
	buf := make([]byte, 0, 256)
	build := func() {
		pub := s.publishPacket(c, p, false, now)
		c.aliasOut(&pub)
		buf = pub.AppendVersion(buf[:0], packet.Version5)
	}
	build()
	first, err := packet.DecodeVersion(packet.Version5, buf[0], buf[2:])
	if err != nil {
		t.Fatal(err)
	}
	want := &packet.Publish{QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("x"), Properties: &packet.Properties{MessageExpiry: u32(60),
		SubscriptionIDs: []uint32{4}, TopicAlias: u16(1), User: []packet.UserProperty{{Key: "k", Value: "v"}}}}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("PUBLISH %+v\nwant %+v", first, want)
	}
	if !bytes.HasSuffix(buf, append(append([]byte{}, msgProps...), 'x')) {
		t.Errorf("PUBLISH %x: the message properties %x not as they came", buf, msgProps)
	}
	if n := testing.AllocsPerRun(100, build); n != 0 {
		t.Errorf("%v allocations per PUBLISH, want 0", n)
	}
	// The next message, without expiry or Subscription Identifiers, has
	// none of the previous one's (the scratch space is reused).
	p2 := &pending{msg: &message{topic: "a/b", payload: []byte("y")}, qos: 0}
	pub := s.publishPacket(c, p2, false, now)
	c.aliasOut(&pub)
	got, err := packet.DecodeVersion(packet.Version5, 0x30, pub.AppendVersion(nil, packet.Version5)[2:])
	if want := (&packet.Publish{Payload: []byte("y"), Properties: &packet.Properties{TopicAlias: u16(1)}}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("second PUBLISH %+v, %v\nwant %+v", got, err, want)
	}
}

// TestStoredMessageProps: a message's properties go to the store as a
// property block, as they did when messages kept them decoded, so rows
// written by either read back; a row whose properties do not decode
// keeps the message without them.
func TestStoredMessageProps(t *testing.T) {
	b := newTestBroker(t, Config{})
	props := &packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "a", Value: "b"}}}
	m := &message{topic: "t", payload: []byte("p"), qos: 1, props: props.AppendMessage(nil)}
	sm := toStored(m)
	if !bytes.Equal(sm.Props, props.Append(nil)) {
		t.Errorf("stored properties %x, want %x (Properties.Append)", sm.Props, props.Append(nil))
	}
	if got := b.fromStored(sm); !bytes.Equal(got.props, m.props) {
		t.Errorf("restored properties %x, want %x", got.props, m.props)
	}
	sm.Props = []byte{5, 0x26, 0, 9} // cut short
	if got := b.fromStored(sm); got.props != nil || string(got.payload) != "p" {
		t.Errorf("damaged row: properties %x, payload %q", got.props, got.payload)
	}
}
