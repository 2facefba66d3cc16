package packet

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unsafe"
)

// goldenForward is the table of MQTT 5.0 PUBLISH packets as DecodeForward
// decodes them: the message properties kept encoded in MessageProps. enc
// is what the decoded packet encodes to when that is not raw (Properties
// are written before MessageProps). Each byte carries a comment.
var goldenForward = []struct {
	name string
	raw  []byte
	pkt  *Publish
	enc  []byte
}{
	{
		name: "forward expiry then message properties",
		raw: []byte{
			0x32,       // PUBLISH, qos 1
			34,         // remaining length
			0x00, 0x01, // topic length 1
			't',        // topic "t"
			0x00, 0x07, // packet id 7
			26,                  // property length 26
			0x02, 0, 0, 0, 0x3c, // Message Expiry Interval 60 s
			0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // Content Type "json"
			0x26, 0x00, 0x01, 'b', 0x00, 0x01, '1', // User Property b=1
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2', // User Property a=2 (order kept)
			'{', '}', // payload "{}"
		},
		pkt: &Publish{QoS: 1, Topic: "t", PacketID: 7, Payload: []byte("{}"),
			Properties: &Properties{MessageExpiry: new(uint32(60))},
			MessageProps: []byte{
				0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // Content Type "json"
				0x26, 0x00, 0x01, 'b', 0x00, 0x01, '1', // User Property b=1
				0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2', // User Property a=2
			}},
	},
	{
		name: "forward message properties only",
		raw: []byte{
			0x30,       // PUBLISH, qos 0
			13,         // remaining length
			0x00, 0x01, // topic length 1
			't',        // topic "t"
			8,          // property length 8
			0x01, 0x00, // Payload Format Indicator 0
			0x26, 0x00, 0x01, 'k', 0x00, 0x00, // User Property k="" (an empty value is a value)
			'x', // payload "x"
		},
		pkt: &Publish{Topic: "t", Payload: []byte("x"),
			MessageProps: []byte{
				0x01, 0x00, // Payload Format Indicator 0
				0x26, 0x00, 0x01, 'k', 0x00, 0x00, // User Property k=""
			}},
	},
	{
		name: "forward empty content type kept as sent",
		raw: []byte{
			0x30,       // PUBLISH, qos 0
			7,          // remaining length
			0x00, 0x01, // topic length 1
			't',              // topic "t"
			3,                // property length 3
			0x03, 0x00, 0x00, // Content Type ""
		},
		pkt: &Publish{Topic: "t", Payload: []byte{}, MessageProps: []byte{0x03, 0x00, 0x00}},
	},
	{
		name: "forward every property, interleaved",
		raw:  golden5[7].raw, // "publish qos 1 every property"
		pkt: &Publish{QoS: 1, Topic: "t", PacketID: 7, Payload: []byte("{}"),
			Properties: &Properties{MessageExpiry: new(uint32(60)), SubscriptionIDs: []uint32{1, 200}, TopicAlias: new(uint16(5))},
			MessageProps: []byte{
				0x01, 0x01, // Payload Format Indicator 1
				0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // Content Type "json"
				0x08, 0x00, 0x02, 'r', 'e', // Response Topic "re"
				0x09, 0x00, 0x01, 0x01, // Correlation Data 01
				0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', // User Property a=1
				0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2', // User Property a=2
			}},
		enc: []byte{
			0x32,       // PUBLISH, qos 1
			53,         // remaining length
			0x00, 0x01, // topic length 1
			't',        // topic "t"
			0x00, 0x07, // packet id 7
			45,                  // property length 45
			0x02, 0, 0, 0, 0x3c, // Message Expiry Interval 60 s
			0x0b, 0x01, // Subscription Identifier 1
			0x0b, 0xc8, 0x01, // Subscription Identifier 200
			0x23, 0x00, 0x05, // Topic Alias 5
			0x01, 0x01, // Payload Format Indicator 1
			0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // Content Type "json"
			0x08, 0x00, 0x02, 'r', 'e', // Response Topic "re"
			0x09, 0x00, 0x01, 0x01, // Correlation Data 01
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', // User Property a=1
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2', // User Property a=2
			'{', '}', // payload "{}"
		},
	},
}

