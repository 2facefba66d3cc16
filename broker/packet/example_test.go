package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/edgegw/gateway/broker/packet"
)

// A server reads the first packet of a connection with DecodeVersion at the
// highest level it speaks, then decodes and encodes the rest at the level
// of the CONNECT.
func ExampleDecodeVersion() {
	// What an MQTT 5.0 client sends: CONNECT with Session Expiry Interval
	// 60, then PUBLISH with Message Expiry Interval 30.
	connect := (&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: packet.Version5, CleanSession: true,
		KeepAlive: 60, ClientID: "c1", Properties: &packet.Properties{SessionExpiry: new(uint32(60))}}).Append(nil)
	publish := (&packet.Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: []byte("hi"),
		Properties: &packet.Properties{MessageExpiry: new(uint32(30))}}).AppendVersion(nil, packet.Version5)
	r := bufio.NewReader(bytes.NewReader(append(connect, publish...)))

	first, body, _ := packet.ReadFrame(r, 0)
	p, _ := packet.DecodeVersion(packet.Version5, first, body)
	c := p.(*packet.Connect)
	version := c.ProtocolLevel
	fmt.Println("CONNECT level", version, "session expiry", *c.Properties.SessionExpiry)

	first, body, _ = packet.ReadFrame(r, 0)
	p, _ = packet.DecodeVersion(version, first, body)
	pub := p.(*packet.Publish)
	fmt.Println("PUBLISH", pub.Topic, "message expiry", *pub.Properties.MessageExpiry)

	// The answers, encoded for the client's version.
	ack := &packet.Puback{PacketID: pub.PacketID, ReasonCode: packet.CodeNoMatchingSubscribers}
	fmt.Printf("PUBACK % x\n", ack.AppendVersion(nil, version))
	fmt.Printf("the same for 3.1.1 % x\n", ack.AppendVersion(nil, packet.Version311))

	// A broken packet gives the reason code for the DISCONNECT.
	_, err := packet.DecodeVersion(version, 0x30, []byte{0, 1, 't', 3, 0x23, 0, 0})
	var code packet.Code
	if errors.As(err, &code) {
		fmt.Printf("%v\nDISCONNECT % x\n", err, (&packet.Disconnect{ReasonCode: code}).AppendVersion(nil, version))
	}
	// Output:
	// CONNECT level 5 session expiry 60
	// PUBLISH a/b message expiry 30
	// PUBACK 40 03 00 01 10
	// the same for 3.1.1 40 02 00 01
	// decode PUBLISH: properties: Topic Alias 0: topic alias invalid
	// DISCONNECT e0 01 94
}
