package packet

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Decode parses the packet whose fixed header's first byte is first and
// whose remaining bytes (after the remaining length) are body. The returned
// packet may alias body (payloads are not copied). Errors wrap ErrMalformed,
// ErrProtocol or ErrUnsupportedVersion.
func Decode(first byte, body []byte) (Packet, error) {
	t := Type(first >> 4)
	flags := first & 0x0f
	// [MQTT-2.2.2-1] [MQTT-2.2.2-2] reserved flags must have the values of
	// table 2.2; PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0010.
	want := byte(0)
	switch t {
	case PUBLISH:
		return decodePublish(flags, body)
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		want = 0x02
	case 0, 15:
		return nil, fmt.Errorf("decode: reserved packet type %d: %w", t, ErrMalformed)
	}
	if flags != want {
		return nil, fmt.Errorf("decode %s: flags %04b, want %04b: %w", t, flags, want, ErrMalformed)
	}
	d := decoder{b: body}
	var p Packet
	switch t {
	case CONNECT:
		return decodeConnect(body, Version311)
	case CONNACK:
		c := &Connack{}
		ack := d.byte()
		c.ReturnCode = ConnackCode(d.byte())
		if ack&^0x01 != 0 { // [MQTT-3.2.2-1] bits 7-1 reserved
			d.fail("connect acknowledge flags")
		}
		c.SessionPresent = ack&0x01 != 0
		p = c
	case PUBACK:
		p = &Puback{PacketID: d.uint16()}
	case PUBREC:
		p = &Pubrec{PacketID: d.uint16()}
	case PUBREL:
		p = &Pubrel{PacketID: d.uint16()}
	case PUBCOMP:
		p = &Pubcomp{PacketID: d.uint16()}
	case SUBSCRIBE:
		s := &Subscribe{PacketID: d.packetID()}
		for d.err == nil && len(d.b) > 0 {
			f := d.string("topic filter")
			q := d.byte()
			if q&^0x03 != 0 { // [MQTT-3.8.3-4] reserved bits of the QoS byte
				d.fail("subscription options reserved bits")
			}
			if q == 3 { // [MQTT-3.8.3-4]
				d.fail("requested qos 3")
			}
			s.Subscriptions = append(s.Subscriptions, Subscription{Filter: f, QoS: q})
		}
		if d.err == nil && len(s.Subscriptions) == 0 { // [MQTT-3.8.3-3]
			d.protocol("no topic filter")
		}
		p = s
	case SUBACK:
		s := &Suback{PacketID: d.uint16()}
		s.ReturnCodes = append([]byte(nil), d.b...)
		for _, c := range s.ReturnCodes {
			if c > 2 && c != SubackFailure {
				d.fail("suback return code")
			}
		}
		d.b = nil
		p = s
	case UNSUBSCRIBE:
		u := &Unsubscribe{PacketID: d.packetID()}
		for d.err == nil && len(d.b) > 0 {
			u.Filters = append(u.Filters, d.string("topic filter"))
		}
		if d.err == nil && len(u.Filters) == 0 { // [MQTT-3.10.3-2]
			d.protocol("no topic filter")
		}
		p = u
	case UNSUBACK:
		p = &Unsuback{PacketID: d.uint16()}
	case PINGREQ:
		p = &Pingreq{}
	case PINGRESP:
		p = &Pingresp{}
	case DISCONNECT:
		p = &Disconnect{}
	}
	if err := d.finish(t); err != nil {
		return nil, err
	}
	return p, nil
}

func decodePublish(flags byte, body []byte) (Packet, error) {
	return decodePublishInto(&Publish{}, flags, body, nil)
}

// decodePublishInto decodes a PUBLISH of MQTT 3.1.1 into p, a zero
// Publish. topic, when not nil, is the topic name of the previous PUBLISH,
// reused when this one has the same (see Decoder), and set to this one's.
func decodePublishInto(p *Publish, flags byte, body []byte, topic *string) (Packet, error) {
	p.Dup, p.QoS, p.Retain = flags&0x08 != 0, (flags>>1)&0x03, flags&0x01 != 0
	if p.QoS == 3 { // [MQTT-3.3.1-4]
		return nil, fmt.Errorf("decode PUBLISH: qos 3: %w", ErrMalformed)
	}
	if p.QoS == 0 && p.Dup { // [MQTT-3.3.1-2]
		return nil, fmt.Errorf("decode PUBLISH: dup set on qos 0: %w", ErrMalformed)
	}
	d := decoder{b: body}
	p.Topic = d.topicName(topic)
	if d.err == nil {
		if p.Topic == "" { // [MQTT-4.7.3-1]
			d.fail("empty topic name")
		} else if strings.ContainsAny(p.Topic, "+#") { // [MQTT-3.3.2-2]
			d.fail("wildcard in topic name")
		}
	}
	if p.QoS > 0 {
		p.PacketID = d.packetID()
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode PUBLISH: %w", d.err)
	}
	p.Payload = d.b
	return p, nil
}

