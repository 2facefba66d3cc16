package broker

import (
	"bytes"
	"slices"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

// subOpts are the options of one subscription: the granted QoS and the
// MQTT 5.0 options (section 3.8.3.1) and Subscription Identifier (section
// 3.8.2.1.2). A 3.1.1 subscription has only a QoS.
type subOpts struct {
	qos     byte
	noLocal bool   // [MQTT-3.8.3-3] not to the connection that published
	rap     bool   // Retain As Published [MQTT-3.3.1-12] [MQTT-3.3.1-13]
	id      uint32 // Subscription Identifier; 0 none
}

// storeByte packs the options kept in the store's qos column, laid out as
// the Subscription Options byte (section 3.8.3.1); the Subscription
// Identifier is not stored.
func (o subOpts) storeByte() byte {
	var b byte = o.qos
	if o.noLocal {
		b |= 0x04
	}
	if o.rap {
		b |= 0x08
	}
	return b
}

// optsFromStore is the inverse of storeByte.
func optsFromStore(b byte) subOpts {
	return subOpts{qos: b & 0x03, noLocal: b&0x04 != 0, rap: b&0x08 != 0}
}

// sendOpts is how one message goes to one subscriber.
type sendOpts struct {
	qos    byte        // min(published, granted) [MQTT-3.3.5-1]
	retain bool        // the RETAIN flag of the PUBLISH sent
	onSub  bool        // a retained message sent for a new subscription [MQTT-3.3.1-6]
	subIDs []uint32    // the Subscription Identifiers of the matching subscriptions [MQTT-3.3.4-3]
	group  *shareGroup // sent for a shared subscription
}

// messageProps returns the properties of an application message to keep
// with it (section 3.3.2.3: those of Properties.Message, without Message
// Expiry Interval, which expires holds as a time) and when it expires
// (zero: never) [MQTT-3.3.2-5]. p are the properties of a PUBLISH just
// decoded, which the caller hands over: they are kept, with the fields
// that are not the message's cleared, rather than copied.
func messageProps(p *packet.Properties, now time.Time) (*packet.Properties, time.Time) {
	if p == nil {
		return nil, time.Time{}
	}
	var expires time.Time
	if p.MessageExpiry != nil {
		expires = now.Add(time.Duration(*p.MessageExpiry) * time.Second)
	}
	// A PUBLISH may carry message properties, Topic Alias and
	// Subscription Identifier (the decoder refuses others); the last two
	// belong to one connection [MQTT-3.3.2-7] and one subscription
	// [MQTT-3.3.4-6].
	p.MessageExpiry, p.TopicAlias, p.SubscriptionIDs = nil, nil, nil
	if p.Size() == 1 { // the Property Length of none
		return nil, expires
	}
	return p, expires
}

// messageProps is messageProps for a PUBLISH from c's client: when the
// message properties are those of the client's previous message (a
// publisher sends the same User Properties and Content Type with every
// message), the previous message's are shared, and the queued messages
// hold one copy instead of one each. Message properties are never changed
// once a message has them (publishPacket copies before adding its own).
func (c *conn) messageProps(p *packet.Properties, now time.Time) (*packet.Properties, time.Time) {
	mp, expires := messageProps(p, now)
	switch {
	case mp == nil:
	case c.lastProps != nil && sameMessageProps(mp, c.lastProps):
		mp = c.lastProps
	default:
		c.lastProps = mp
	}
	return mp, expires
}

// sameMessageProps reports whether a and b, properties returned by
// messageProps, are the same: those a PUBLISH may carry, without the ones
// messageProps clears (section 3.3.2.3).
func sameMessageProps(a, b *packet.Properties) bool {
	return (a.PayloadFormat == nil) == (b.PayloadFormat == nil) &&
		(a.PayloadFormat == nil || *a.PayloadFormat == *b.PayloadFormat) &&
		a.ContentType == b.ContentType && a.ResponseTopic == b.ResponseTopic &&
		(a.CorrelationData == nil) == (b.CorrelationData == nil) && bytes.Equal(a.CorrelationData, b.CorrelationData) &&
		slices.Equal(a.User, b.User)
}

// expired reports whether m's Message Expiry Interval has passed at now:
// it is not delivered any more [MQTT-3.3.2-5].
func (m *message) expired(now time.Time) bool {
	return !m.expires.IsZero() && !now.Before(m.expires)
}

// outProps is a connection's scratch space for the properties of the
// PUBLISH packets built for it (publishPacket, aliasOut): each packet is
// built and encoded under the session's mu before the next, so a delivery
// with properties copies them here instead of allocating.
type outProps struct {
	props  packet.Properties
	expiry uint32
	alias  uint16
}

// outProps returns c's scratch space; the caller holds the session's mu.
func (c *conn) outProps() *outProps {
	if c.out == nil {
		c.out = new(outProps)
	}
	return c.out
}

// publishPacket returns the PUBLISH of p for connection c: for MQTT 5.0
// with the message's properties, the Message Expiry Interval counted down
// to what is left [MQTT-3.3.2-6], and the Subscription Identifiers. The
// result is valid until the next PUBLISH is built for c; the caller holds
// the session's mu.
func (s *session) publishPacket(c *conn, p *pending, dup bool, now time.Time) packet.Publish {
	m := p.msg
	pub := packet.Publish{Dup: dup, QoS: p.qos, Retain: p.retain, Topic: m.topic, PacketID: p.id, Payload: m.payload}
	if c.version != packet.Version5 {
		return pub
	}
	if m.expires.IsZero() && len(p.subIDs) == 0 {
		pub.Properties = m.props // as they are (the encoder only reads them)
		return pub
	}
	o := c.outProps()
	o.props = packet.Properties{}
	if m.props != nil {
		o.props = *m.props
	}
	if !m.expires.IsZero() {
		o.expiry = max(1, uint32((m.expires.Sub(now)+time.Second-1)/time.Second))
		o.props.MessageExpiry = &o.expiry
	}
	o.props.SubscriptionIDs = p.subIDs
	pub.Properties = &o.props
	return pub
}

// subIDsFor returns the Subscription Identifiers of the session's
// subscriptions matching name (sorted), for a message restored from the
// store.
func (s *session) subIDsFor(name string) []uint32 {
	var ids []uint32
	for f, o := range s.subs {
		if o.id != 0 && matchFilter(f, name) {
			ids = append(ids, o.id)
		}
	}
	slices.Sort(ids)
	return ids
}

// aliasOut applies a topic alias to a PUBLISH for a client that allows
// them (section 3.3.2.3.4): the first aliasMaxOut topic names get an alias
// when first sent (with the name), and are sent as the alias alone
// afterwards; the connection's packets go out in order, so the client has
// seen the alias set before it is used [MQTT-3.3.2-10]. The caller holds
// the session's mu.
//
// Replacement policy: none. Once the client's Topic Alias Maximum is
// reached, aliases are kept for the connection's life and later topics go
// with their names and no alias, as Mosquitto's outgoing aliases do
// (alias__add_l2r assigns while below the maximum, never replaces). The
// spec leaves the choice to the sender (section 3.3.2.3.4). Replacing
// (LRU) pays only when a topic comes back before its alias is evicted:
// the gateway's usual traffic, many points published in turn each poll,
// would evict every alias before its reuse and cost 3 bytes a message
// for nothing, while fixed aliases save on the first topics at no cost.
func (c *conn) aliasOut(pub *packet.Publish) {
	a, ok := c.aliasesOut[pub.Topic]
	if !ok {
		if len(c.aliasesOut) >= int(c.aliasMaxOut) {
			return
		}
		a = uint16(len(c.aliasesOut) + 1)
		c.aliasesOut[pub.Topic] = a
	}
	o := c.outProps()
	switch {
	case pub.Properties == nil:
		o.props = packet.Properties{}
	case pub.Properties != &o.props: // the message's own: not to be changed
		o.props = *pub.Properties
	}
	o.alias = a
	o.props.TopicAlias = &o.alias
	pub.Properties = &o.props
	if ok {
		pub.Topic = ""
	}
}
