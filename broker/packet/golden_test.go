package packet

// golden is the table of encoded packets that drives the encode and decode
// tests and seeds the fuzz target. Each byte carries a comment.
var golden = []struct {
	name string
	raw  []byte
	pkt  Packet
}{
	{
		name: "connect 3.1.1 minimal",
		raw: []byte{
			0x10,       // CONNECT, flags 0000
			12,         // remaining length
			0x00, 0x04, // protocol name length 4
			'M', 'Q', 'T', 'T', // "MQTT"
			4,          // protocol level 4 (3.1.1)
			0x02,       // connect flags: clean session
			0x00, 0x3c, // keep alive 60 s
			0x00, 0x00, // client id length 0
		},
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, KeepAlive: 60},
	},
	{
		name: "connect 3.1.1 full",
		raw: []byte{
			0x10,       // CONNECT
			36,         // remaining length
			0x00, 0x04, // protocol name length
			'M', 'Q', 'T', 'T', // "MQTT"
			4,          // level 4
			0xf4,       // flags: user name, password, will retain, will qos 2, will flag
			0x00, 0x0a, // keep alive 10 s
			0x00, 0x02, // client id length 2
			'c', '1', // client id "c1"
			0x00, 0x03, // will topic length 3
			'a', '/', 'b', // will topic "a/b"
			0x00, 0x03, // will payload length 3
			'b', 'y', 'e', // will payload "bye"
			0x00, 0x04, // user name length 4
			'u', 's', 'e', 'r', // user name "user"
			0x00, 0x04, // password length 4
			'p', 'a', 's', 's', // password "pass"
		},
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, KeepAlive: 10, ClientID: "c1",
			WillFlag: true, WillQoS: 2, WillRetain: true, WillTopic: "a/b", WillPayload: []byte("bye"),
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pass")},
	},
	{
		name: "connect 3.1 MQIsdp",
		raw: []byte{
			0x10,       // CONNECT
			17,         // remaining length
			0x00, 0x06, // protocol name length 6
			'M', 'Q', 'I', 's', 'd', 'p', // "MQIsdp"
			3,          // level 3 (3.1)
			0x00,       // flags: persistent session
			0x00, 0x00, // keep alive disabled
			0x00, 0x03, // client id length 3
			'o', 'l', 'd', // client id "old"
		},
		pkt: &Connect{ProtocolName: "MQIsdp", ProtocolLevel: 3, ClientID: "old"},
	},
	{
		name: "connack session present",
		raw: []byte{
			0x20, // CONNACK
			2,    // remaining length
			0x01, // session present
			0x00, // accepted
		},
		pkt: &Connack{SessionPresent: true},
	},
	{
		name: "connack refused",
		raw: []byte{
			0x20, // CONNACK
			2,    // remaining length
			0x00, // no session
			0x05, // not authorized
		},
		pkt: &Connack{ReturnCode: RefusedNotAuthorized},
	},
	{
		name: "publish qos 0",
		raw: []byte{
			0x30,       // PUBLISH, qos 0
			7,          // remaining length
			0x00, 0x03, // topic length
			'a', '/', 'b', // topic "a/b"
			'h', 'i', // payload "hi"
		},
		pkt: &Publish{Topic: "a/b", Payload: []byte("hi")},
	},
	{
		name: "publish qos 1 retain",
		raw: []byte{
			0x33,       // PUBLISH, qos 1, retain
			6,          // remaining length
			0x00, 0x01, // topic length
			't',        // topic "t"
			0x00, 0x07, // packet id 7
			'x', // payload "x"
		},
		pkt: &Publish{QoS: 1, Retain: true, Topic: "t", PacketID: 7, Payload: []byte("x")},
	},
	{
		name: "publish qos 2 dup empty payload",
		raw: []byte{
			0x3c,       // PUBLISH, dup, qos 2
			5,          // remaining length
			0x00, 0x01, // topic length
			't',        // topic "t"
			0xff, 0xff, // packet id 65535
		},
		pkt: &Publish{Dup: true, QoS: 2, Topic: "t", PacketID: 65535, Payload: []byte{}},
	},
	{
		name: "puback",
		raw:  []byte{0x40 /* PUBACK */, 2 /* length */, 0x01, 0x02 /* packet id 258 */},
		pkt:  &Puback{PacketID: 258},
	},
	{
		name: "pubrec",
		raw:  []byte{0x50 /* PUBREC */, 2 /* length */, 0x00, 0x01 /* packet id 1 */},
		pkt:  &Pubrec{PacketID: 1},
	},
	{
		name: "pubrel",
		raw:  []byte{0x62 /* PUBREL, flags 0010 */, 2 /* length */, 0x00, 0x01 /* packet id 1 */},
		pkt:  &Pubrel{PacketID: 1},
	},
	{
		name: "pubcomp",
		raw:  []byte{0x70 /* PUBCOMP */, 2 /* length */, 0x00, 0x01 /* packet id 1 */},
		pkt:  &Pubcomp{PacketID: 1},
	},
	{
		name: "subscribe two filters",
		raw: []byte{
			0x82,       // SUBSCRIBE, flags 0010
			12,         // remaining length
			0x00, 0x0a, // packet id 10
			0x00, 0x03, // filter length
			'a', '/', '+', // filter "a/+"
			0x01,       // requested qos 1
			0x00, 0x01, // filter length
			'#',  // filter "#"
			0x02, // requested qos 2
		},
		pkt: &Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/+", QoS: 1}, {Filter: "#", QoS: 2}}},
	},
	{
		name: "suback",
		raw: []byte{
			0x90,       // SUBACK
			4,          // remaining length
			0x00, 0x0a, // packet id 10
			0x01, // granted qos 1
			0x80, // failure
		},
		pkt: &Suback{PacketID: 10, ReturnCodes: []byte{1, 0x80}},
	},
	{
		name: "unsubscribe",
		raw: []byte{
			0xa2,       // UNSUBSCRIBE, flags 0010
			7,          // remaining length
			0x00, 0x0b, // packet id 11
			0x00, 0x03, // filter length
			'a', '/', '#', // filter "a/#"
		},
		pkt: &Unsubscribe{PacketID: 11, Filters: []string{"a/#"}},
	},
	{
		name: "unsuback",
		raw:  []byte{0xb0 /* UNSUBACK */, 2 /* length */, 0x00, 0x0b /* packet id 11 */},
		pkt:  &Unsuback{PacketID: 11},
	},
	{
		name: "pingreq",
		raw:  []byte{0xc0 /* PINGREQ */, 0 /* length */},
		pkt:  &Pingreq{},
	},
	{
		name: "pingresp",
		raw:  []byte{0xd0 /* PINGRESP */, 0 /* length */},
		pkt:  &Pingresp{},
	},
	{
		name: "disconnect",
		raw:  []byte{0xe0 /* DISCONNECT */, 0 /* length */},
		pkt:  &Disconnect{},
	},
}

