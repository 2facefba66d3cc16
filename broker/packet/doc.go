// Package packet encodes and decodes the MQTT control packets of MQTT 5.0
// (protocol level 5), MQTT 3.1.1 (level 4, name "MQTT") and MQTT 3.1 (level
// 3, name "MQIsdp").
//
// It holds no connection state and does no I/O beyond reading one frame from
// a reader: the broker owns sessions and delivery. Every packet type has a
// struct implementing Packet. Decode parses a frame of a 3.1.1 or 3.1
// connection and Append encodes for one; DecodeVersion and AppendVersion do
// the same for the protocol level of a connection, with the reason codes and
// Properties of MQTT 5.0 at level 5. The fields of 5.0 are left out of a
// 3.1.1 encoding, so a message received with properties reaches a 3.1.1
// subscriber without them, and the 3.1.1 bytes are what they always were.
//
// Errors are reason codes (Code), wrapped with what was wrong: errors.Is
// tells ErrMalformed from ErrProtocol and the rest, errors.As yields the
// code a server sends in its DISCONNECT or CONNACK.
package packet
