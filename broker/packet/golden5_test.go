package packet

// golden5 is the table of MQTT 5.0 packets (protocol level 5) that drives
// the encode and decode tests and seeds the fuzz targets, as golden does for
// 3.1.1. Each byte carries a comment. Together the packets carry every
// property of table 2-4 (TestGolden5CoversEveryProperty).
var golden5 = []struct {
	name string
	raw  []byte
	pkt  Packet
}{
	{
		name: "connect minimal",
		raw: []byte{
			0x10,       // CONNECT, flags 0000
			13,         // remaining length
			0x00, 0x04, // protocol name length 4
			'M', 'Q', 'T', 'T', // "MQTT"
			5,          // protocol version 5
			0x02,       // connect flags: clean start
			0x00, 0x3c, // keep alive 60 s
			0x00,       // property length 0
			0x00, 0x00, // client id length 0
		},
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 5, CleanSession: true, KeepAlive: 60},
	},
	{
		name: "connect full",
		raw: []byte{
			0x10,       // CONNECT
			109,        // remaining length
			0x00, 0x04, // protocol name length 4
			'M', 'Q', 'T', 'T', // "MQTT"
			5,          // protocol version 5
			0xee,       // flags: user name, password, will retain, will qos 1, will flag, clean start
			0x00, 0x0a, // keep alive 10 s
			40,                     // property length 40
			0x11, 0, 0, 0x0e, 0x10, // Session Expiry Interval 3600 s
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // Authentication Method "SCRAM"
			0x16, 0x00, 0x02, 0x01, 0x02, // Authentication Data 01 02
			0x17, 0x00, // Request Problem Information 0
			0x19, 0x01, // Request Response Information 1
			0x21, 0x00, 0x14, // Receive Maximum 20
			0x22, 0x00, 0x0a, // Topic Alias Maximum 10
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
			0x27, 0x00, 0x01, 0x00, 0x00, // Maximum Packet Size 65536
			0x00, 0x02, 'c', '1', // client id "c1"
			37,         // will property length 37
			0x01, 0x01, // Payload Format Indicator 1 (UTF-8)
			0x02, 0, 0, 0, 0x78, // Message Expiry Interval 120 s
			0x03, 0x00, 0x04, 't', 'e', 'x', 't', // Content Type "text"
			0x08, 0x00, 0x03, 'r', '/', '1', // Response Topic "r/1"
			0x09, 0x00, 0x02, 0xca, 0xfe, // Correlation Data ca fe
			0x18, 0, 0, 0, 0x1e, // Will Delay Interval 30 s
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // User Property a=b
			0x00, 0x03, 'w', '/', 't', // will topic "w/t"
			0x00, 0x03, 'b', 'y', 'e', // will payload "bye"
			0x00, 0x01, 'u', // user name "u"
			0x00, 0x01, 'p', // password "p"
		},
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 5, CleanSession: true, KeepAlive: 10,
			ClientID: "c1", WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "w/t",
			WillPayload: []byte("bye"), UsernameFlag: true, Username: "u", PasswordFlag: true,
			Password: []byte("p"),
			Properties: &Properties{SessionExpiry: new(uint32(3600)), AuthMethod: "SCRAM",
				AuthData: []byte{1, 2}, RequestProblemInfo: new(false), RequestResponseInfo: new(true),
				ReceiveMaximum: new(uint16(20)), TopicAliasMaximum: new(uint16(10)),
				User: []UserProperty{{"k", "v"}}, MaximumPacketSize: new(uint32(65536))},
			WillProperties: &Properties{PayloadFormat: new(byte(1)), MessageExpiry: new(uint32(120)),
				ContentType: "text", ResponseTopic: "r/1", CorrelationData: []byte{0xca, 0xfe},
				WillDelay: new(uint32(30)), User: []UserProperty{{"a", "b"}}},
		},
	},
	{
		name: "connect password without user name",
		raw: []byte{
			0x10,       // CONNECT
			18,         // remaining length
			0x00, 0x04, // protocol name length 4
			'M', 'Q', 'T', 'T', // "MQTT"
			5,          // protocol version 5
			0x42,       // flags: password (allowed without user name in 5.0), clean start
			0x00, 0x00, // keep alive off
			0x00,            // property length 0
			0x00, 0x01, 'x', // client id "x"
			0x00, 0x02, 'p', 'w', // password "pw"
		},
		pkt: &Connect{ProtocolName: "MQTT", ProtocolLevel: 5, CleanSession: true, ClientID: "x",
			PasswordFlag: true, Password: []byte("pw")},
	},
	{
		name: "connack minimal",
		raw: []byte{
			0x20, // CONNACK
			3,    // remaining length
			0x00, // no session present
			0x00, // reason code Success
			0x00, // property length 0
		},
		pkt: &Connack{},
	},
	{
		name: "connack every property",
		raw: []byte{
			0x20,                // CONNACK
			65,                  // remaining length
			0x01,                // session present
			0x00,                // reason code Success
			62,                  // property length 62
			0x11, 0, 0, 0, 0x3c, // Session Expiry Interval 60 s
			0x12, 0x00, 0x02, 'i', 'd', // Assigned Client Identifier "id"
			0x13, 0x00, 0x1e, // Server Keep Alive 30 s
			0x15, 0x00, 0x01, 'M', // Authentication Method "M"
			0x16, 0x00, 0x01, 0x07, // Authentication Data 07
			0x1a, 0x00, 0x01, 'r', // Response Information "r"
			0x1c, 0x00, 0x01, 's', // Server Reference "s"
			0x1f, 0x00, 0x02, 'o', 'k', // Reason String "ok"
			0x21, 0x00, 0x64, // Receive Maximum 100
			0x22, 0x00, 0x0a, // Topic Alias Maximum 10
			0x24, 0x01, // Maximum QoS 1
			0x25, 0x00, // Retain Available 0
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
			0x27, 0x00, 0x10, 0x00, 0x00, // Maximum Packet Size 1048576
			0x28, 0x01, // Wildcard Subscription Available 1
			0x29, 0x01, // Subscription Identifier Available 1
			0x2a, 0x00, // Shared Subscription Available 0
		},
		pkt: &Connack{SessionPresent: true, Properties: &Properties{SessionExpiry: new(uint32(60)),
			AssignedClientID: "id", ServerKeepAlive: new(uint16(30)), AuthMethod: "M",
			AuthData: []byte{7}, ResponseInfo: "r", ServerReference: "s", ReasonString: "ok",
			ReceiveMaximum: new(uint16(100)), TopicAliasMaximum: new(uint16(10)),
			MaximumQoS: new(byte(1)), RetainAvailable: new(false), User: []UserProperty{{"k", "v"}},
			MaximumPacketSize: new(uint32(1048576)), WildcardSubAvailable: new(true),
			SubIDAvailable: new(true), SharedSubAvailable: new(false)}},
	},
	{
		name: "connack refused",
		raw: []byte{
			0x20, // CONNACK
			3,    // remaining length
			0x00, // no session present [MQTT-3.2.2-6]
			0x86, // reason code Bad User Name or Password
			0x00, // property length 0
		},
		pkt: &Connack{ReasonCode: ErrBadUsernameOrPassword},
	},
	{
		name: "publish qos 0 no properties",
		raw: []byte{
			0x30,       // PUBLISH, qos 0
			8,          // remaining length
			0x00, 0x03, // topic length 3
			'a', '/', 'b', // topic "a/b"
			0x00,     // property length 0
			'h', 'i', // payload "hi"
		},
		pkt: &Publish{Topic: "a/b", Payload: []byte("hi")},
	},
	{
		name: "publish qos 1 every property",
		raw: []byte{
			0x32,       // PUBLISH, qos 1
			53,         // remaining length
			0x00, 0x01, // topic length 1
			't',        // topic "t"
			0x00, 0x07, // packet id 7
			45,         // property length 45
			0x01, 0x01, // Payload Format Indicator 1
			0x02, 0, 0, 0, 0x3c, // Message Expiry Interval 60 s
			0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // Content Type "json"
			0x08, 0x00, 0x02, 'r', 'e', // Response Topic "re"
			0x09, 0x00, 0x01, 0x01, // Correlation Data 01
			0x0b, 0x01, // Subscription Identifier 1
			0x0b, 0xc8, 0x01, // Subscription Identifier 200 (two-byte variable integer)
			0x23, 0x00, 0x05, // Topic Alias 5
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', // User Property a=1
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2', // User Property a=2 (same name, order kept)
			'{', '}', // payload "{}"
		},
		pkt: &Publish{QoS: 1, Topic: "t", PacketID: 7, Payload: []byte("{}"),
			Properties: &Properties{PayloadFormat: new(byte(1)), MessageExpiry: new(uint32(60)),
				ContentType: "json", ResponseTopic: "re", CorrelationData: []byte{1},
				SubscriptionIDs: []uint32{1, 200}, TopicAlias: new(uint16(5)),
				User: []UserProperty{{"a", "1"}, {"a", "2"}}}},
	},
	{
		name: "publish topic alias instead of topic",
		raw: []byte{
			0x30,       // PUBLISH, qos 0
			7,          // remaining length
			0x00, 0x00, // topic length 0: the alias names it
			3,                // property length 3
			0x23, 0x00, 0x05, // Topic Alias 5
			'x', // payload "x"
		},
		pkt: &Publish{Payload: []byte("x"), Properties: &Properties{TopicAlias: new(uint16(5))}},
	},
	{
		name: "puback short",
		raw:  []byte{0x40 /* PUBACK */, 2 /* length: reason Success, no properties */, 0x00, 0x01 /* packet id 1 */},
		pkt:  &Puback{PacketID: 1},
	},
	{
		name: "puback reason only",
		raw: []byte{
			0x40,       // PUBACK
			3,          // remaining length: no property length
			0x00, 0x02, // packet id 2
			0x10, // reason code No matching subscribers
		},
		pkt: &Puback{PacketID: 2, ReasonCode: CodeNoMatchingSubscribers},
	},
	{
		name: "puback reason and properties",
		raw: []byte{
			0x40,       // PUBACK
			18,         // remaining length
			0x00, 0x03, // packet id 3
			0x87,                                 // reason code Not authorized
			14,                                   // property length 14
			0x1f, 0x00, 0x04, 'd', 'e', 'n', 'y', // Reason String "deny"
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
		},
		pkt: &Puback{PacketID: 3, ReasonCode: ErrNotAuthorized,
			Properties: &Properties{ReasonString: "deny", User: []UserProperty{{"k", "v"}}}},
	},
	{
		name: "pubrec quota exceeded",
		raw:  []byte{0x50 /* PUBREC */, 3 /* length */, 0x00, 0x04 /* packet id 4 */, 0x97 /* Quota exceeded */},
		pkt:  &Pubrec{PacketID: 4, ReasonCode: ErrQuotaExceeded},
	},
	{
		name: "pubrel packet id not found",
		raw:  []byte{0x62 /* PUBREL, flags 0010 */, 3 /* length */, 0x00, 0x05 /* packet id 5 */, 0x92 /* Packet Identifier not found */},
		pkt:  &Pubrel{PacketID: 5, ReasonCode: ErrPacketIDNotFound},
	},
	{
		name: "pubcomp reason string",
		raw: []byte{
			0x70,       // PUBCOMP
			8,          // remaining length
			0x00, 0x06, // packet id 6
			0x00,                  // reason code Success
			4,                     // property length 4
			0x1f, 0x00, 0x01, 'x', // Reason String "x"
		},
		pkt: &Pubcomp{PacketID: 6, Properties: &Properties{ReasonString: "x"}},
	},
	{
		name: "subscribe options and subscription identifier",
		raw: []byte{
			0x82,       // SUBSCRIBE, flags 0010
			35,         // remaining length
			0x00, 0x0a, // packet id 10
			9,          // property length 9
			0x0b, 0x0c, // Subscription Identifier 12
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
			0x00, 0x03, 'a', '/', '+', // filter "a/+"
			0x2d,                                                         // options: retain handling 2, retain as published, no local, qos 1
			0x00, 0x0a, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'b', // filter "$share/g/b"
			0x12,            // options: retain handling 1, qos 2
			0x00, 0x01, '#', // filter "#"
			0x00, // options: qos 0
		},
		pkt: &Subscribe{PacketID: 10, Properties: &Properties{SubscriptionIDs: []uint32{12},
			User: []UserProperty{{"k", "v"}}}, Subscriptions: []Subscription{
			{Filter: "a/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
			{Filter: "$share/g/b", QoS: 2, RetainHandling: 1},
			{Filter: "#"},
		}},
	},
	{
		name: "suback reason codes",
		raw: []byte{
			0x90,       // SUBACK
			14,         // remaining length
			0x00, 0x0a, // packet id 10
			5,                          // property length 5
			0x1f, 0x00, 0x02, 'n', 'o', // Reason String "no"
			0x01, // Granted QoS 1
			0x02, // Granted QoS 2
			0x00, // Granted QoS 0
			0x87, // Not authorized
			0x9e, // Shared Subscriptions not supported
			0xa2, // Wildcard Subscriptions not supported
		},
		pkt: &Suback{PacketID: 10, Properties: &Properties{ReasonString: "no"},
			ReturnCodes: []byte{1, 2, 0, 0x87, 0x9e, 0xa2}},
	},
	{
		name: "unsubscribe",
		raw: []byte{
			0xa2,       // UNSUBSCRIBE, flags 0010
			27,         // remaining length
			0x00, 0x0b, // packet id 11
			7,                                      // property length 7
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
			0x00, 0x03, 'a', '/', '#', // filter "a/#"
			0x00, 0x0a, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'b', // filter "$share/g/b"
		},
		pkt: &Unsubscribe{PacketID: 11, Filters: []string{"a/#", "$share/g/b"},
			Properties: &Properties{User: []UserProperty{{"k", "v"}}}},
	},
	{
		name: "unsuback reason codes",
		raw: []byte{
			0xb0,       // UNSUBACK
			6,          // remaining length
			0x00, 0x0b, // packet id 11
			0x00, // property length 0
			0x00, // Success
			0x11, // No subscription existed
			0x87, // Not authorized
		},
		pkt: &Unsuback{PacketID: 11, ReasonCodes: []Code{CodeSuccess, CodeNoSubscriptionExisted, ErrNotAuthorized}},
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
		name: "disconnect normal",
		raw:  []byte{0xe0 /* DISCONNECT */, 0 /* length: Normal disconnection, no properties */},
		pkt:  &Disconnect{},
	},
	{
		name: "disconnect with will message",
		raw:  []byte{0xe0 /* DISCONNECT */, 1 /* length: no property length */, 0x04 /* Disconnect with Will Message */},
		pkt:  &Disconnect{ReasonCode: CodeDisconnectWithWill},
	},
	{
		name: "disconnect use another server",
		raw: []byte{
			0xe0,             // DISCONNECT
			29,               // remaining length
			0x9c,             // reason code Use another server
			27,               // property length 27
			0x11, 0, 0, 0, 0, // Session Expiry Interval 0
			0x1c, 0x00, 0x06, 'b', ':', '1', '8', '8', '3', // Server Reference "b:1883"
			0x1f, 0x00, 0x03, 'b', 'y', 'e', // Reason String "bye"
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
		},
		pkt: &Disconnect{ReasonCode: ErrUseAnotherServer, Properties: &Properties{
			SessionExpiry: new(uint32(0)), ServerReference: "b:1883", ReasonString: "bye",
			User: []UserProperty{{"k", "v"}}}},
	},
	{
		name: "auth short",
		raw:  []byte{0xf0 /* AUTH */, 0 /* length: Success, no properties */},
		pkt:  &Auth{},
	},
	{
		name: "auth continue",
		raw: []byte{
			0xf0,                                      // AUTH, flags 0000
			26,                                        // remaining length
			0x18,                                      // reason code Continue authentication
			24,                                        // property length 24
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // Authentication Method "SCRAM"
			0x16, 0x00, 0x02, 0x01, 0x02, // Authentication Data 01 02
			0x1f, 0x00, 0x01, 'c', // Reason String "c"
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
		},
		pkt: &Auth{ReasonCode: CodeContinueAuthentication, Properties: &Properties{AuthMethod: "SCRAM",
			AuthData: []byte{1, 2}, ReasonString: "c", User: []UserProperty{{"k", "v"}}}},
	},
}

