package packet

import (
	"strconv"
	"strings"
)

// Code is a reason code. Its values follow the MQTT 5.0 reason codes
// (MQTT 5.0 section 2.4) so that the session layer can report them to v5
// clients later; for MQTT 3.1.1 the broker maps them to closing the network
// connection or to a ConnackCode. A Code is an error, checked with errors.Is.
type Code byte

// Reason codes used by the decoder.
const (
	// ErrMalformed: the packet does not follow the wire format.
	ErrMalformed Code = 0x81
	// ErrProtocol: the packet is well formed but breaks a protocol rule.
	ErrProtocol Code = 0x82
	// ErrUnsupportedVersion: CONNECT names an unknown protocol or level; the
	// server answers CONNACK 0x01 [MQTT-3.1.2-2].
	ErrUnsupportedVersion Code = 0x84
	// ErrTooLarge: the packet exceeds the configured maximum size.
	ErrTooLarge Code = 0x95
)

var codeNames = map[Code]string{
	ErrMalformed:          "malformed packet",
	ErrProtocol:           "protocol error",
	ErrUnsupportedVersion: "unsupported protocol version",
	ErrTooLarge:           "packet too large",
}

func (c Code) Error() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	if s, ok := reasonNames[c]; ok {
		return strings.ToLower(s)
	}
	return "reason code 0x" + strconv.FormatUint(uint64(c), 16)
}

// ConnackCode is the return code of an MQTT 3.1.1 CONNACK (section 3.2.2.3).
// A non-zero ConnackCode is an error.
type ConnackCode byte

// The CONNACK return codes of MQTT 3.1.1, table 3.1.
const (
	Accepted                   ConnackCode = 0x00
	RefusedProtocolVersion     ConnackCode = 0x01
	RefusedIdentifierRejected  ConnackCode = 0x02
	RefusedServerUnavailable   ConnackCode = 0x03
	RefusedBadUsernamePassword ConnackCode = 0x04
	RefusedNotAuthorized       ConnackCode = 0x05
)

var connackNames = [...]string{
	"connection accepted",
	"connection refused: unacceptable protocol version",
	"connection refused: identifier rejected",
	"connection refused: server unavailable",
	"connection refused: bad user name or password",
	"connection refused: not authorized",
}

func (c ConnackCode) Error() string {
	if int(c) < len(connackNames) {
		return connackNames[c]
	}
	return "connection refused: code " + strconv.Itoa(int(c))
}
