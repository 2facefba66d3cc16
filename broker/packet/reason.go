package packet

// The reason codes of MQTT 5.0 (section 2.4, table 2-6), as values of Code.
// Codes below 0x80 report success; codes of 0x80 and above are errors
// (section 2.4: "Reason Code values of 0x80 or greater indicate failure").
// Where the spec gives one value several names (0x00 is Success, Normal
// disconnection and Granted QoS 0), each name is a constant. The error codes
// 0x81 (ErrMalformed), 0x82 (ErrProtocol), 0x84 (ErrUnsupportedVersion) and
// 0x95 (ErrTooLarge) are in errors.go.
const (
	CodeSuccess                Code = 0x00 // CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH
	CodeNormalDisconnection    Code = 0x00 // DISCONNECT
	CodeGrantedQoS0            Code = 0x00 // SUBACK
	CodeGrantedQoS1            Code = 0x01 // SUBACK
	CodeGrantedQoS2            Code = 0x02 // SUBACK
	CodeDisconnectWithWill     Code = 0x04 // DISCONNECT: "Disconnect with Will Message"
	CodeNoMatchingSubscribers  Code = 0x10 // PUBACK, PUBREC
	CodeNoSubscriptionExisted  Code = 0x11 // UNSUBACK
	CodeContinueAuthentication Code = 0x18 // AUTH
	CodeReAuthenticate         Code = 0x19 // AUTH

	ErrUnspecified              Code = 0x80 // "Unspecified error"
	ErrImplementationSpecific   Code = 0x83 // "Implementation specific error"
	ErrClientIDNotValid         Code = 0x85 // "Client Identifier not valid"
	ErrBadUsernameOrPassword    Code = 0x86 // "Bad User Name or Password"
	ErrNotAuthorized            Code = 0x87 // "Not authorized"
	ErrServerUnavailable        Code = 0x88 // "Server unavailable"
	ErrServerBusy               Code = 0x89 // "Server busy"
	ErrBanned                   Code = 0x8A // "Banned"
	ErrServerShuttingDown       Code = 0x8B // "Server shutting down"
	ErrBadAuthMethod            Code = 0x8C // "Bad authentication method"
	ErrKeepAliveTimeout         Code = 0x8D // "Keep Alive timeout"
	ErrSessionTakenOver         Code = 0x8E // "Session taken over"
	ErrTopicFilterInvalid       Code = 0x8F // "Topic Filter invalid"
	ErrTopicNameInvalid         Code = 0x90 // "Topic Name invalid"
	ErrPacketIDInUse            Code = 0x91 // "Packet Identifier in use"
	ErrPacketIDNotFound         Code = 0x92 // "Packet Identifier not found"
	ErrReceiveMaximumExceeded   Code = 0x93 // "Receive Maximum exceeded"
	ErrTopicAliasInvalid        Code = 0x94 // "Topic Alias invalid"
	ErrMessageRateTooHigh       Code = 0x96 // "Message rate too high"
	ErrQuotaExceeded            Code = 0x97 // "Quota exceeded"
	ErrAdministrativeAction     Code = 0x98 // "Administrative action"
	ErrPayloadFormatInvalid     Code = 0x99 // "Payload format invalid"
	ErrRetainNotSupported       Code = 0x9A // "Retain not supported"
	ErrQoSNotSupported          Code = 0x9B // "QoS not supported"
	ErrUseAnotherServer         Code = 0x9C // "Use another server"
	ErrServerMoved              Code = 0x9D // "Server moved"
	ErrSharedSubsNotSupported   Code = 0x9E // "Shared Subscriptions not supported"
	ErrConnectionRateExceeded   Code = 0x9F // "Connection rate exceeded"
	ErrMaximumConnectTime       Code = 0xA0 // "Maximum connect time"
	ErrSubIDsNotSupported       Code = 0xA1 // "Subscription Identifiers not supported"
	ErrWildcardSubsNotSupported Code = 0xA2 // "Wildcard Subscriptions not supported"
)