// dumpP is dumpProps, also for nil.
func dumpP(p *Properties) string {
	if p == nil {
		return "nil"
	}
	return dumpProps(p)
}

// readForward reads one frame from raw and decodes it with DecodeForward
// at protocol level 5.
func readForward(raw []byte) (Packet, error) {
	first, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 0)
	if err != nil {
		return nil, err
	}
	return DecodeForward(Version5, first, body)
}

func TestForwardGolden(t *testing.T) {
	if golden5[7].name != "publish qos 1 every property" {
		t.Fatalf("golden5[7] is %q", golden5[7].name)
	}
	for _, tc := range goldenForward {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readForward(tc.raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, Packet(tc.pkt)) {
				t.Errorf("decode:\n got %s %x\nwant %s %x", dump(got), got.(*Publish).MessageProps, dump(tc.pkt), tc.pkt.MessageProps)
			}
			want := tc.enc
			if want == nil {
				want = tc.raw
			}
			if enc := tc.pkt.AppendVersion(nil, Version5); !bytes.Equal(enc, want) {
				t.Errorf("encode:\n got %x\nwant %x", enc, want)
			}
			if n := tc.pkt.SizeVersion(Version5); n != len(want) {
				t.Errorf("SizeVersion(5) = %d, want %d", n, len(want))
			}
			// The same message as DecodeVersion sees it.
			plain, err := read5(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			again, err := read5(want)
			if err != nil || !reflect.DeepEqual(again, plain) {
				t.Errorf("DecodeVersion of the encoding: %s, %v\nwant %s", dump(again), err, dump(plain))
			}
			// 3.1.1 leaves the properties out.
			if enc := tc.pkt.AppendVersion(nil, Version311); bytes.Contains(enc, tc.pkt.MessageProps) && len(tc.pkt.MessageProps) > 0 {
				t.Errorf("3.1.1 encoding %x carries the message properties", enc)
			}
		})
	}
	// Every other packet decodes as with DecodeVersion.
	for _, tc := range append(golden5[:len(golden5):len(golden5)], decodeOnly5...) {
		if _, ok := tc.pkt.(*Publish); ok {
			continue
		}
		got, err := readForward(tc.raw)
		if err != nil || !reflect.DeepEqual(got, tc.pkt) {
			t.Errorf("%s: DecodeForward = %s, %v; want %s", tc.name, dump(got), err, dump(tc.pkt))
		}
	}
	for _, tc := range bad5 {
		if _, err := readForward(tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: DecodeForward error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestForwardAliasesBody: message properties that come one after the other
// are a slice of the body, not a copy; interleaved ones are copied.
func TestForwardAliasesBody(t *testing.T) {
	body := goldenForward[0].raw[2:]
	p, err := DecodeForward(Version5, goldenForward[0].raw[0], body)
	if err != nil {
		t.Fatal(err)
	}
	mp := p.(*Publish).MessageProps
	if i := bytes.Index(body, mp); i < 0 || &body[i] != &mp[0] {
		t.Errorf("MessageProps is a copy, want a slice of the body")
	}
	if cap(mp) != len(mp) {
		t.Errorf("cap(MessageProps) = %d, len %d: an append would write into the body", cap(mp), len(mp))
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeForward(Version5, goldenForward[0].raw[0], body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 { // the PUBLISH with its properties, and the topic
		t.Errorf("%v allocations per decode, want at most 2", allocs)
	}
}

// TestDecoder: a Decoder decodes each packet as DecodeForward (and, at
// 3.1.1, Decode) does, also after other packets, reuses the previous topic
// name, and decodes a PUBLISH to a topic it saw last without allocating.
func TestDecoder(t *testing.T) {
	var dc Decoder
	check := func(version byte, raw []byte) Packet {
		t.Helper()
		first, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 0)
		if err != nil {
			t.Fatal(err)
		}
		want, werr := DecodeForward(version, first, bytes.Clone(body))
		got, err := dc.Decode(version, first, body)
		if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("Decoder.Decode(%d, %x) = %s, %v; want %s, %v", version, raw, dump(got), err, dump(want), werr)
		}
		return got
	}
	for range 2 {
		for _, tc := range goldenForward {
			check(Version5, tc.raw)
		}
		for _, tc := range golden5 {
			check(Version5, tc.raw)
		}
		for _, tc := range bad5 {
			check(Version5, tc.raw)
		}
		for _, tc := range golden {
			check(Version311, tc.raw)
		}
	}
	a := check(Version5, goldenForward[0].raw).(*Publish).Topic
	b := check(Version5, goldenForward[1].raw).(*Publish).Topic
	if a != "t" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("topic %q then %q: not reused", a, b)
	}
	body := goldenForward[0].raw[2:]
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := dc.Decode(Version5, goldenForward[0].raw[0], body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per PUBLISH, want 0", allocs)
	}
	for _, tc := range golden {
		if tc.name != "publish qos 0" {
			continue
		}
		check(Version311, tc.raw)
		body := tc.raw[2:]
		if n := testing.AllocsPerRun(100, func() { dc.Decode(Version311, tc.raw[0], body) }); n != 0 {
			t.Errorf("%v allocations per 3.1.1 PUBLISH, want 0", n)
		}
	}
}

func TestForwardPayloadFormat(t *testing.T) {
	cases := []struct {
		msg     []byte
		payload string
		want    error
	}{
		{nil, "\xff", nil},
		{[]byte{0x01, 0x00}, "\xff", nil},
		{[]byte{0x01, 0x01}, "grüß", nil},
		{[]byte{0x01, 0x01}, "\xff", ErrPayloadFormatInvalid},
		{[]byte{0x26, 0, 1, 'k', 0, 1, 'v', 0x03, 0, 0, 0x01, 0x01}, "a\x00", ErrPayloadFormatInvalid}, // after others [MQTT-1.5.4-2]
		{[]byte{0x26, 0, 1, 'k'}, "\xff", nil},                                                         // cut short: none found
	}
	for _, tc := range cases {
		p := &Publish{Topic: "t", Payload: []byte(tc.payload), MessageProps: tc.msg}
		if err := p.CheckPayloadFormat(); !errors.Is(err, tc.want) || tc.want == nil && err != nil {
			t.Errorf("CheckPayloadFormat(%x, %q) = %v, want %v", tc.msg, tc.payload, err, tc.want)
		}
	}
}

// TestMessagePropertiesStored: the message properties a server stores
// (AppendMessageProperties) and reads back (DecodeMessageProperties) are
// those DecodeProperties reads from the same bytes, and a will's message
// properties (AppendMessage) are those of Properties.Message but the
// Message Expiry Interval.
func TestMessagePropertiesStored(t *testing.T) {
	fwd := goldenForward[3].pkt
	b := append(AppendMessageProperties(nil, fwd.MessageProps), 0xaa)
	msg, n, err := DecodeMessageProperties(b)
	if err != nil || n != len(b)-1 || !bytes.Equal(msg, fwd.MessageProps) {
		t.Errorf("DecodeMessageProperties = %x, %d, %v; want %x, %d", msg, n, err, fwd.MessageProps, len(b)-1)
	}
	p, _, err := DecodeProperties(PUBLISH, b)
	want := golden5[7].pkt.(*Publish).Properties.Message()
	want.MessageExpiry = nil
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Errorf("DecodeProperties = %s, %v; want %s", dumpP(p), err, dumpP(want))
	}
	// A full property block: the others are left out.
	all := golden5[7].pkt.(*Publish).Properties
	if msg, _, err := DecodeMessageProperties(all.Append(nil)); err != nil || !bytes.Equal(msg, all.AppendMessage(nil)) {
		t.Errorf("DecodeMessageProperties(all) = %x, %v; want %x", msg, err, all.AppendMessage(nil))
	}
	if msg, n, err := DecodeMessageProperties([]byte{0}); msg != nil || n != 1 || err != nil {
		t.Errorf("DecodeMessageProperties(none) = %x, %d, %v", msg, n, err)
	}
	if _, _, err := DecodeMessageProperties([]byte{3, 0x11, 0, 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Session Expiry in PUBLISH properties: error = %v, want ErrMalformed", err)
	}
	will := golden5[1].pkt.(*Connect).WillProperties
	wm, _, err := DecodeProperties(PUBLISH, AppendMessageProperties(nil, will.AppendMessage(nil)))
	wantWill := will.Message()
	wantWill.MessageExpiry = nil
	if err != nil || !reflect.DeepEqual(wm, wantWill) {
		t.Errorf("will AppendMessage decodes to %s, %v; want %s", dumpP(wm), err, dumpP(wantWill))
	}
	if got := (*Properties)(nil).AppendMessage(nil); got != nil {
		t.Errorf("nil.AppendMessage = %x", got)
	}
}

// FuzzDecodeForward: whatever DecodeVersion decodes, DecodeForward decodes
// (and refuses what it refuses, with the same reason code), and its result
// encodes to a PUBLISH that DecodeVersion reads as the same packet.
func FuzzDecodeForward(f *testing.F) {
	for _, tc := range goldenForward {
		f.Add(tc.raw)
	}
	for _, tc := range golden5 {
		f.Add(tc.raw)
	}
	for _, tc := range bad5 {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		first, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 1<<20)
		if err != nil {
			return
		}
		want, werr := DecodeVersion(Version5, first, bytes.Clone(body))
		got, err := DecodeForward(Version5, first, body)
		var wcode, code Code
		errors.As(werr, &wcode)
		errors.As(err, &code)
		if (err == nil) != (werr == nil) || code != wcode {
			t.Fatalf("DecodeForward error %v, DecodeVersion %v", err, werr)
		}
		if err != nil {
			return
		}
		// A Decoder decodes the same, the first time and again (reusing
		// its packet and the topic name).
		var dc Decoder
		for range 2 {
			again, err := dc.Decode(Version5, first, body)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("Decoder.Decode = %s, %v; want %s", dump(again), err, dump(got))
			}
		}
		enc := got.AppendVersion(nil, Version5)
		if pub, ok := got.(*Publish); ok && pub.SizeVersion(Version5) != len(enc) {
			t.Fatalf("SizeVersion(5) = %d, encoded %d bytes", pub.SizeVersion(Version5), len(enc))
		}
		again, err := read5(enc)
		if err != nil {
			t.Fatalf("DecodeVersion of the encoding %x: %v", enc, err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(want)) {
			t.Fatalf("through DecodeForward:\n got %s\nwant %s", dump(again), dump(want))
		}
	})
}

