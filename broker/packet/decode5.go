package packet

import (
	"fmt"
	"strings"
)

// DecodeVersion parses a packet, like Decode, for a connection at protocol
// level version. With Version5 every packet is decoded as MQTT 5.0 (reason
// codes, properties, subscription options, AUTH); with Version311 or
// Version31 it is Decode.
//
// A CONNECT names its own level, so version is then the highest level the
// caller accepts: DecodeVersion(Version5, ...) decodes a CONNECT at level 3,
// 4 or 5 by its own level, and a server reads its first packet that way and
// decodes the rest of the connection with the CONNECT's ProtocolLevel.
// Decode refuses a level 5 CONNECT with ErrUnsupportedVersion, as before.
//
// Errors wrap a Code: ErrMalformed for a packet that cannot be parsed,
// ErrProtocol for one that breaks a rule of the spec, and a few more
// specific codes (ErrTopicAliasInvalid, ErrUnsupportedVersion); a server
// sends that code in its DISCONNECT (section 4.13).
func DecodeVersion(version, first byte, body []byte) (Packet, error) {
	if version != Version5 {
		return Decode(first, body)
	}
	t := Type(first >> 4)
	flags := first & 0x0f
	// [MQTT-2.1.3-1] reserved flags have the values of table 2-2; PUBREL,
	// SUBSCRIBE and UNSUBSCRIBE carry 0010 [MQTT-3.6.1-1] [MQTT-3.8.1-1]
	// [MQTT-3.10.1-1]; DISCONNECT and AUTH 0000 [MQTT-3.14.1-1]
	// [MQTT-3.15.1-1].
	want := byte(0)
	switch t {
	case PUBLISH:
		return decodePublish5(nil, flags, body, false, nil)
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		want = 0x02
	case 0:
		return nil, fmt.Errorf("decode: reserved packet type 0: %w", ErrMalformed)
	}
	if flags != want {
		return nil, fmt.Errorf("decode %s: flags %04b, want %04b: %w", t, flags, want, ErrMalformed)
	}
	if t == CONNECT {
		return decodeConnect(body, Version5)
	}
	d := decoder{b: body}
	var p Packet
	switch t {
	case CONNACK:
		c := &Connack{}
		ack := d.byte()
		if ack&^0x01 != 0 { // [MQTT-3.2.2-1] bits 7-1 reserved
			d.fail("connect acknowledge flags")
		}
		c.SessionPresent = ack&0x01 != 0
		c.ReasonCode = d.reason(CONNACK)
		if d.err == nil && c.SessionPresent && c.ReasonCode != CodeSuccess { // [MQTT-3.2.2-6]
			d.protocol("session present with an error")
		}
		c.Properties = d.properties(CONNACK)
		p = c
	case PUBACK:
		a := &Puback{}
		a.PacketID, a.ReasonCode, a.Properties = d.ack5(PUBACK)
		p = a
	case PUBREC:
		a := &Pubrec{}
		a.PacketID, a.ReasonCode, a.Properties = d.ack5(PUBREC)
		p = a
	case PUBREL:
		a := &Pubrel{}
		a.PacketID, a.ReasonCode, a.Properties = d.ack5(PUBREL)
		p = a
	case PUBCOMP:
		a := &Pubcomp{}
		a.PacketID, a.ReasonCode, a.Properties = d.ack5(PUBCOMP)
		p = a
	case SUBSCRIBE:
		p = d.subscribe5()
	case SUBACK:
		s := &Suback{PacketID: d.uint16()}
		s.Properties = d.properties(SUBACK)
		if d.err == nil {
			s.ReturnCodes = append([]byte{}, d.b...)
			for _, c := range s.ReturnCodes {
				if !ValidReason(SUBACK, Code(c)) { // [MQTT-3.9.3-2]
					d.protocol(fmt.Sprintf("reason code 0x%02x", c))
				}
			}
			d.b = nil
		}
		p = s
	case UNSUBSCRIBE:
		u := &Unsubscribe{PacketID: d.packetID()}
		u.Properties = d.properties(UNSUBSCRIBE)
		for d.err == nil && len(d.b) > 0 {
			u.Filters = append(u.Filters, d.string("topic filter")) // [MQTT-3.10.3-1]
		}
		if d.err == nil && len(u.Filters) == 0 { // [MQTT-3.10.3-2]
			d.protocol("no topic filter")
		}
		p = u
	case UNSUBACK:
		u := &Unsuback{PacketID: d.uint16()}
		u.Properties = d.properties(UNSUBACK)
		for d.err == nil && len(d.b) > 0 {
			u.ReasonCodes = append(u.ReasonCodes, d.reason(UNSUBACK)) // [MQTT-3.11.3-2]
		}
		p = u
	case PINGREQ:
		p = &Pingreq{}
	case PINGRESP:
		p = &Pingresp{}
	case DISCONNECT:
		// Section 3.14.2.1: no reason code with Remaining Length 0; no
		// Property Length with Remaining Length below 2.
		x := &Disconnect{}
		if len(d.b) > 0 {
			x.ReasonCode = d.reason(DISCONNECT)
		}
		if len(d.b) > 0 {
			x.Properties = d.properties(DISCONNECT)
		}
		p = x
	case AUTH:
		// Section 3.15.2.1: as for DISCONNECT.
		a := &Auth{}
		if len(d.b) > 0 {
			a.ReasonCode = d.reason(AUTH)
		}
		if len(d.b) > 0 {
			a.Properties = d.properties(AUTH)
		}
		p = a
	}
	if err := d.finish(t); err != nil {
		return nil, err
	}
	return p, nil
}

