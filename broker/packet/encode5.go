package packet

// This file holds the MQTT 5.0 encodings (chapter 3 of MQTT 5.0) and the
// AppendVersion methods that choose between them and the 3.1.1 ones.

// AppendVersion implements Packet: a CONNECT is encoded at its own
// ProtocolLevel whatever version says.
func (p *Connect) AppendVersion(dst []byte, _ byte) []byte { return p.Append(dst) }

// AppendVersion implements Packet. For MQTT 5.0 it sends ReasonCode
// (section 3.2.2.2) and the properties; for 3.1.1, ReturnCode.
func (p *Connack) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	props := p.Properties.size()
	dst = appendHeader(dst, byte(CONNACK)<<4, 2+VarintLen(props)+props)
	dst = append(dst, boolBit(p.SessionPresent, 1), byte(p.ReasonCode))
	return appendProperties(dst, p.Properties, props)
}

// remaining5 returns the Remaining Length of p in MQTT 5.0 and the length
// of its properties.
func (p *Publish) remaining5() (n, props int) {
	props = p.Properties.size() + len(p.MessageProps)
	return p.remaining() + VarintLen(props) + props, props
}

// AppendVersion implements Packet. For MQTT 5.0 the properties follow the
// Packet Identifier (section 3.3.2).
func (p *Publish) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	n, props := p.remaining5()
	first := byte(PUBLISH)<<4 | boolBit(p.Dup, 0x08) | p.QoS<<1 | boolBit(p.Retain, 0x01)
	dst = appendHeader(dst, first, n)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	dst = AppendVarint(dst, props)
	dst = p.Properties.appendFields(dst)
	dst = append(dst, p.MessageProps...)
	return append(dst, p.Payload...)
}

// SizeVersion returns the encoded size of p in bytes for a connection at
// protocol level version, to compare with a Maximum Packet Size
// [MQTT-3.1.2-24].
func (p *Publish) SizeVersion(version byte) int {
	if version != Version5 {
		return p.Size()
	}
	n, _ := p.remaining5()
	return 1 + VarintLen(n) + n
}

// appendAck5 encodes PUBACK, PUBREC, PUBREL or PUBCOMP (sections 3.4 to
// 3.7) in the shortest form: Remaining Length 2 for reason code 0x00 and no
// properties, 3 for a reason code without properties.
func appendAck5(dst []byte, first byte, id uint16, code Code, p *Properties) []byte {
	props := p.size()
	switch {
	case props == 0 && code == CodeSuccess:
		return appendAck(dst, first, id)
	case props == 0:
		return append(dst, first, 3, byte(id>>8), byte(id), byte(code))
	}
	dst = appendHeader(dst, first, 3+VarintLen(props)+props)
	dst = append(dst, byte(id>>8), byte(id), byte(code))
	return appendProperties(dst, p, props)
}

// AppendVersion implements Packet.
func (p *Puback) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	return appendAck5(dst, byte(PUBACK)<<4, p.PacketID, p.ReasonCode, p.Properties)
}

// AppendVersion implements Packet.
func (p *Pubrec) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	return appendAck5(dst, byte(PUBREC)<<4, p.PacketID, p.ReasonCode, p.Properties)
}

// AppendVersion implements Packet.
func (p *Pubrel) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	return appendAck5(dst, byte(PUBREL)<<4|0x02, p.PacketID, p.ReasonCode, p.Properties)
}

// AppendVersion implements Packet.
func (p *Pubcomp) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	return appendAck5(dst, byte(PUBCOMP)<<4, p.PacketID, p.ReasonCode, p.Properties)
}

// options returns the Subscription Options byte of s (section 3.8.3.1).
func (s *Subscription) options() byte {
	return s.QoS | boolBit(s.NoLocal, 0x04) | boolBit(s.RetainAsPublished, 0x08) | s.RetainHandling<<4
}

// AppendVersion implements Packet.
func (p *Subscribe) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	props := p.Properties.size()
	n := 2 + VarintLen(props) + props
	for _, s := range p.Subscriptions {
		n += 2 + len(s.Filter) + 1
	}
	dst = appendHeader(dst, byte(SUBSCRIBE)<<4|0x02, n)
	dst = appendUint16(dst, p.PacketID)
	dst = appendProperties(dst, p.Properties, props)
	for i := range p.Subscriptions {
		dst = appendString(dst, p.Subscriptions[i].Filter)
		dst = append(dst, p.Subscriptions[i].options())
	}
	return dst
}

// AppendVersion implements Packet.
func (p *Suback) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	props := p.Properties.size()
	dst = appendHeader(dst, byte(SUBACK)<<4, 2+VarintLen(props)+props+len(p.ReturnCodes))
	dst = appendUint16(dst, p.PacketID)
	dst = appendProperties(dst, p.Properties, props)
	return append(dst, p.ReturnCodes...)
}

// AppendVersion implements Packet.
func (p *Unsubscribe) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	props := p.Properties.size()
	n := 2 + VarintLen(props) + props
	for _, f := range p.Filters {
		n += 2 + len(f)
	}
	dst = appendHeader(dst, byte(UNSUBSCRIBE)<<4|0x02, n)
	dst = appendUint16(dst, p.PacketID)
	dst = appendProperties(dst, p.Properties, props)
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

// AppendVersion implements Packet.
func (p *Unsuback) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	props := p.Properties.size()
	dst = appendHeader(dst, byte(UNSUBACK)<<4, 2+VarintLen(props)+props+len(p.ReasonCodes))
	dst = appendUint16(dst, p.PacketID)
	dst = appendProperties(dst, p.Properties, props)
	for _, c := range p.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst
}

// AppendVersion implements Packet: the same in every version.
func (p *Pingreq) AppendVersion(dst []byte, _ byte) []byte { return p.Append(dst) }

// AppendVersion implements Packet: the same in every version.
func (p *Pingresp) AppendVersion(dst []byte, _ byte) []byte { return p.Append(dst) }

// appendReasonProps encodes DISCONNECT and AUTH (sections 3.14 and 3.15) in
// the shortest form: Remaining Length 0 for reason code 0x00 and no
// properties, 1 for a reason code alone.
func appendReasonProps(dst []byte, first byte, code Code, p *Properties) []byte {
	props := p.size()
	switch {
	case props == 0 && code == CodeSuccess:
		return append(dst, first, 0)
	case props == 0:
		return append(dst, first, 1, byte(code))
	}
	dst = appendHeader(dst, first, 1+VarintLen(props)+props)
	dst = append(dst, byte(code))
	return appendProperties(dst, p, props)
}

// AppendVersion implements Packet.
func (p *Disconnect) AppendVersion(dst []byte, version byte) []byte {
	if version != Version5 {
		return p.Append(dst)
	}
	return appendReasonProps(dst, byte(DISCONNECT)<<4, p.ReasonCode, p.Properties)
}

// Append implements Packet. AUTH exists only in MQTT 5.0, so this is its
// 5.0 encoding.
func (p *Auth) Append(dst []byte) []byte {
	return appendReasonProps(dst, byte(AUTH)<<4, p.ReasonCode, p.Properties)
}

// AppendVersion implements Packet.
func (p *Auth) AppendVersion(dst []byte, _ byte) []byte { return p.Append(dst) }
