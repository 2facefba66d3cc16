package packet

import (
	"bytes"
	"fmt"
)

// This file holds the forwarding form of the PUBLISH properties of MQTT
// 5.0: a server passes the properties of an application message on to
// every subscriber unaltered [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16]
// [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20], so it can keep them as
// they were encoded instead of decoding them into Properties and encoding
// them again for each delivery. Only the Message Expiry Interval (counted
// down [MQTT-3.3.2-6]), the Topic Alias (per connection [MQTT-3.3.2-7]) and
// the Subscription Identifiers (per subscription [MQTT-3.3.4-3]) change on
// the way, and those stay in Properties.

// message reports whether id is a message property that goes to every
// subscriber unaltered: Payload Format Indicator, Content Type, Response
// Topic, Correlation Data and User Property (section 3.3.2.3).
func (id PropertyID) message() bool {
	switch id {
	case PropPayloadFormat, PropContentType, PropResponseTopic, PropCorrelationData, PropUser:
		return true
	}
	return false
}

// checkMessageProperty reads the value of message property id with the
// checks property applies, without keeping it.
func (d *decoder) checkMessageProperty(id PropertyID) {
	switch id {
	case PropPayloadFormat: // section 3.3.2.3.2: 0 or 1
		if v := d.byte(); d.err == nil && v > 1 {
			d.protocol(fmt.Sprintf("%s %v", id, v))
		}
	case PropContentType: // [MQTT-3.3.2-19]
		d.utf8(id.String())
	case PropResponseTopic: // [MQTT-3.3.2-13] [MQTT-3.3.2-14] a topic name
		v := d.utf8(id.String())
		if d.err == nil && (len(v) == 0 || bytes.ContainsAny(v, "+#")) {
			d.protocol(fmt.Sprintf("%s %q", id, v))
		}
	case PropCorrelationData:
		d.bytes()
	case PropUser: // [MQTT-1.5.7-1]
		d.utf8("user property name")
		d.utf8("user property value")
	}
}

// msgSpans collects the encoded message properties of a property block:
// a slice of the block while they come one after the other (the usual
// case), a copy once another property came between them.
type msgSpans struct {
	b          []byte
	start, end int  // b is block[start:end] while !copied
	copied     bool // b is a copy
}

// add appends block[start:end], one encoded property.
func (m *msgSpans) add(block []byte, start, end int) {
	switch {
	case m.b == nil:
		m.b, m.start, m.end = block[start:end:end], start, end
	case !m.copied && m.end == start:
		m.b, m.end = block[m.start:end:end], end
	default:
		if !m.copied {
			m.b, m.copied = append(make([]byte, 0, len(block)), m.b...), true
		}
		m.b = append(m.b, block[start:end]...)
	}
}

// publishBlock is one allocation for a PUBLISH and the values of its
// properties.
type publishBlock struct {
	pub Publish
	pb  propBlock
}

// reset makes b a zero publishBlock again, clearing only what decoding a
// PUBLISH sets: cheaper than zeroing the whole Properties (and its
// pointers' write barriers) for every packet.
func (b *publishBlock) reset() {
	b.pub = Publish{}
	p := &b.pb.p
	p.PayloadFormat, p.MessageExpiry, p.TopicAlias = nil, nil, nil
	p.ContentType, p.ResponseTopic = "", ""
	p.CorrelationData, p.SubscriptionIDs, p.User = nil, nil, nil
	b.pb.expiry, b.pb.alias, b.pb.format, b.pb.user = 0, 0, 0, [2]UserProperty{}
}

// DecodeForward is DecodeVersion for a server that forwards the PUBLISH
// packets it receives. The message properties of an MQTT 5.0 PUBLISH
// (Payload Format Indicator, Content Type, Response Topic, Correlation Data
// and User Properties) get the checks DecodeVersion applies but are kept
// encoded in Publish.MessageProps, as they came (a slice of body when they
// are next to each other), and Properties holds only the Message Expiry
// Interval, Topic Alias and Subscription Identifiers (nil for none). Every
// other packet, and every packet of 3.1.1, decodes as with DecodeVersion.
// Encoding the result gives the same properties (AppendVersion writes
// MessageProps after Properties; only User Properties have an order, kept
// [MQTT-3.3.2-18]).
func DecodeForward(version, first byte, body []byte) (Packet, error) {
	if version != Version5 || Type(first>>4) != PUBLISH {
		return DecodeVersion(version, first, body)
	}
	return decodePublish5(nil, first&0x0f, body, true, nil)
}