// reasonNames holds the name of each reason code as table 2-6 spells it, for
// Code.Name.
var reasonNames = map[Code]string{
	0x00: "Success",
	0x01: "Granted QoS 1",
	0x02: "Granted QoS 2",
	0x04: "Disconnect with Will Message",
	0x10: "No matching subscribers",
	0x11: "No subscription existed",
	0x18: "Continue authentication",
	0x19: "Re-authenticate",
	0x80: "Unspecified error",
	0x81: "Malformed Packet",
	0x82: "Protocol Error",
	0x83: "Implementation specific error",
	0x84: "Unsupported Protocol Version",
	0x85: "Client Identifier not valid",
	0x86: "Bad User Name or Password",
	0x87: "Not authorized",
	0x88: "Server unavailable",
	0x89: "Server busy",
	0x8A: "Banned",
	0x8B: "Server shutting down",
	0x8C: "Bad authentication method",
	0x8D: "Keep Alive timeout",
	0x8E: "Session taken over",
	0x8F: "Topic Filter invalid",
	0x90: "Topic Name invalid",
	0x91: "Packet Identifier in use",
	0x92: "Packet Identifier not found",
	0x93: "Receive Maximum exceeded",
	0x94: "Topic Alias invalid",
	0x95: "Packet too large",
	0x96: "Message rate too high",
	0x97: "Quota exceeded",
	0x98: "Administrative action",
	0x99: "Payload format invalid",
	0x9A: "Retain not supported",
	0x9B: "QoS not supported",
	0x9C: "Use another server",
	0x9D: "Server moved",
	0x9E: "Shared Subscriptions not supported",
	0x9F: "Connection rate exceeded",
	0xA0: "Maximum connect time",
	0xA1: "Subscription Identifiers not supported",
	0xA2: "Wildcard Subscriptions not supported",
}

// Name returns the name of c as table 2-6 of MQTT 5.0 spells it ("Quota
// exceeded"), or "" for a value the spec does not define. It suits a Reason
// String.
func (c Code) Name() string { return reasonNames[c] }

// IsError reports whether c reports a failure: 0x80 and above (section 2.4).
func (c Code) IsError() bool { return c >= 0x80 }

// reasonSet is a set of reason codes.
type reasonSet [4]uint64

func (s *reasonSet) has(c Code) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func makeReasonSet(codes ...Code) (s reasonSet) {
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

// validReasons holds, for each packet type, the reason codes its sender may
// use; a receiver treats any other value as a Protocol Error (Mosquitto does
// the same).
var validReasons = [16]reasonSet{
	// [MQTT-3.2.2-8] table 3-1, Connect Reason Code values.
	CONNACK: makeReasonSet(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
		0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F),
	// [MQTT-3.4.2-1] table 3-4 and [MQTT-3.5.2-1] table 3-5.
	PUBACK: makeReasonSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
	PUBREC: makeReasonSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
	// [MQTT-3.6.2-1] table 3-6 and [MQTT-3.7.2-1] table 3-7.
	PUBREL:  makeReasonSet(0x00, 0x92),
	PUBCOMP: makeReasonSet(0x00, 0x92),
	// [MQTT-3.9.3-2] table 3-8, Subscribe Reason Codes.
	SUBACK: makeReasonSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2),
	// [MQTT-3.11.3-2] table 3-9, Unsubscribe Reason Codes.
	UNSUBACK: makeReasonSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91),
	// [MQTT-3.14.2-1] table 3-10, Disconnect Reason Codes.
	DISCONNECT: makeReasonSet(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
		0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
		0xA0, 0xA1, 0xA2),
	// [MQTT-3.15.2-1] table 3-11, Authenticate Reason Codes.
	AUTH: makeReasonSet(0x00, 0x18, 0x19),
}

// ValidReason reports whether the sender of a packet of type t may use
// reason code c (MQTT 5.0 chapter 3, the Reason Code table of each packet).
func ValidReason(t Type, c Code) bool { return validReasons[t&0x0f].has(c) }

// ConnackCode returns the MQTT 3.1.1 CONNACK return code to send for the
// MQTT 5.0 CONNACK reason code c, so that one decision serves clients of
// either version. The mapping is Mosquitto's: codes without a 3.1.1
// counterpart become "server unavailable", except the authorization ones.
func (c Code) ConnackCode() ConnackCode {
	switch c {
	case CodeSuccess:
		return Accepted
	case ErrUnsupportedVersion:
		return RefusedProtocolVersion
	case ErrClientIDNotValid:
		return RefusedIdentifierRejected
	case ErrBadUsernameOrPassword:
		return RefusedBadUsernamePassword
	case ErrNotAuthorized, ErrBanned, ErrBadAuthMethod:
		return RefusedNotAuthorized
	}
	return RefusedServerUnavailable
}

// Reason returns the MQTT 5.0 CONNACK reason code for the 3.1.1 return code
// c (table 3-1 has a counterpart for each).
func (c ConnackCode) Reason() Code {
	switch c {
	case Accepted:
		return CodeSuccess
	case RefusedProtocolVersion:
		return ErrUnsupportedVersion
	case RefusedIdentifierRejected:
		return ErrClientIDNotValid
	case RefusedServerUnavailable:
		return ErrServerUnavailable
	case RefusedBadUsernamePassword:
		return ErrBadUsernameOrPassword
	case RefusedNotAuthorized:
		return ErrNotAuthorized
	}
	return ErrUnspecified
}
