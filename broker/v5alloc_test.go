package broker

import (
	"reflect"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

// TestMessageProps: the properties a PUBLISH hands on are its message
// properties without Message Expiry Interval, Topic Alias and Subscription
// Identifier; a PUBLISH with only an expiry keeps none.
func TestMessageProps(t *testing.T) {
	now := time.Unix(1000, 0)
	user := []packet.UserProperty{{Key: "k", Value: "v"}}
	mp, exp := messageProps(&packet.Properties{MessageExpiry: u32(60), TopicAlias: u16(3), User: user, ContentType: "text/plain"}, now)
	if want := (&packet.Properties{User: user, ContentType: "text/plain"}); !reflect.DeepEqual(mp, want) || !exp.Equal(now.Add(time.Minute)) {
		t.Errorf("messageProps = %+v, %v; want %+v, %v", mp, exp, want, now.Add(time.Minute))
	}
	if mp, exp := messageProps(&packet.Properties{MessageExpiry: u32(5), TopicAlias: u16(1)}, now); mp != nil || !exp.Equal(now.Add(5*time.Second)) {
		t.Errorf("messageProps(expiry only) = %+v, %v; want nil, %v", mp, exp, now.Add(5*time.Second))
	}
	if mp, exp := messageProps(nil, now); mp != nil || !exp.IsZero() {
		t.Errorf("messageProps(nil) = %+v, %v", mp, exp)
	}
}

// TestPublishPacketAllocs: building the PUBLISH of a message with
// properties, a Message Expiry Interval to count down, Subscription
// Identifiers and a topic alias allocates nothing once the connection has
// its scratch space (issue 12: v5 within 10% of 3.1.1; the copies of
// packet.Properties were most of the difference).
func TestPublishPacketAllocs(t *testing.T) {
	now := time.Now()
	m := &message{topic: "a/b", payload: []byte("x"), props: &packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}},
		expires: now.Add(time.Minute)}
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
	if m.props.TopicAlias != nil || m.props.MessageExpiry != nil || m.props.SubscriptionIDs != nil {
		t.Errorf("the message's own properties were changed: %+v", m.props)
	}
	if n := testing.AllocsPerRun(100, build); n != 0 {
		t.Errorf("%v allocations per PUBLISH, want 0", n)
	}
}

// TestMessagePropsShared: a client's messages with the same message
// properties share one copy; a change gets its own.
func TestMessagePropsShared(t *testing.T) {
	c := &conn{}
	now := time.Now()
	props := func(user, ct string, corr []byte) *packet.Properties {
		return &packet.Properties{MessageExpiry: u32(9), ContentType: ct, CorrelationData: corr,
			User: []packet.UserProperty{{Key: "k", Value: user}}}
	}
	a, _ := c.messageProps(props("1", "text/plain", nil), now)
	b, exp := c.messageProps(props("1", "text/plain", nil), now)
	if a != b || !exp.Equal(now.Add(9*time.Second)) {
		t.Fatalf("same properties: %p and %p (expiry %v), want one copy", a, b, exp)
	}
	for _, p := range []*packet.Properties{props("2", "text/plain", nil), props("2", "text/csv", nil), props("2", "text/csv", []byte{}), props("2", "text/csv", []byte{1})} {
		got, _ := c.messageProps(p, now)
		if got == b || got.ContentType != p.ContentType || !reflect.DeepEqual(got.User, p.User) || (got.CorrelationData == nil) != (p.CorrelationData == nil) {
			t.Fatalf("changed properties %+v: got %+v (shared: %v)", p, got, got == b)
		}
		b = got
	}
	if got, _ := c.messageProps(&packet.Properties{MessageExpiry: u32(1)}, now); got != nil {
		t.Errorf("expiry only: %+v, want nil", got)
	}
}