// FuzzMessageProperties: DecodeMessageProperties takes what DecodeProperties
// takes for a PUBLISH, and its result holds the message properties.
func FuzzMessageProperties(f *testing.F) {
	for _, tc := range goldenForward {
		f.Add(AppendMessageProperties(nil, tc.pkt.MessageProps))
		f.Add(tc.pkt.Properties.Append(nil))
	}
	f.Add(golden5[7].pkt.(*Publish).Properties.Append(nil))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, wn, werr := DecodeProperties(PUBLISH, raw)
		msg, n, err := DecodeMessageProperties(raw)
		if (err == nil) != (werr == nil) || n != wn {
			t.Fatalf("DecodeMessageProperties = %d, %v; DecodeProperties %d, %v", n, err, wn, werr)
		}
		if err != nil {
			return
		}
		got, _, err := DecodeProperties(PUBLISH, AppendMessageProperties(nil, msg))
		if err != nil {
			t.Fatalf("DecodeProperties of the message properties %x: %v", msg, err)
		}
		var want *Properties
		if p != nil {
			want = &Properties{PayloadFormat: p.PayloadFormat, ContentType: p.ContentType, ResponseTopic: p.ResponseTopic,
				CorrelationData: p.CorrelationData, User: p.User}
			if want.size() == 0 {
				want = nil
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("message properties %s, want %s", dumpP(got), dumpP(want))
		}
	})
}

// TestPublishBlockReset: reset clears everything decoding a PUBLISH sets,
// with its properties decoded or kept encoded.
func TestPublishBlockReset(t *testing.T) {
	for _, tc := range append(golden5[:len(golden5):len(golden5)], decodeOnly5...) {
		if _, ok := tc.pkt.(*Publish); !ok {
			continue
		}
		for _, forward := range []bool{false, true} {
			var blk publishBlock
			first, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(tc.raw)), 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodePublish5(&blk, first&0x0f, body, forward, nil); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			blk.reset()
			if !reflect.DeepEqual(blk, publishBlock{}) {
				t.Errorf("%s (forward %v): after reset %+v", tc.name, forward, blk)
			}
		}
	}
}
