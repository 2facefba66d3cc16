package packet

import (
	"fmt"
	"strings"
)

// PropertyID identifies an MQTT 5.0 property (section 2.2.2.2, table 2-4).
type PropertyID byte

// The property identifiers of MQTT 5.0, table 2-4.
const (
	PropPayloadFormat        PropertyID = 0x01 // Payload Format Indicator: byte
	PropMessageExpiry        PropertyID = 0x02 // Message Expiry Interval: four byte integer
	PropContentType          PropertyID = 0x03 // Content Type: UTF-8 string
	PropResponseTopic        PropertyID = 0x08 // Response Topic: UTF-8 string
	PropCorrelationData      PropertyID = 0x09 // Correlation Data: binary data
	PropSubscriptionID       PropertyID = 0x0B // Subscription Identifier: variable byte integer
	PropSessionExpiry        PropertyID = 0x11 // Session Expiry Interval: four byte integer
	PropAssignedClientID     PropertyID = 0x12 // Assigned Client Identifier: UTF-8 string
	PropServerKeepAlive      PropertyID = 0x13 // Server Keep Alive: two byte integer
	PropAuthMethod           PropertyID = 0x15 // Authentication Method: UTF-8 string
	PropAuthData             PropertyID = 0x16 // Authentication Data: binary data
	PropRequestProblemInfo   PropertyID = 0x17 // Request Problem Information: byte
	PropWillDelay            PropertyID = 0x18 // Will Delay Interval: four byte integer
	PropRequestResponseInfo  PropertyID = 0x19 // Request Response Information: byte
	PropResponseInfo         PropertyID = 0x1A // Response Information: UTF-8 string
	PropServerReference      PropertyID = 0x1C // Server Reference: UTF-8 string
	PropReasonString         PropertyID = 0x1F // Reason String: UTF-8 string
	PropReceiveMaximum       PropertyID = 0x21 // Receive Maximum: two byte integer
	PropTopicAliasMaximum    PropertyID = 0x22 // Topic Alias Maximum: two byte integer
	PropTopicAlias           PropertyID = 0x23 // Topic Alias: two byte integer
	PropMaximumQoS           PropertyID = 0x24 // Maximum QoS: byte
	PropRetainAvailable      PropertyID = 0x25 // Retain Available: byte
	PropUser                 PropertyID = 0x26 // User Property: UTF-8 string pair
	PropMaximumPacketSize    PropertyID = 0x27 // Maximum Packet Size: four byte integer
	PropWildcardSubAvailable PropertyID = 0x28 // Wildcard Subscription Available: byte
	PropSubIDAvailable       PropertyID = 0x29 // Subscription Identifier Available: byte
	PropSharedSubAvailable   PropertyID = 0x2A // Shared Subscription Available: byte
)

// MaxSubscriptionID is the largest Subscription Identifier, the largest
// variable byte integer (section 3.8.2.1.2).
const MaxSubscriptionID = MaxRemainingLength

// UserProperty is one User Property, a UTF-8 string pair (section 1.5.7).
// A name may appear more than once, and order is kept [MQTT-3.3.2-18].
type UserProperty struct {
	Key, Value string
}