// decodeOnly5 holds MQTT 5.0 packets in forms that decode but that the
// encoder does not produce (it always picks the shortest form and orders
// properties by identifier).
var decodeOnly5 = []struct {
	name string
	raw  []byte
	pkt  Packet
}{
	{
		name: "puback success with property length 0",
		raw:  []byte{0x40 /* PUBACK */, 4 /* length */, 0x00, 0x01 /* packet id 1 */, 0x00 /* Success */, 0x00 /* property length 0 */},
		pkt:  &Puback{PacketID: 1},
	},
	{
		name: "pubrel success without properties",
		raw:  []byte{0x62 /* PUBREL */, 3 /* length */, 0x00, 0x01 /* packet id 1 */, 0x00 /* Success */},
		pkt:  &Pubrel{PacketID: 1},
	},
	{
		name: "disconnect normal with property length 0",
		raw:  []byte{0xe0 /* DISCONNECT */, 2 /* length */, 0x00 /* Normal disconnection */, 0x00 /* property length 0 */},
		pkt:  &Disconnect{},
	},
	{
		name: "publish properties out of order",
		raw: []byte{
			0x30,       // PUBLISH, qos 0
			16,         // remaining length
			0x00, 0x01, // topic length 1
			't',                                    // topic "t"
			12,                                     // property length 12
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // User Property k=v
			0x02, 0, 0, 0, 0x0a, // Message Expiry Interval 10 s
		},
		pkt: &Publish{Topic: "t", Payload: []byte{},
			Properties: &Properties{MessageExpiry: new(uint32(10)), User: []UserProperty{{"k", "v"}}}},
	},
	{
		name: "publish empty content type",
		raw: []byte{
			0x30,       // PUBLISH, qos 0
			7,          // remaining length
			0x00, 0x01, // topic length 1
			't',              // topic "t"
			3,                // property length 3
			0x03, 0x00, 0x00, // Content Type "": the same as none
		},
		pkt: &Publish{Topic: "t", Payload: []byte{}},
	},
}