// reason reads a reason code, which must be one of those the spec lists for
// packets of type t (a Protocol Error otherwise, as in Mosquitto).
func (d *decoder) reason(t Type) Code {
	c := Code(d.byte())
	if d.err == nil && !ValidReason(t, c) {
		d.protocol(fmt.Sprintf("reason code 0x%02x", byte(c)))
	}
	return c
}

// ack5 reads the variable header of PUBACK, PUBREC, PUBREL or PUBCOMP
// (sections 3.4.2 to 3.7.2): with Remaining Length 2 the reason code is
// 0x00, and below 4 there is no Property Length.
func (d *decoder) ack5(t Type) (id uint16, code Code, props *Properties) {
	id = d.uint16()
	if d.err != nil || len(d.b) == 0 {
		return id, CodeSuccess, nil
	}
	code = d.reason(t)
	if len(d.b) == 0 {
		return id, code, nil
	}
	return id, code, d.properties(t)
}

// subscribe5 reads a SUBSCRIBE of MQTT 5.0 after its fixed header.
func (d *decoder) subscribe5() *Subscribe {
	s := &Subscribe{PacketID: d.packetID()}
	s.Properties = d.properties(SUBSCRIBE)
	for d.err == nil && len(d.b) > 0 {
		f := d.string("topic filter") // [MQTT-3.8.3-1]
		o := d.byte()
		if d.err != nil {
			break
		}
		// Section 3.8.3.1, the Subscription Options byte.
		sub := Subscription{Filter: f, QoS: o & 0x03, NoLocal: o&0x04 != 0,
			RetainAsPublished: o&0x08 != 0, RetainHandling: (o >> 4) & 0x03}
		switch {
		case o&0xc0 != 0: // [MQTT-3.8.3-5] bits 7 and 6 reserved
			d.fail("subscription options reserved bits")
		case sub.QoS == 3: // "a Protocol Error if the Maximum QoS field has the value 3"
			d.protocol("maximum qos 3")
		case sub.RetainHandling == 3: // "a Protocol Error to send a Retain Handling value of 3"
			d.protocol("retain handling 3")
		case sub.NoLocal && strings.HasPrefix(f, SharePrefix): // [MQTT-3.8.3-4]
			d.protocol("no local on a shared subscription")
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	if d.err == nil && len(s.Subscriptions) == 0 { // [MQTT-3.8.3-2]
		d.protocol("no topic filter")
	}
	return s
}

// SharePrefix starts the topic filter of a shared subscription,
// "$share/{ShareName}/{filter}" [MQTT-4.8.2-1].
const SharePrefix = "$share/"

// decodePublish5 decodes a PUBLISH of MQTT 5.0, into blk (zero) when not
// nil; forward keeps its message properties encoded (see DecodeForward),
// and topic, when not nil, is as for decodePublishInto.
func decodePublish5(blk *publishBlock, flags byte, body []byte, forward bool, topic *string) (Packet, error) {
	dup, qos, retain := flags&0x08 != 0, (flags>>1)&0x03, flags&0x01 != 0
	if qos == 3 { // [MQTT-3.3.1-4]
		return nil, fmt.Errorf("decode PUBLISH: qos 3: %w", ErrMalformed)
	}
	if qos == 0 && dup { // [MQTT-3.3.1-2]
		return nil, fmt.Errorf("decode PUBLISH: dup set on qos 0: %w", ErrMalformed)
	}
	d := decoder{b: body}
	name := d.topicName(topic)                           // [MQTT-3.3.2-1]
	if d.err == nil && strings.ContainsAny(name, "+#") { // [MQTT-3.3.2-2]
		d.fail("wildcard in topic name")
	}
	var id uint16
	if qos > 0 {
		id = d.packetID() // [MQTT-2.2.1-3] [MQTT-2.2.1-4] non-zero
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode PUBLISH: %w", d.err)
	}
	var p *Publish
	switch {
	case blk != nil:
		p = &blk.pub
		p.Properties, p.MessageProps = d.propertiesInto(PUBLISH, &blk.pb, forward)
	case len(d.b) > 0 && d.b[0] != 0:
		// Properties follow: the packet and their values in one allocation.
		blk = &publishBlock{}
		p = &blk.pub
		p.Properties, p.MessageProps = d.propertiesInto(PUBLISH, &blk.pb, forward)
	default:
		p = &Publish{}
		p.Properties = d.properties(PUBLISH) // the Property Length 0, or missing
	}
	p.Dup, p.QoS, p.Retain, p.Topic, p.PacketID = dup, qos, retain, name, id
	if d.err == nil && p.Topic == "" && (p.Properties == nil || p.Properties.TopicAlias == nil) {
		// Section 3.3.2.1: "It is a Protocol Error if the Topic Name is zero
		// length and there is no Topic Alias."
		d.protocol("empty topic name without topic alias")
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode PUBLISH: %w", d.err)
	}
	p.Payload = d.b
	return p, nil
}

// CheckPayloadFormat reports ErrPayloadFormatInvalid if p says its payload
// is UTF-8 (Payload Format Indicator 1) and it is not valid UTF-8 as section
// 1.5.4 defines it. A receiver may check this and answer with reason code
// 0x99 (section 3.3.2.3.2); Decode does not, since the answer is a PUBACK
// or PUBREC with that code, not closing the connection.
func (p *Publish) CheckPayloadFormat() error {
	if f, ok := p.PayloadFormat(); !ok || f != 1 {
		return nil
	}
	if err := ValidUTF8(p.Payload); err != nil {
		return fmt.Errorf("payload format indicator 1: %v: %w", err, ErrPayloadFormatInvalid)
	}
	return nil
}

// CheckWillPayloadFormat is CheckPayloadFormat for the will of a CONNECT:
// a server that checks answers ErrPayloadFormatInvalid with CONNACK 0x99
// (MQTT 5.0 section 3.1.3.2.3).
func (c *Connect) CheckWillPayloadFormat() error {
	if !c.WillFlag {
		return nil
	}
	return (&Publish{Payload: c.WillPayload, Properties: c.WillProperties}).CheckPayloadFormat()
}

// ParseShared splits the topic filter of a shared subscription,
// "$share/{ShareName}/{filter}", into its share name and filter. ok is false
// for a filter that does not start with SharePrefix. A share name that is
// empty or holds "+" or "#", or no filter after it, gives an error wrapping
// ErrTopicFilterInvalid, the SUBACK reason code for it [MQTT-4.8.2-1]
// [MQTT-4.8.2-2]. The filter itself is not checked here.
func ParseShared(f string) (share, filter string, ok bool, err error) {
	rest, ok := strings.CutPrefix(f, SharePrefix)
	if !ok {
		return "", f, false, nil
	}
	share, filter, found := strings.Cut(rest, "/")
	switch {
	case !found || share == "":
		return "", "", true, fmt.Errorf("shared subscription %q: no share name: %w", f, ErrTopicFilterInvalid)
	case strings.ContainsAny(share, "+#"):
		return "", "", true, fmt.Errorf("shared subscription %q: wildcard in share name: %w", f, ErrTopicFilterInvalid)
	case filter == "":
		return "", "", true, fmt.Errorf("shared subscription %q: no topic filter: %w", f, ErrTopicFilterInvalid)
	}
	return share, filter, true, nil
}