// Properties holds the properties of one MQTT 5.0 packet, or of the will in
// a CONNECT. A nil pointer, empty string or nil slice is an absent property;
// a string property sent present but empty decodes as absent (all of them
// mean the same when empty), while empty binary data stays present (non-nil).
// Which properties a packet may carry is checked on decode; Append encodes
// whatever is set. Decoded values are not shared between packets, so a
// forwarding broker may copy the struct and replace fields.
type Properties struct {
	PayloadFormat        *byte          // 0x01 PUBLISH, will: 0 unspecified bytes, 1 UTF-8
	MessageExpiry        *uint32        // 0x02 PUBLISH, will: seconds
	ContentType          string         // 0x03 PUBLISH, will
	ResponseTopic        string         // 0x08 PUBLISH, will: a topic name
	CorrelationData      []byte         // 0x09 PUBLISH, will
	SubscriptionIDs      []uint32       // 0x0B PUBLISH (several), SUBSCRIBE (one): 1..MaxSubscriptionID
	SessionExpiry        *uint32        // 0x11 CONNECT, CONNACK, DISCONNECT: seconds
	AssignedClientID     string         // 0x12 CONNACK
	ServerKeepAlive      *uint16        // 0x13 CONNACK: seconds
	AuthMethod           string         // 0x15 CONNECT, CONNACK, AUTH
	AuthData             []byte         // 0x16 CONNECT, CONNACK, AUTH
	RequestProblemInfo   *bool          // 0x17 CONNECT (absent: true)
	WillDelay            *uint32        // 0x18 will: seconds
	RequestResponseInfo  *bool          // 0x19 CONNECT (absent: false)
	ResponseInfo         string         // 0x1A CONNACK
	ServerReference      string         // 0x1C CONNACK, DISCONNECT
	ReasonString         string         // 0x1F CONNACK, PUBACK..PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH
	ReceiveMaximum       *uint16        // 0x21 CONNECT, CONNACK: not 0 (absent: 65535)
	TopicAliasMaximum    *uint16        // 0x22 CONNECT, CONNACK (absent: 0)
	TopicAlias           *uint16        // 0x23 PUBLISH: not 0
	MaximumQoS           *byte          // 0x24 CONNACK: 0 or 1 (absent: 2)
	RetainAvailable      *bool          // 0x25 CONNACK (absent: true)
	User                 []UserProperty // 0x26 every packet with properties, and the will
	MaximumPacketSize    *uint32        // 0x27 CONNECT, CONNACK: not 0 (absent: no limit)
	WildcardSubAvailable *bool          // 0x28 CONNACK (absent: true)
	SubIDAvailable       *bool          // 0x29 CONNACK (absent: true)
	SharedSubAvailable   *bool          // 0x2A CONNACK (absent: true)
}

// stringProps has the bit 1<<id of each property that is a UTF-8 Encoded
// String: decoded empty, it is absent.
var stringProps = func() (m uint64) {
	for id, info := range propInfo {
		if info.kind == kindString {
			m |= 1 << id
		}
	}
	return m
}()

// willProps is the context of the will properties of a CONNECT in the
// tables below; 0 is no packet type.
const willProps Type = 0

type propKind byte

const (
	kindByte   propKind = iota + 1 // Byte
	kindBool                       // Byte, 0 or 1
	kindUint16                     // Two Byte Integer
	kindUint32                     // Four Byte Integer
	kindVarint                     // Variable Byte Integer
	kindString                     // UTF-8 Encoded String
	kindPair                       // UTF-8 String Pair
	kindBinary                     // Binary Data
)

