package packet

// Type is the MQTT control packet type, the high nibble of the first byte of
// the fixed header (MQTT 3.1.1 section 2.2.1).
type Type byte

// The 14 control packet types of MQTT 3.1.1, and AUTH of MQTT 5.0.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15 // MQTT 5.0 only (section 3.15); reserved in 3.1.1
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",
	"DISCONNECT", "AUTH"}

func (t Type) String() string { return typeNames[t&0x0f] }

// Protocol levels (MQTT 3.1.1 section 3.1.2.2).
const (
	Version31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	Version311 byte = 4 // MQTT 3.1.1, protocol name "MQTT"
	Version5   byte = 5 // MQTT 5.0, protocol name "MQTT" (see DecodeVersion)
)

// Spec limits.
const (
	// MaxRemainingLength is the largest remaining length four bytes can
	// encode (MQTT 3.1.1 section 2.2.3): 268,435,455.
	MaxRemainingLength = 268435455
	// MaxStringLen is the longest UTF-8 encoded string (section 1.5.3).
	MaxStringLen = 65535
	// MaxClientID31 is the longest client identifier MQTT 3.1 allows.
	MaxClientID31 = 23
	// SubackFailure is the SUBACK return code of a refused subscription
	// (section 3.9.3).
	SubackFailure byte = 0x80
)

// Packet is one MQTT control packet.
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Append appends the packet (fixed header included) to dst, encoded
	// for MQTT 3.1.1 and 3.1 (a CONNECT at its own ProtocolLevel).
	Append(dst []byte) []byte
	// AppendVersion appends the packet encoded for a connection at protocol
	// level version: Version5 gives the MQTT 5.0 encoding with reason codes
	// and properties, any other level the same bytes as Append (fields of
	// 5.0 only are left out). A CONNECT is encoded at its own ProtocolLevel.
	AppendVersion(dst []byte, version byte) []byte
}

// Connect is the CONNECT packet (section 3.1).
type Connect struct {
	ProtocolName  string // "MQTT" or "MQIsdp"
	ProtocolLevel byte   // Version5, Version311 or Version31
	CleanSession  bool   // Clean Start in MQTT 5.0 (section 3.1.2.4)
	KeepAlive     uint16 // seconds; 0 disables keep-alive
	ClientID      string

	WillFlag    bool
	WillQoS     byte
	WillRetain  bool
	WillTopic   string
	WillPayload []byte

	UsernameFlag bool
	Username     string
	PasswordFlag bool // MQTT 5.0 allows a password without a user name
	Password     []byte

	// MQTT 5.0 only (nil: none). Properties are the CONNECT properties
	// (section 3.1.2.11), WillProperties those of the will (section 3.1.3.2).
	Properties     *Properties
	WillProperties *Properties
}

// Connack is the CONNACK packet (section 3.2).
type Connack struct {
	SessionPresent bool
	ReturnCode     ConnackCode // MQTT 3.1.1 and 3.1

	// MQTT 5.0 only: the Connect Reason Code (section 3.2.2.2; see
	// Code.ConnackCode and ConnackCode.Reason to go between the two) and
	// the CONNACK properties (section 3.2.2.3).
	ReasonCode Code
	Properties *Properties
}

// Publish is the PUBLISH packet (section 3.3).
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    string
	PacketID uint16 // only with QoS 1 and 2
	Payload  []byte

	// Properties are the PUBLISH properties of MQTT 5.0 (section 3.3.2.3),
	// nil for none. A 3.1.1 encoding leaves them out.
	Properties *Properties
	// MessageProps (MQTT 5.0) are message properties kept encoded, as a
	// forwarding server passes them on (DecodeForward): Payload Format
	// Indicator, Content Type, Response Topic, Correlation Data and User
	// Properties, each an identifier and its value, without a Property
	// Length; nil for none. AppendVersion writes them after Properties,
	// which must not hold the same ones; a 3.1.1 encoding leaves them out.
	MessageProps []byte
}

// Puback is the PUBACK packet (section 3.4).
type Puback struct {
	PacketID uint16
	// MQTT 5.0 only: the reason code and the properties (Reason String,
	// User Property). 0 and nil encode as the short form of length 2.
	ReasonCode Code
	Properties *Properties
}

// Pubrec is the PUBREC packet (section 3.5).
type Pubrec struct {
	PacketID uint16
	// MQTT 5.0 only: the reason code and the properties (Reason String,
	// User Property). 0 and nil encode as the short form of length 2.
	ReasonCode Code
	Properties *Properties
}

// Pubrel is the PUBREL packet (section 3.6).
type Pubrel struct {
	PacketID uint16
	// MQTT 5.0 only: the reason code and the properties (Reason String,
	// User Property). 0 and nil encode as the short form of length 2.
	ReasonCode Code
	Properties *Properties
}