// Decoder decodes the packets of one connection as DecodeForward does,
// without allocating for a PUBLISH: it reuses one Publish, with its
// Properties, from one call to the next, and the topic name of the
// previous PUBLISH when the next has the same. A PUBLISH it returns is
// valid until the next call; its Topic, Payload and MessageProps stay
// valid (they are strings, or slices of body), so a caller keeps those,
// not the packet. Other packets are DecodeVersion's, newly allocated. The
// zero Decoder is ready to use; it is not safe for concurrent use.
type Decoder struct {
	blk   publishBlock
	topic string
}

// Decode decodes a packet of a connection at protocol level version, as
// DecodeForward does.
func (dc *Decoder) Decode(version, first byte, body []byte) (Packet, error) {
	if Type(first>>4) != PUBLISH {
		return DecodeVersion(version, first, body)
	}
	dc.blk.reset()
	if version != Version5 {
		return decodePublishInto(&dc.blk.pub, first&0x0f, body, &dc.topic)
	}
	return decodePublish5(&dc.blk, first&0x0f, body, true, &dc.topic)
}

// DecodeMessageProperties parses a Property Length and the properties of a
// PUBLISH from the start of b, as DecodeForward does, and returns the
// message properties encoded as Publish.MessageProps holds them (nil for
// none) and the number of bytes used. Message Expiry Interval, Topic Alias
// and Subscription Identifiers are checked and left out. It reads what
// AppendMessageProperties writes (a stored message's properties). Errors
// wrap a Code as Decode's do.
func DecodeMessageProperties(b []byte) (msg []byte, n int, err error) {
	d := decoder{b: b}
	var pb propBlock
	_, msg = d.propertiesInto(PUBLISH, &pb, true)
	if d.err != nil {
		return nil, 0, fmt.Errorf("decode PUBLISH: %w", d.err)
	}
	return msg, len(b) - len(d.b), nil
}

// AppendMessageProperties appends a Property Length and msg, encoded
// message properties as Publish.MessageProps holds them: the property
// block of a PUBLISH with those properties alone, which
// DecodeMessageProperties and DecodeProperties read.
func AppendMessageProperties(dst, msg []byte) []byte {
	return append(AppendVarint(dst, len(msg)), msg...)
}

// AppendMessage appends the message properties of p (those Message keeps
// but the Message Expiry Interval, which changes on the way) encoded as
// Publish.MessageProps holds them, without a Property Length: what a server
// forwards of the will properties of a CONNECT, or of a PUBLISH decoded
// with DecodeVersion.
func (p *Properties) AppendMessage(dst []byte) []byte {
	if p == nil {
		return dst
	}
	m := Properties{PayloadFormat: p.PayloadFormat, ContentType: p.ContentType, ResponseTopic: p.ResponseTopic,
		CorrelationData: p.CorrelationData, User: p.User}
	return m.appendFields(dst)
}

// PayloadFormat returns the Payload Format Indicator of p, from Properties
// or MessageProps, and whether it has one.
func (p *Publish) PayloadFormat() (byte, bool) {
	if p.Properties != nil && p.Properties.PayloadFormat != nil {
		return *p.Properties.PayloadFormat, true
	}
	for b := p.MessageProps; len(b) > 0; {
		id, v, rest, ok := nextMessageProperty(b)
		if !ok {
			break
		}
		if id == PropPayloadFormat {
			return v[0], true
		}
		b = rest
	}
	return 0, false
}

// nextMessageProperty splits the first property off encoded message
// properties: its identifier, its value and the rest. ok is false if b
// does not start with a whole message property.
func nextMessageProperty(b []byte) (id PropertyID, v, rest []byte, ok bool) {
	u16 := func(i int) int { return int(b[i])<<8 | int(b[i+1]) }
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	id = PropertyID(b[0])
	n := 1 // bytes of the value
	switch id {
	case PropPayloadFormat:
	case PropContentType, PropResponseTopic, PropCorrelationData:
		if len(b) < 3 {
			return 0, nil, nil, false
		}
		n = 2 + u16(1)
	case PropUser:
		if len(b) < 3 {
			return 0, nil, nil, false
		}
		k := 2 + u16(1) // the name
		if len(b) < 1+k+2 {
			return 0, nil, nil, false
		}
		n = k + 2 + u16(1+k)
	default:
		return 0, nil, nil, false
	}
	if len(b) < 1+n {
		return 0, nil, nil, false
	}
	return id, b[1 : 1+n], b[1+n:], true
}