func in(ts ...Type) (m uint16) {
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

// propInfo is table 2-4: each property's name, data type and the packets
// (bit 1<<Type; bit 0 for the will properties) it may appear in.
var propInfo = [...]struct {
	name string
	kind propKind
	in   uint16
}{
	PropPayloadFormat:        {"Payload Format Indicator", kindByte, in(PUBLISH, willProps)},
	PropMessageExpiry:        {"Message Expiry Interval", kindUint32, in(PUBLISH, willProps)},
	PropContentType:          {"Content Type", kindString, in(PUBLISH, willProps)},
	PropResponseTopic:        {"Response Topic", kindString, in(PUBLISH, willProps)},
	PropCorrelationData:      {"Correlation Data", kindBinary, in(PUBLISH, willProps)},
	PropSubscriptionID:       {"Subscription Identifier", kindVarint, in(PUBLISH, SUBSCRIBE)},
	PropSessionExpiry:        {"Session Expiry Interval", kindUint32, in(CONNECT, CONNACK, DISCONNECT)},
	PropAssignedClientID:     {"Assigned Client Identifier", kindString, in(CONNACK)},
	PropServerKeepAlive:      {"Server Keep Alive", kindUint16, in(CONNACK)},
	PropAuthMethod:           {"Authentication Method", kindString, in(CONNECT, CONNACK, AUTH)},
	PropAuthData:             {"Authentication Data", kindBinary, in(CONNECT, CONNACK, AUTH)},
	PropRequestProblemInfo:   {"Request Problem Information", kindBool, in(CONNECT)},
	PropWillDelay:            {"Will Delay Interval", kindUint32, in(willProps)},
	PropRequestResponseInfo:  {"Request Response Information", kindBool, in(CONNECT)},
	PropResponseInfo:         {"Response Information", kindString, in(CONNACK)},
	PropServerReference:      {"Server Reference", kindString, in(CONNACK, DISCONNECT)},
	PropReasonString:         {"Reason String", kindString, in(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH)},
	PropReceiveMaximum:       {"Receive Maximum", kindUint16, in(CONNECT, CONNACK)},
	PropTopicAliasMaximum:    {"Topic Alias Maximum", kindUint16, in(CONNECT, CONNACK)},
	PropTopicAlias:           {"Topic Alias", kindUint16, in(PUBLISH)},
	PropMaximumQoS:           {"Maximum QoS", kindByte, in(CONNACK)},
	PropRetainAvailable:      {"Retain Available", kindBool, in(CONNACK)},
	PropUser:                 {"User Property", kindPair, in(CONNECT, CONNACK, PUBLISH, willProps, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH)},
	PropMaximumPacketSize:    {"Maximum Packet Size", kindUint32, in(CONNECT, CONNACK)},
	PropWildcardSubAvailable: {"Wildcard Subscription Available", kindBool, in(CONNACK)},
	PropSubIDAvailable:       {"Subscription Identifier Available", kindBool, in(CONNACK)},
	PropSharedSubAvailable:   {"Shared Subscription Available", kindBool, in(CONNACK)},
}

// String returns the property's name as table 2-4 spells it.
func (id PropertyID) String() string {
	if int(id) < len(propInfo) && propInfo[id].kind != 0 {
		return propInfo[id].name
	}
	return fmt.Sprintf("property 0x%02x", byte(id))
}

// Allowed reports whether a packet of type t may carry property id (table
// 2-4). Use CONNECT for the CONNECT properties; the will properties are
// those Allowed for PUBLISH except Topic Alias and Subscription Identifier,
// plus Will Delay Interval.
func (id PropertyID) Allowed(t Type) bool {
	return t != willProps && int(id) < len(propInfo) && propInfo[id].in&(1<<t) != 0
}

func contextName(t Type) string {
	if t == willProps {
		return "will"
	}
	return t.String()
}

// propBlock is one allocation for decoded properties and the values a
// PUBLISH's properties point to, instead of one for each.
type propBlock struct {
	p      Properties
	expiry uint32
	alias  uint16
	format byte
	user   [2]UserProperty
}

// properties reads a Property Length and the properties it covers (section
// 2.2.2) of a packet of type t (willProps: the will properties). It returns
// nil when there are none.
func (d *decoder) properties(t Type) *Properties {
	p, _ := d.propertiesInto(t, nil, false)
	return p
}

// propertiesInto is properties with the values kept in pb (nil: allocated
// when there are properties). With forward set (PUBLISH only), the message
// properties are checked as properties checks them but returned encoded, as
// Publish.MessageProps holds them, and not set in the result.
func (d *decoder) propertiesInto(t Type, pb *propBlock, forward bool) (*Properties, []byte) {
	n := d.varint("property length")
	if d.err != nil {
		return nil, nil
	}
	if n > len(d.b) {
		d.fail("property length past the end of the packet")
		return nil, nil
	}
	if n == 0 {
		return nil, nil
	}
	if pb == nil {
		pb = &propBlock{}
	}
	block := d.b[:n:n]
	pd := decoder{b: block, src: block, pb: pb}
	d.b = d.b[n:]
	p := &pb.p
	var seen uint64 // the properties read
	var set uint64  // those set in p
	var msg msgSpans
	for pd.err == nil && len(pd.b) > 0 {
		start := n - len(pd.b)
		v := pd.varint("property identifier")
		if pd.err != nil {
			break
		}
		// Section 2.2.2.2: an identifier not valid for the packet type is a
		// Malformed Packet.
		if v >= len(propInfo) || propInfo[v].kind == 0 {
			pd.fail(fmt.Sprintf("unknown property 0x%02x", v))
			break
		}
		if propInfo[v].in&(1<<t) == 0 {
			pd.fail(fmt.Sprintf("%s (0x%02x) not allowed", PropertyID(v), v))
			break
		}
		id := PropertyID(v)
		// Every property but User Property, and Subscription Identifier in
		// PUBLISH [MQTT-3.3.4-4], is a Protocol Error if it is sent more than
		// once (sections 3.1.2.11 to 3.15.2.2).
		if id != PropUser && (id != PropSubscriptionID || t != PUBLISH) {
			if seen&(1<<id) != 0 {
				pd.protocol(fmt.Sprintf("%s more than once", id))
				break
			}
		}
		seen |= 1 << id
		if forward && id.message() {
			pd.checkMessageProperty(id)
			msg.add(block, start, n-len(pd.b))
			continue
		}
		set |= 1 << id
		pd.property(p, id)
	}
	if pd.err == nil && seen&(1<<PropAuthData) != 0 && seen&(1<<PropAuthMethod) == 0 {
		// Section 3.1.2.11.10: Authentication Data without a method.
		pd.protocol("Authentication Data without Authentication Method")
	}
	if pd.err != nil {
		what := "properties"
		if t == willProps {
			what = "will properties"
		}
		d.err = fmt.Errorf("%s: %w", what, pd.err)
		return nil, nil
	}
	// None, or only empty strings, are the same as none; every other kind
	// of property set is present.
	if set == 0 || set&^stringProps == 0 && p.size() == 0 {
		p = nil
	}
	return p, msg.b
}

// property reads the value of property id into p and checks its range.
func (d *decoder) property(p *Properties, id PropertyID) {
	bad := func(v any) { d.protocol(fmt.Sprintf("%s %v", id, v)) }
	switch propInfo[id].kind {
	case kindBool:
		v := d.byte()
		if d.err != nil {
			return
		}
		if v > 1 { // "a value other than 0 or 1" is a Protocol Error
			bad(v)
			return
		}
		b := new(v == 1)
		switch id {
		case PropRequestProblemInfo: // section 3.1.2.11.7
			p.RequestProblemInfo = b
		case PropRequestResponseInfo: // section 3.1.2.11.6
			p.RequestResponseInfo = b
		case PropRetainAvailable: // section 3.2.2.3.5
			p.RetainAvailable = b
		case PropWildcardSubAvailable: // section 3.2.2.3.11
			p.WildcardSubAvailable = b
		case PropSubIDAvailable: // section 3.2.2.3.12
			p.SubIDAvailable = b
		case PropSharedSubAvailable: // section 3.2.2.3.13
			p.SharedSubAvailable = b
		}
	case kindByte:
		v := d.byte()
		if d.err != nil {
			return
		}
		switch id {
		case PropPayloadFormat: // section 3.3.2.3.2: 0 or 1; others as Mosquitto
			if v > 1 {
				bad(v)
			}
			if d.pb != nil {
				d.pb.format = v
				p.PayloadFormat = &d.pb.format
			} else {
				p.PayloadFormat = new(v)
			}
		case PropMaximumQoS: // section 3.2.2.3.4: 0 or 1
			if v > 1 {
				bad(v)
			}
			p.MaximumQoS = new(v)
		}
	case kindUint16:
		v := d.uint16()
		if d.err != nil {
			return
		}
		switch id {
		case PropServerKeepAlive:
			p.ServerKeepAlive = new(v)
		case PropReceiveMaximum: // sections 3.1.2.11.3, 3.2.2.3.3: 0 is a Protocol Error
			if v == 0 {
				bad(v)
			}
			p.ReceiveMaximum = new(v)
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum = new(v)
		case PropTopicAlias: // [MQTT-3.3.2-8] 0 is not permitted; Mosquitto answers 0x94
			if v == 0 && d.err == nil {
				d.err = fmt.Errorf("%s 0: %w", id, ErrTopicAliasInvalid)
			}
			if d.pb != nil {
				d.pb.alias = v
				p.TopicAlias = &d.pb.alias
			} else {
				p.TopicAlias = new(v)
			}
		}
	case kindUint32:
		v := d.uint32()
		if d.err != nil {
			return
		}
		switch id {
		case PropMessageExpiry:
			if d.pb != nil {
				d.pb.expiry = v
				p.MessageExpiry = &d.pb.expiry
			} else {
				p.MessageExpiry = new(v)
			}
		case PropSessionExpiry:
			p.SessionExpiry = new(v)
		case PropWillDelay:
			p.WillDelay = new(v)
		case PropMaximumPacketSize: // sections 3.1.2.11.4, 3.2.2.3.6: 0 is a Protocol Error
			if v == 0 {
				bad(v)
			}
			p.MaximumPacketSize = new(v)
		}
	case kindVarint: // only Subscription Identifier
		v := d.varint("subscription identifier")
		if d.err != nil {
			return
		}
		if v == 0 { // section 3.8.2.1.2
			bad(v)
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
	case kindString:
		v := d.string(id.String())
		if d.err != nil {
			return
		}
		switch id {
		case PropContentType: // [MQTT-3.3.2-19]
			p.ContentType = v
		case PropResponseTopic: // [MQTT-3.3.2-13] [MQTT-3.3.2-14] a topic name
			if v == "" || strings.ContainsAny(v, "+#") {
				bad(fmt.Sprintf("%q", v))
			}
			p.ResponseTopic = v
		case PropAssignedClientID:
			p.AssignedClientID = v
		case PropAuthMethod:
			p.AuthMethod = v
		case PropResponseInfo:
			p.ResponseInfo = v
		case PropServerReference:
			p.ServerReference = v
		case PropReasonString:
			p.ReasonString = v
		}
	case kindPair: // [MQTT-1.5.7-1] both strings are UTF-8 encoded strings
		k := d.string("user property name")
		v := d.string("user property value")
		if p.User == nil && d.pb != nil {
			p.User = d.pb.user[:0:len(d.pb.user)] // room for the usual one or two
		}
		p.User = append(p.User, UserProperty{k, v})
	case kindBinary:
		v := d.bytes()
		if d.err != nil {
			return
		}
		switch id {
		case PropCorrelationData:
			p.CorrelationData = v
		case PropAuthData:
			p.AuthData = v
		}
	}
}

// uint32 reads a Four Byte Integer (section 1.5.3).
func (d *decoder) uint32() uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.fail("short packet")
		return 0
	}
	v := uint32(d.b[0])<<24 | uint32(d.b[1])<<16 | uint32(d.b[2])<<8 | uint32(d.b[3])
	d.b = d.b[4:]
	return v
}