// bad5 is the table of malformed or forbidden MQTT 5.0 packets: decoding
// each at protocol level 5 must fail with the given reason code.
var bad5 = []struct {
	name string
	raw  []byte
	want Code
}{
	{"reserved type 0", []byte{0x00, 0}, ErrMalformed},
	// [MQTT-3.15.1-1] [MQTT-3.14.1-1] reserved flags
	{"auth flags 0001", []byte{0xf1, 0}, ErrMalformed},
	{"disconnect flags 0010", []byte{0xe2, 0}, ErrMalformed},
	// [MQTT-3.2.2-1] reserved connect acknowledge flags
	{"connack flags", []byte{0x20, 3, 0x02, 0x00, 0x00}, ErrMalformed},
	// [MQTT-3.2.2-6] session present with an error
	{"connack present with error", []byte{0x20, 3, 0x01, 0x80, 0x00}, ErrProtocol},
	// [MQTT-3.2.2-8] a reason code CONNACK does not have
	{"connack reason 0x10", []byte{0x20, 3, 0x00, 0x10, 0x00}, ErrProtocol},
	// [MQTT-2.2.2-1] the property length must be there
	{"connack without property length", []byte{0x20, 2, 0x00, 0x00}, ErrMalformed},
	// Section 2.2.2.2: a property not allowed in the packet
	{"publish with session expiry", []byte{0x30, 9, 0, 1, 't', 5, 0x11, 0, 0, 0, 1}, ErrMalformed},
	{"publish with unknown property", []byte{0x30, 6, 0, 1, 't', 2, 0x7f, 0}, ErrMalformed},
	{"connect with will delay", []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 5, 0x18, 0, 0, 0, 1, 0, 0}, ErrMalformed},
	{"will with topic alias", []byte{0x10, 22, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0, 0, 0, 3, 0x23, 0, 1, 0, 1, 'w', 0, 0}, ErrMalformed},
	{"will with subscription identifier", []byte{0x10, 21, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0, 0, 0, 2, 0x0b, 1, 0, 1, 'w', 0, 0}, ErrMalformed},
	{"puback with content type", []byte{0x40, 8, 0, 1, 0x00, 4, 0x03, 0, 1, 'x'}, ErrMalformed},
	{"subscribe with topic alias", []byte{0x82, 10, 0, 1, 3, 0x23, 0, 1, 0, 1, 'a', 0}, ErrMalformed},
	// "It is a Protocol Error to include ... more than once"
	{"publish message expiry twice", []byte{0x30, 14, 0, 1, 't', 10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2}, ErrProtocol},
	{"subscribe subscription identifier twice", []byte{0x82, 11, 0, 1, 4, 0x0b, 1, 0x0b, 2, 0, 1, 'a', 0}, ErrProtocol},
	{"connack reason string twice", []byte{0x20, 11, 0, 0, 8, 0x1f, 0, 1, 'a', 0x1f, 0, 1, 'b'}, ErrProtocol},
	// Values out of range
	{"subscription identifier 0", []byte{0x82, 9, 0, 1, 2, 0x0b, 0, 0, 1, 'a', 0}, ErrProtocol},
	{"topic alias 0", []byte{0x30, 7, 0, 1, 't', 3, 0x23, 0, 0}, ErrTopicAliasInvalid}, // [MQTT-3.3.2-8]
	{"payload format 2", []byte{0x30, 6, 0, 1, 't', 2, 0x01, 2}, ErrProtocol},
	{"receive maximum 0", []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 3, 0x21, 0, 0, 0, 0}, ErrProtocol},
	{"maximum packet size 0", []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 5, 0x27, 0, 0, 0, 0, 0, 0}, ErrProtocol},
	{"request problem information 2", []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 2, 0x17, 2, 0, 0}, ErrProtocol},
	{"maximum qos 2", []byte{0x20, 5, 0, 0, 2, 0x24, 2}, ErrProtocol},
	{"retain available 2", []byte{0x20, 5, 0, 0, 2, 0x25, 2}, ErrProtocol},
	{"response topic with wildcard", []byte{0x30, 8, 0, 1, 't', 4, 0x08, 0, 1, '#'}, ErrProtocol}, // [MQTT-3.3.2-14]
	{"empty response topic", []byte{0x30, 7, 0, 1, 't', 3, 0x08, 0, 0}, ErrProtocol},
	{"authentication data without method", []byte{0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 4, 0x16, 0, 1, 9, 0, 0}, ErrProtocol},
	// Section 3.3.2.1: an empty topic needs a Topic Alias
	{"publish empty topic without alias", []byte{0x30, 3, 0, 0, 0}, ErrProtocol},
	// [MQTT-3.3.2-2] wildcard in topic name
	{"publish wildcard", []byte{0x30, 4, 0, 1, '+', 0}, ErrMalformed},
	{"publish qos 1 id 0", []byte{0x32, 6, 0, 1, 't', 0, 0, 0}, ErrMalformed},
	// Broken property encodings
	{"property length past end", []byte{0x30, 5, 0, 1, 't', 9, 0x01}, ErrMalformed},
	{"property length not minimal", []byte{0x30, 5, 0, 1, 't', 0x80, 0x00}, ErrMalformed}, // [MQTT-1.5.5-1]
	{"property length 5 bytes", []byte{0x30, 8, 0, 1, 't', 0x80, 0x80, 0x80, 0x80, 0x01}, ErrMalformed},
	{"truncated four byte integer", []byte{0x30, 7, 0, 1, 't', 3, 0x02, 0, 0}, ErrMalformed},
	{"truncated string", []byte{0x30, 8, 0, 1, 't', 4, 0x03, 0, 5, 'x'}, ErrMalformed},
	{"subscription identifier not minimal", []byte{0x82, 10, 0, 1, 3, 0x0b, 0x81, 0x00, 0, 1, 'a', 0}, ErrMalformed},
	{"user property invalid utf-8", []byte{0x30, 11, 0, 1, 't', 7, 0x26, 0, 1, 0xff, 0, 1, 'v'}, ErrMalformed}, // [MQTT-1.5.7-1]
	{"user property with nul", []byte{0x30, 11, 0, 1, 't', 7, 0x26, 0, 1, 'k', 0, 1, 0x00}, ErrMalformed},      // [MQTT-1.5.4-2]
	{"property identifier not minimal", []byte{0x30, 7, 0, 1, 't', 3, 0x81, 0x00, 0x01}, ErrMalformed},         // [MQTT-1.5.5-1]
	{"auth trailing byte", []byte{0xf0, 3, 0x18, 0, 0}, ErrMalformed},
	// Section 3.8.3.1, the subscription options
	{"subscribe reserved option bits", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x40}, ErrMalformed}, // [MQTT-3.8.3-5]
	{"subscribe qos 3", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x03}, ErrProtocol},
	{"subscribe retain handling 3", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x30}, ErrProtocol},
	{"subscribe no local shared", []byte{0x82, 15, 0, 1, 0, 0, 9, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 0x04}, ErrProtocol}, // [MQTT-3.8.3-4]
	{"subscribe no filter", []byte{0x82, 3, 0, 1, 0}, ErrProtocol},                                                                 // [MQTT-3.8.3-2]
	{"subscribe no properties", []byte{0x82, 6, 0, 1, 0, 1, 'a', 0}, ErrMalformed},
	{"unsubscribe no filter", []byte{0xa2, 3, 0, 1, 0}, ErrProtocol}, // [MQTT-3.10.3-2]
	// Reason codes a packet does not have
	{"puback reason 0x01", []byte{0x40, 3, 0, 1, 0x01}, ErrProtocol},      // [MQTT-3.4.2-1]
	{"pubrec reason 0x92", []byte{0x50, 3, 0, 1, 0x92}, ErrProtocol},      // [MQTT-3.5.2-1]
	{"pubrel reason 0x10", []byte{0x62, 3, 0, 1, 0x10}, ErrProtocol},      // [MQTT-3.6.2-1]
	{"pubcomp reason 0x80", []byte{0x70, 3, 0, 1, 0x80}, ErrProtocol},     // [MQTT-3.7.2-1]
	{"suback reason 0x03", []byte{0x90, 4, 0, 1, 0, 0x03}, ErrProtocol},   // [MQTT-3.9.3-2]
	{"unsuback reason 0x10", []byte{0xb0, 4, 0, 1, 0, 0x10}, ErrProtocol}, // [MQTT-3.11.3-2]
	{"disconnect reason 0x05", []byte{0xe0, 1, 0x05}, ErrProtocol},        // [MQTT-3.14.2-1]
	{"auth reason 0x01", []byte{0xf0, 1, 0x01}, ErrProtocol},              // [MQTT-3.15.2-1]
	// CONNECT at level 5
	{"connect reserved flag", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x03, 0, 0, 0, 0, 0}, ErrMalformed},                  // [MQTT-3.1.2-3]
	{"connect will qos 3", []byte{0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x1e, 0, 0, 0, 0, 0, 0, 0, 1, 'w', 0, 0}, ErrMalformed}, // section 3.1.2.6
	{"connect will retain no flag", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x22, 0, 0, 0, 0, 0}, ErrMalformed},            // [MQTT-3.1.2-13]
	{"connect will qos no flag", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x0a, 0, 0, 0, 0, 0}, ErrMalformed},               // [MQTT-3.1.2-11]
	{"connect will topic wildcard", []byte{0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0, 0, 0, 0, 0, 1, '#', 0, 0}, ErrMalformed},
	{"connect no will properties", []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0, 0, 0, 0, 1, 'w', 0, 0}, ErrMalformed},
	{"connect level 6", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 0, 0, 0, 0}, ErrUnsupportedVersion},
}
