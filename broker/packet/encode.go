package packet

// appendHeader appends the fixed header: the type and flags byte and the
// remaining length in the variable-length encoding of section 2.2.3.
func appendHeader(dst []byte, first byte, remaining int) []byte {
	dst = append(dst, first)
	return AppendVarint(dst, remaining)
}

// AppendVarint appends n in the remaining-length encoding (section 2.2.3):
// seven bits per byte, least significant first, high bit set on all but the
// last byte. n must not exceed MaxRemainingLength.
func AppendVarint(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			dst = append(dst, b|0x80)
			continue
		}
		return append(dst, b)
	}
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

func boolBit(b bool, bit byte) byte {
	if b {
		return bit
	}
	return 0
}

// Append implements Packet. A CONNECT is encoded at its ProtocolLevel; at
// Version5 with the CONNECT and will properties.
func (p *Connect) Append(dst []byte) []byte {
	v5 := p.ProtocolLevel == Version5
	n := 2 + len(p.ProtocolName) + 1 + 1 + 2 + 2 + len(p.ClientID)
	flags := boolBit(p.CleanSession, 0x02)
	props, willProps := 0, 0
	if v5 {
		props = p.Properties.size()
		n += VarintLen(props) + props
	}
	if p.WillFlag {
		n += 2 + len(p.WillTopic) + 2 + len(p.WillPayload)
		flags |= 0x04 | p.WillQoS<<3 | boolBit(p.WillRetain, 0x20)
		if v5 {
			willProps = p.WillProperties.size()
			n += VarintLen(willProps) + willProps
		}
	}
	if p.UsernameFlag {
		n += 2 + len(p.Username)
		flags |= 0x80
	}
	if p.PasswordFlag {
		n += 2 + len(p.Password)
		flags |= 0x40
	}
	dst = appendHeader(dst, byte(CONNECT)<<4, n)
	dst = appendString(dst, p.ProtocolName)
	dst = append(dst, p.ProtocolLevel, flags)
	dst = appendUint16(dst, p.KeepAlive)
	if v5 {
		// MQTT 5.0 section 3.1: the CONNECT properties follow Keep Alive,
		// and the will properties come before the Will Topic [MQTT-3.1.3-1].
		dst = appendProperties(dst, p.Properties, props)
	}
	dst = appendString(dst, p.ClientID)
	if p.WillFlag {
		if v5 {
			dst = appendProperties(dst, p.WillProperties, willProps)
		}
		dst = appendString(dst, p.WillTopic)
		dst = appendBytes(dst, p.WillPayload)
	}
	if p.UsernameFlag {
		dst = appendString(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendBytes(dst, p.Password)
	}
	return dst
}

// Append implements Packet.
func (p *Connack) Append(dst []byte) []byte {
	return append(dst, byte(CONNACK)<<4, 2, boolBit(p.SessionPresent, 1), byte(p.ReturnCode))
}

// remaining returns the remaining length of p.
func (p *Publish) remaining() int {
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	return n
}

// Append implements Packet.
func (p *Publish) Append(dst []byte) []byte {
	first := byte(PUBLISH)<<4 | boolBit(p.Dup, 0x08) | p.QoS<<1 | boolBit(p.Retain, 0x01)
	dst = appendHeader(dst, first, p.remaining())
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	return append(dst, p.Payload...)
}

// Size returns the encoded size of p in bytes.
func (p *Publish) Size() int {
	r := p.remaining()
	return 1 + VarintLen(r) + r
}

// VarintLen returns how many bytes AppendVarint uses for n: the size of a
// Remaining Length field [MQTT-2.2.3].
func VarintLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

func appendAck(dst []byte, first byte, id uint16) []byte {
	return append(dst, first, 2, byte(id>>8), byte(id))
}

// Append implements Packet.
func (p *Puback) Append(dst []byte) []byte { return appendAck(dst, byte(PUBACK)<<4, p.PacketID) }

// Append implements Packet.
func (p *Pubrec) Append(dst []byte) []byte { return appendAck(dst, byte(PUBREC)<<4, p.PacketID) }

// Append implements Packet. PUBREL has the reserved flags 0010 [MQTT-3.6.1-1].
func (p *Pubrel) Append(dst []byte) []byte {
	return appendAck(dst, byte(PUBREL)<<4|0x02, p.PacketID)
}

// Append implements Packet.
func (p *Pubcomp) Append(dst []byte) []byte {
	return appendAck(dst, byte(PUBCOMP)<<4, p.PacketID)
}

// Append implements Packet. SUBSCRIBE has the reserved flags 0010 [MQTT-3.8.1-1].
func (p *Subscribe) Append(dst []byte) []byte {
	n := 2
	for _, s := range p.Subscriptions {
		n += 2 + len(s.Filter) + 1
	}
	dst = appendHeader(dst, byte(SUBSCRIBE)<<4|0x02, n)
	dst = appendUint16(dst, p.PacketID)
	for _, s := range p.Subscriptions {
		dst = appendString(dst, s.Filter)
		dst = append(dst, s.QoS)
	}
	return dst
}

// Append implements Packet. A return code above 2 (an MQTT 5.0 failure
// reason code such as ErrNotAuthorized) is sent as SubackFailure, the only
// failure 3.1.1 has [MQTT-3.9.3-2].
func (p *Suback) Append(dst []byte) []byte {
	dst = appendHeader(dst, byte(SUBACK)<<4, 2+len(p.ReturnCodes))
	dst = appendUint16(dst, p.PacketID)
	for _, c := range p.ReturnCodes {
		if c > 2 {
			c = SubackFailure
		}
		dst = append(dst, c)
	}
	return dst
}

// Append implements Packet. UNSUBSCRIBE has the reserved flags 0010
// [MQTT-3.10.1-1].
func (p *Unsubscribe) Append(dst []byte) []byte {
	n := 2
	for _, f := range p.Filters {
		n += 2 + len(f)
	}
	dst = appendHeader(dst, byte(UNSUBSCRIBE)<<4|0x02, n)
	dst = appendUint16(dst, p.PacketID)
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

// Append implements Packet.
func (p *Unsuback) Append(dst []byte) []byte {
	return appendAck(dst, byte(UNSUBACK)<<4, p.PacketID)
}

// Append implements Packet.
func (*Pingreq) Append(dst []byte) []byte { return append(dst, byte(PINGREQ)<<4, 0) }

// Append implements Packet.
func (*Pingresp) Append(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }

// Append implements Packet.
func (*Disconnect) Append(dst []byte) []byte { return append(dst, byte(DISCONNECT)<<4, 0) }