// varint reads a Variable Byte Integer (section 1.5.5), which must use the
// fewest bytes [MQTT-1.5.5-1].
func (d *decoder) varint(what string) int {
	if d.err != nil {
		return 0
	}
	if len(d.b) > 0 && d.b[0] < 0x80 { // one byte, the usual case: always the fewest
		v := int(d.b[0])
		d.b = d.b[1:]
		return v
	}
	n, size, err := DecodeVarint(d.b)
	if err != nil {
		d.fail(what)
		return 0
	}
	if size != VarintLen(n) {
		d.fail(what + " not in the fewest bytes")
		return 0
	}
	d.b = d.b[size:]
	return n
}

// size returns the length of the encoded properties, without the Property
// Length in front of them.
func (p *Properties) size() int {
	if p == nil {
		return 0
	}
	n := 0
	add := func(set bool, k int) {
		if set {
			n += k
		}
	}
	add(p.PayloadFormat != nil, 2)
	add(p.MessageExpiry != nil, 5)
	add(p.ContentType != "", 3+len(p.ContentType))
	add(p.ResponseTopic != "", 3+len(p.ResponseTopic))
	add(p.CorrelationData != nil, 3+len(p.CorrelationData))
	for _, id := range p.SubscriptionIDs {
		n += 1 + VarintLen(int(id))
	}
	add(p.SessionExpiry != nil, 5)
	add(p.AssignedClientID != "", 3+len(p.AssignedClientID))
	add(p.ServerKeepAlive != nil, 3)
	add(p.AuthMethod != "", 3+len(p.AuthMethod))
	add(p.AuthData != nil, 3+len(p.AuthData))
	add(p.RequestProblemInfo != nil, 2)
	add(p.WillDelay != nil, 5)
	add(p.RequestResponseInfo != nil, 2)
	add(p.ResponseInfo != "", 3+len(p.ResponseInfo))
	add(p.ServerReference != "", 3+len(p.ServerReference))
	add(p.ReasonString != "", 3+len(p.ReasonString))
	add(p.ReceiveMaximum != nil, 3)
	add(p.TopicAliasMaximum != nil, 3)
	add(p.TopicAlias != nil, 3)
	add(p.MaximumQoS != nil, 2)
	add(p.RetainAvailable != nil, 2)
	for _, u := range p.User {
		n += 5 + len(u.Key) + len(u.Value)
	}
	add(p.MaximumPacketSize != nil, 5)
	add(p.WildcardSubAvailable != nil, 2)
	add(p.SubIDAvailable != nil, 2)
	add(p.SharedSubAvailable != nil, 2)
	return n
}