// Pubcomp is the PUBCOMP packet (section 3.7).
type Pubcomp struct {
	PacketID uint16
	// MQTT 5.0 only: the reason code and the properties (Reason String,
	// User Property). 0 and nil encode as the short form of length 2.
	ReasonCode Code
	Properties *Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its requested QoS
// and, in MQTT 5.0, its other subscription options (section 3.8.3.1).
type Subscription struct {
	Filter string
	QoS    byte

	NoLocal           bool // [MQTT-3.8.3-3] not to the publishing connection
	RetainAsPublished bool // [MQTT-3.3.1-12] [MQTT-3.3.1-13] keep the RETAIN flag
	RetainHandling    byte // 0: send retained; 1: only if new; 2: never [MQTT-3.3.1-9..11]
}

// Subscribe is the SUBSCRIBE packet (section 3.8).
type Subscribe struct {
	PacketID      uint16
	Subscriptions []Subscription
	// Properties (MQTT 5.0): a Subscription Identifier and User Properties.
	Properties *Properties
}

// Suback is the SUBACK packet (section 3.9). Each return code is the
// granted QoS or SubackFailure; in MQTT 5.0 each is a reason code of table
// 3-8 (a Code), and a 3.1.1 encoding sends every failure (0x80 and above)
// as SubackFailure.
type Suback struct {
	PacketID    uint16
	ReturnCodes []byte
	Properties  *Properties // MQTT 5.0: Reason String, User Property
}

// Unsubscribe is the UNSUBSCRIBE packet (section 3.10).
type Unsubscribe struct {
	PacketID   uint16
	Filters    []string
	Properties *Properties // MQTT 5.0: User Property
}

// Unsuback is the UNSUBACK packet (section 3.11).
type Unsuback struct {
	PacketID uint16
	// MQTT 5.0 only: a reason code per topic filter, in order
	// [MQTT-3.11.3-1], and Reason String and User Property.
	ReasonCodes []Code
	Properties  *Properties
}

// Pingreq is the PINGREQ packet (section 3.12).
type Pingreq struct{}

// Pingresp is the PINGRESP packet (section 3.13).
type Pingresp struct{}

// Disconnect is the DISCONNECT packet (section 3.14). MQTT 3.1.1 has no
// fields; MQTT 5.0 has a reason code and properties (section 3.14.2).
type Disconnect struct {
	ReasonCode Code
	Properties *Properties
}

// Auth is the AUTH packet of MQTT 5.0 (section 3.15), used in enhanced
// authentication.
type Auth struct {
	ReasonCode Code // CodeSuccess, CodeContinueAuthentication or CodeReAuthenticate
	Properties *Properties
}

// Type implements Packet.
func (*Connect) Type() Type { return CONNECT }

// Type implements Packet.
func (*Connack) Type() Type { return CONNACK }

// Type implements Packet.
func (*Publish) Type() Type { return PUBLISH }

// Type implements Packet.
func (*Puback) Type() Type { return PUBACK }

// Type implements Packet.
func (*Pubrec) Type() Type { return PUBREC }

// Type implements Packet.
func (*Pubrel) Type() Type { return PUBREL }

// Type implements Packet.
func (*Pubcomp) Type() Type { return PUBCOMP }

// Type implements Packet.
func (*Subscribe) Type() Type { return SUBSCRIBE }

// Type implements Packet.
func (*Suback) Type() Type { return SUBACK }

// Type implements Packet.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Type implements Packet.
func (*Unsuback) Type() Type { return UNSUBACK }

// Type implements Packet.
func (*Pingreq) Type() Type { return PINGREQ }

// Type implements Packet.
func (*Pingresp) Type() Type { return PINGRESP }

// Type implements Packet.
func (*Disconnect) Type() Type { return DISCONNECT }

// Type implements Packet.
func (*Auth) Type() Type { return AUTH }

var (
	_ Packet = (*Connect)(nil)
	_ Packet = (*Connack)(nil)
	_ Packet = (*Publish)(nil)
	_ Packet = (*Puback)(nil)
	_ Packet = (*Pubrec)(nil)
	_ Packet = (*Pubrel)(nil)
	_ Packet = (*Pubcomp)(nil)
	_ Packet = (*Subscribe)(nil)
	_ Packet = (*Suback)(nil)
	_ Packet = (*Unsubscribe)(nil)
	_ Packet = (*Unsuback)(nil)
	_ Packet = (*Pingreq)(nil)
	_ Packet = (*Pingresp)(nil)
	_ Packet = (*Disconnect)(nil)
	_ Packet = (*Auth)(nil)
)
