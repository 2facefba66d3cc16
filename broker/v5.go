package broker

import (
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

// messageExpiry returns when a message published with the PUBLISH
// properties p expires (zero: never) [MQTT-3.3.2-5]. The message
// properties that go on unchanged (section 3.3.2.3) are not in p:
// packet.DecodeForward keeps them encoded in MessageProps, which the
// message keeps as they came, a slice of the packet's body, and each
// delivery writes out again as they are. The Topic Alias and Subscription
// Identifiers p may hold belong to one connection [MQTT-3.3.2-7] and one
// subscription [MQTT-3.3.4-6]: they are not the message's.
func messageExpiry(p *packet.Properties, now time.Time) time.Time {
	if p == nil || p.MessageExpiry == nil {
		return time.Time{}
	}
	return now.Add(time.Duration(*p.MessageExpiry) * time.Second)
}

// expired reports whether m's Message Expiry Interval has passed at now:
// it is not delivered any more [MQTT-3.3.2-5].
func (m *message) expired(now time.Time) bool {
	return !m.expires.IsZero() && !now.Before(m.expires)
}

// outProps is a connection's scratch space for the properties of the
// PUBLISH packets built for it (publishPacket, aliasOut) that change per
// delivery: Message Expiry Interval, Subscription Identifiers and Topic
// Alias. Each packet is built and encoded under the session's mu before
// the next, so a delivery sets them here instead of allocating; the
// message's own properties go as they are (packet.Publish.MessageProps).
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
	pub.MessageProps = m.props // as they came [MQTT-3.3.2-4] ... [MQTT-3.3.2-20]
	if m.expires.IsZero() && len(p.subIDs) == 0 {
		return pub
	}
	o := c.outProps()
	o.props.MessageExpiry, o.props.TopicAlias = nil, nil
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
// seen the alias set before it is used (section 3.3.2.3.4), and no alias
// exceeds the client's Topic Alias Maximum [MQTT-3.3.2-11]. The caller
// holds the session's mu.
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
	if pub.Properties == nil { // else publishPacket set it to o.props
		o.props.MessageExpiry, o.props.SubscriptionIDs = nil, nil
	}
	o.alias = a
	o.props.TopicAlias = &o.alias
	pub.Properties = &o.props
	if ok {
		pub.Topic = ""
	}
}