// Size returns the number of bytes the properties take in a packet,
// Property Length included: 1 for none.
func (p *Properties) Size() int {
	n := p.size()
	return VarintLen(n) + n
}

// appendProperties appends the Property Length n (from p.size()) and the
// properties, in the order of their identifiers; User Properties keep their
// order [MQTT-3.3.2-18]. If there are none the length is 0 [MQTT-2.2.2-1].
func appendProperties(dst []byte, p *Properties, n int) []byte {
	dst = AppendVarint(dst, n)
	if n == 0 {
		return dst
	}
	return p.appendFields(dst)
}

// appendFields appends the properties of p without a Property Length;
// nothing for a nil p.
func (p *Properties) appendFields(dst []byte) []byte {
	if p == nil {
		return dst
	}
	byteProp := func(id PropertyID, v *byte) {
		if v != nil {
			dst = append(dst, byte(id), *v)
		}
	}
	boolProp := func(id PropertyID, v *bool) {
		if v != nil {
			dst = append(dst, byte(id), boolBit(*v, 1))
		}
	}
	u16Prop := func(id PropertyID, v *uint16) {
		if v != nil {
			dst = appendUint16(append(dst, byte(id)), *v)
		}
	}
	u32Prop := func(id PropertyID, v *uint32) {
		if v != nil {
			dst = appendUint32(append(dst, byte(id)), *v)
		}
	}
	strProp := func(id PropertyID, v string) {
		if v != "" {
			dst = appendString(append(dst, byte(id)), v)
		}
	}
	binProp := func(id PropertyID, v []byte) {
		if v != nil {
			dst = appendBytes(append(dst, byte(id)), v)
		}
	}
	byteProp(PropPayloadFormat, p.PayloadFormat)
	u32Prop(PropMessageExpiry, p.MessageExpiry)
	strProp(PropContentType, p.ContentType)
	strProp(PropResponseTopic, p.ResponseTopic)
	binProp(PropCorrelationData, p.CorrelationData)
	for _, id := range p.SubscriptionIDs {
		dst = AppendVarint(append(dst, byte(PropSubscriptionID)), int(id))
	}
	u32Prop(PropSessionExpiry, p.SessionExpiry)
	strProp(PropAssignedClientID, p.AssignedClientID)
	u16Prop(PropServerKeepAlive, p.ServerKeepAlive)
	strProp(PropAuthMethod, p.AuthMethod)
	binProp(PropAuthData, p.AuthData)
	boolProp(PropRequestProblemInfo, p.RequestProblemInfo)
	u32Prop(PropWillDelay, p.WillDelay)
	boolProp(PropRequestResponseInfo, p.RequestResponseInfo)
	strProp(PropResponseInfo, p.ResponseInfo)
	strProp(PropServerReference, p.ServerReference)
	strProp(PropReasonString, p.ReasonString)
	u16Prop(PropReceiveMaximum, p.ReceiveMaximum)
	u16Prop(PropTopicAliasMaximum, p.TopicAliasMaximum)
	u16Prop(PropTopicAlias, p.TopicAlias)
	byteProp(PropMaximumQoS, p.MaximumQoS)
	boolProp(PropRetainAvailable, p.RetainAvailable)
	for _, u := range p.User {
		dst = appendString(append(dst, byte(PropUser)), u.Key)
		dst = appendString(dst, u.Value)
	}
	u32Prop(PropMaximumPacketSize, p.MaximumPacketSize)
	boolProp(PropWildcardSubAvailable, p.WildcardSubAvailable)
	boolProp(PropSubIDAvailable, p.SubIDAvailable)
	boolProp(PropSharedSubAvailable, p.SharedSubAvailable)
	return dst
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Message returns the properties that belong to the application message
// and go to every subscriber unaltered: Payload Format Indicator, Message
// Expiry Interval, Content Type, Response Topic, Correlation Data and User
// Properties in order [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16]
// [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]. Topic Alias and
// Subscription Identifier belong to one connection and one subscription
// [MQTT-3.3.2-7] [MQTT-3.3.4-6], and Will Delay Interval to the will, so
// they are left out. It returns nil when none is left. The result shares
// values with p; replace, do not modify, a field such as MessageExpiry when
// counting it down [MQTT-3.3.2-6].
func (p *Properties) Message() *Properties {
	if p == nil {
		return nil
	}
	m := &Properties{PayloadFormat: p.PayloadFormat, MessageExpiry: p.MessageExpiry,
		ContentType: p.ContentType, ResponseTopic: p.ResponseTopic,
		CorrelationData: p.CorrelationData, User: p.User}
	if m.size() == 0 {
		return nil
	}
	return m
}

// Append appends p as a packet carries it, the Property Length followed by
// the properties, for storing a message's properties (broker/store) or
// building a packet by hand. A nil p appends the single byte 0.
func (p *Properties) Append(dst []byte) []byte {
	return appendProperties(dst, p, p.size())
}

// DecodeProperties parses what Append writes, or the properties of a packet
// of type t: a Property Length and the properties from the start of b, with
// the checks Decode applies (allowed in t, at most once, values in range).
// Type 0 (no packet type) selects the will properties of a CONNECT.
// It returns the properties (nil for none) and the number of bytes used.
// Errors wrap a Code as Decode's do.
func DecodeProperties(t Type, b []byte) (*Properties, int, error) {
	d := decoder{b: b}
	p := d.properties(t)
	if d.err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", contextName(t), d.err)
	}
	return p, len(b) - len(d.b), nil
}