// bad is the table of malformed or forbidden packets: decoding each must
// fail with the given error.
var bad = []struct {
	name string
	raw  []byte
	want error
}{
	{"reserved type 0", []byte{0x00, 0}, ErrMalformed},
	{"reserved type 15", []byte{0xf0, 0}, ErrMalformed},
	// [MQTT-2.2.2-2] wrong reserved flags
	{"pubrel flags 0000", []byte{0x60, 2, 0, 1}, ErrMalformed},
	{"subscribe flags 0000", []byte{0x80, 6, 0, 1, 0, 1, 'a', 0}, ErrMalformed},
	{"pingreq flags 0001", []byte{0xc1, 0}, ErrMalformed},
	// [MQTT-3.3.1-4] qos 3
	{"publish qos 3", []byte{0x36, 5, 0, 1, 't', 0, 1}, ErrMalformed},
	// [MQTT-3.3.1-2] dup on qos 0
	{"publish dup qos 0", []byte{0x38, 3, 0, 1, 't'}, ErrMalformed},
	// [MQTT-3.3.2-2] wildcard in topic name
	{"publish wildcard", []byte{0x30, 3, 0, 1, '#'}, ErrMalformed},
	// [MQTT-4.7.3-1] empty topic name
	{"publish empty topic", []byte{0x30, 2, 0, 0}, ErrMalformed},
	// [MQTT-2.3.1-1] packet id 0
	{"publish qos 1 id 0", []byte{0x32, 5, 0, 1, 't', 0, 0}, ErrMalformed},
	// [MQTT-1.5.3-2] U+0000
	{"topic with nul", []byte{0x30, 4, 0, 2, 'a', 0}, ErrMalformed},
	// [MQTT-1.5.3-1] a UTF-16 surrogate encoded in UTF-8
	{"topic with surrogate", []byte{0x30, 5, 0, 3, 0xed, 0xa0, 0x80}, ErrMalformed},
	{"topic invalid utf-8", []byte{0x30, 3, 0, 1, 0xff}, ErrMalformed},
	{"string past end", []byte{0x30, 3, 0, 5, 'a'}, ErrMalformed},
	// [MQTT-3.8.3-3] subscribe without filters
	{"subscribe empty", []byte{0x82, 2, 0, 1}, ErrProtocol},
	// [MQTT-3.8.3-4] reserved bits of requested qos
	{"subscribe qos bits", []byte{0x82, 6, 0, 1, 0, 1, 'a', 0x04}, ErrMalformed},
	{"subscribe qos 3", []byte{0x82, 6, 0, 1, 0, 1, 'a', 0x03}, ErrMalformed},
	// [MQTT-3.10.3-2] unsubscribe without filters
	{"unsubscribe empty", []byte{0xa2, 2, 0, 1}, ErrProtocol},
	{"puback trailing", []byte{0x40, 3, 0, 1, 0}, ErrMalformed},
	{"puback short", []byte{0x40, 1, 0}, ErrMalformed},
	{"pingreq with body", []byte{0xc0, 1, 0}, ErrMalformed},
	// [MQTT-3.1.2-1] unknown protocol name
	{"connect bad name", []byte{0x10, 8, 0, 2, 'X', 'X', 4, 2, 0, 0}, ErrProtocol},
	// [MQTT-3.1.2-2] unsupported level
	{"connect level 9", []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 0, 0, 0}, ErrUnsupportedVersion},
	// [MQTT-3.1.2-3] reserved connect flag
	{"connect reserved flag", []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 3, 0, 0, 0, 0}, ErrMalformed},
	// [MQTT-3.1.2-13] will qos without will flag
	{"connect will qos no flag", []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x0a, 0, 0, 0, 0}, ErrMalformed},
	// [MQTT-3.1.2-22] password without user name
	{"connect password only", []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x42, 0, 0, 0, 0, 0, 0}, ErrMalformed},
	// [MQTT-3.2.2-1] reserved connack flags
	{"connack flags", []byte{0x20, 2, 0x02, 0}, ErrMalformed},
}