// decodeConnect decodes a CONNECT at its own protocol level, up to level
// maxLevel (Version311 or Version5).
func decodeConnect(body []byte, maxLevel byte) (Packet, error) {
	d := decoder{b: body}
	c := &Connect{}
	c.ProtocolName = d.string("protocol name")
	c.ProtocolLevel = d.byte()
	if d.err != nil {
		return nil, fmt.Errorf("decode CONNECT: %w", d.err)
	}
	// [MQTT-3.1.2-1] [MQTT-3.1.2-2] the protocol name and level.
	switch {
	case c.ProtocolName == "MQTT" && c.ProtocolLevel == Version311:
	case c.ProtocolName == "MQIsdp" && c.ProtocolLevel == Version31:
	case c.ProtocolName == "MQTT" && c.ProtocolLevel == Version5 && maxLevel == Version5:
	case c.ProtocolName == "MQTT" || c.ProtocolName == "MQIsdp":
		return c, fmt.Errorf("decode CONNECT: protocol %q level %d: %w",
			c.ProtocolName, c.ProtocolLevel, ErrUnsupportedVersion)
	default:
		return nil, fmt.Errorf("decode CONNECT: protocol name %q: %w", c.ProtocolName, ErrProtocol)
	}
	flags := d.byte()
	c.KeepAlive = d.uint16()
	if flags&0x01 != 0 { // [MQTT-3.1.2-3] reserved flag must be 0
		d.fail("reserved connect flag")
	}
	c.CleanSession = flags&0x02 != 0
	c.WillFlag = flags&0x04 != 0
	c.WillQoS = (flags >> 3) & 0x03
	c.WillRetain = flags&0x20 != 0
	c.PasswordFlag = flags&0x40 != 0
	c.UsernameFlag = flags&0x80 != 0
	if !c.WillFlag && (c.WillQoS != 0 || c.WillRetain) { // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]
		d.fail("will qos or retain without will flag")
	}
	if c.WillQoS == 3 { // [MQTT-3.1.2-14]; MQTT 5.0 section 3.1.2.6
		d.fail("will qos 3")
	}
	v5 := c.ProtocolLevel == Version5
	if c.PasswordFlag && !c.UsernameFlag && !v5 { // [MQTT-3.1.2-22]; allowed in 5.0 (section 3.1.2.9)
		d.fail("password without user name")
	}
	if v5 {
		c.Properties = d.properties(CONNECT) // MQTT 5.0 section 3.1.2.11
	}
	c.ClientID = d.string("client identifier")
	if c.WillFlag {
		if v5 {
			c.WillProperties = d.properties(willProps) // MQTT 5.0 section 3.1.3.2
		}
		c.WillTopic = d.string("will topic")
		if d.err == nil && (c.WillTopic == "" || strings.ContainsAny(c.WillTopic, "+#")) {
			d.fail("will topic") // [MQTT-3.1.2-9] a valid topic name
		}
		c.WillPayload = d.bytes()
	}
	if c.UsernameFlag {
		c.Username = d.string("user name")
	}
	if c.PasswordFlag {
		c.Password = d.bytes()
	}
	if err := d.finish(CONNECT); err != nil {
		return nil, err
	}
	return c, nil
}

// decoder reads big-endian fields from a packet body and keeps the first
// error, so field reads need not each be checked.
type decoder struct {
	b   []byte
	err error
	// src, when set, is what b started as, and strings read are cut
	// from blk, one copy of src made at the first: a property block's
	// strings then cost one allocation, not one each (properties).
	src []byte
	blk string
	// pb, when set, holds the values of the properties being decoded
	// (properties).
	pb *propBlock
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w", what, ErrMalformed)
	}
}

func (d *decoder) protocol(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w", what, ErrProtocol)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("short packet")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint16() uint16 {
	if d.err != nil || len(d.b) < 2 {
		d.fail("short packet")
		return 0
	}
	v := uint16(d.b[0])<<8 | uint16(d.b[1])
	d.b = d.b[2:]
	return v
}

// packetID reads a packet identifier, which must be non-zero [MQTT-2.3.1-1].
func (d *decoder) packetID() uint16 {
	id := d.uint16()
	if d.err == nil && id == 0 {
		d.fail("packet identifier 0")
	}
	return id
}

func (d *decoder) bytes() []byte {
	n := int(d.uint16())
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("short packet")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// string reads a UTF-8 encoded string (section 1.5.3).
func (d *decoder) string(what string) string {
	b := d.utf8(what)
	if d.err != nil {
		return ""
	}
	if d.src == nil || len(b) == 0 {
		return string(b)
	}
	if d.blk == "" {
		d.blk = string(d.src)
	}
	end := len(d.src) - len(d.b) // b ends where the rest starts
	return d.blk[end-len(b) : end]
}

// topicName reads the topic name of a PUBLISH. last, when not nil, is the
// previous PUBLISH's: when the name is the same, that string is returned
// instead of a new one (a client publishes to the same topics again and
// again); otherwise last is set to the new one.
func (d *decoder) topicName(last *string) string {
	if last == nil {
		return d.string("topic name")
	}
	b := d.utf8("topic name")
	if d.err != nil {
		return ""
	}
	if string(b) != *last { // compared without a copy
		*last = string(b)
	}
	return *last
}

// utf8 reads a UTF-8 encoded string (section 1.5.3) and returns its bytes,
// checked, without making a string of them.
func (d *decoder) utf8(what string) []byte {
	b := d.bytes()
	if d.err != nil {
		return nil
	}
	if err := ValidUTF8(b); err != nil {
		d.err = fmt.Errorf("%s: %w", what, err)
		return nil
	}
	return b
}

func (d *decoder) finish(t Type) error {
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", t, d.err)
	}
	return nil
}

// ValidUTF8 checks the rules for UTF-8 encoded strings: well-formed UTF-8
// with no surrogate code points [MQTT-1.5.3-1] and no U+0000 [MQTT-1.5.3-2].
// U+FEFF is allowed and kept [MQTT-1.5.3-3].
func ValidUTF8(b []byte) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return fmt.Errorf("utf-8 string contains U+0000: %w", ErrMalformed)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 { // also rejects encoded surrogates
			return fmt.Errorf("invalid utf-8 string: %w", ErrMalformed)
		}
		i += n
	}
	return nil
}
