// Package packet encodes and decodes the MQTT control packets of MQTT 3.1.1
// (protocol level 4, name "MQTT") and MQTT 3.1 (level 3, name "MQIsdp").
//
// It holds no connection state and does no I/O beyond reading one frame from
// a reader: the broker owns sessions and delivery. Every packet type has a
// struct implementing Packet; Append encodes it and Decode parses a frame.
// The structs leave room for MQTT 5.0 properties and reason codes, which
// will be decoded when the protocol level is 5.
package packet
