package packet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// read5 reads one frame from raw and decodes it at protocol level 5.
func read5(raw []byte) (Packet, error) {
	first, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 0)
	if err != nil {
		return nil, err
	}
	return DecodeVersion(Version5, first, body)
}

func TestEncodeGolden5(t *testing.T) { testEncodeGolden(t, codec5, golden5) }

func TestDecodeGolden5(t *testing.T) {
	testDecodeGolden(t, codec5, append(golden5[:len(golden5):len(golden5)], decodeOnly5...))
}

// TestRoundTrip5 decodes each golden packet, encodes it again and decodes
// that: the packets must be equal, and a second encoding the same bytes.
func TestRoundTrip5(t *testing.T) {
	for _, tc := range append(golden5[:len(golden5):len(golden5)], decodeOnly5...) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := read5(tc.raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			enc := p.AppendVersion(nil, Version5)
			p2, err := read5(enc)
			if err != nil {
				t.Fatalf("decode of re-encoded %x: %v", enc, err)
			}
			if !reflect.DeepEqual(p, p2) {
				t.Errorf("round trip:\n got %s\nwant %s", dump(p2), dump(p))
			}
			if enc2 := p2.AppendVersion(nil, Version5); !bytes.Equal(enc, enc2) {
				t.Errorf("second encoding %x, first %x", enc2, enc)
			}
		})
	}
}

func TestDecodeBad5(t *testing.T) {
	for _, tc := range bad5 {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read5(tc.raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeVersion(5, %x) error = %v, want %v", tc.raw, err, tc.want)
			}
			// The reason code to send in a DISCONNECT is in the error.
			var code Code
			if !errors.As(err, &code) || code != tc.want {
				t.Errorf("errors.As code = %#x, want %#x", byte(code), byte(tc.want))
			}
		})
	}
}

// TestVersion311Unchanged checks that 3.1.1 decoding and encoding are what
// they were: DecodeVersion and AppendVersion at level 4 give the golden
// bytes, a level 5 CONNECT is still refused by Decode, and the fields of
// 5.0 are left out of a 3.1.1 encoding.
func TestVersion311Unchanged(t *testing.T) {
	for _, tc := range golden {
		first, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(tc.raw)), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeVersion(Version311, first, body)
		if err != nil || !reflect.DeepEqual(got, tc.pkt) {
			t.Errorf("%s: DecodeVersion(4) = %#v, %v", tc.name, got, err)
		}
		if enc := tc.pkt.AppendVersion(nil, Version311); !bytes.Equal(enc, tc.raw) {
			t.Errorf("%s: AppendVersion(4) = %x, want %x", tc.name, enc, tc.raw)
		}
		// A 5.0 server reads a 3.1.1 or 3.1 CONNECT by its own level.
		if tc.pkt.Type() == CONNECT {
			got, err := DecodeVersion(Version5, first, body)
			if err != nil || !reflect.DeepEqual(got, tc.pkt) {
				t.Errorf("%s: DecodeVersion(5) = %#v, %v", tc.name, got, err)
			}
		}
	}

	connect5 := golden5[0].raw
	p, err := Read(bufio.NewReader(bytes.NewReader(connect5)), 0)
	if !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("Decode of a level 5 CONNECT: error = %v, want ErrUnsupportedVersion", err)
	}
	if c, ok := p.(*Connect); !ok || c.ProtocolLevel != Version5 {
		t.Errorf("Decode of a level 5 CONNECT returned %#v, want the Connect for the CONNACK", p)
	}
	if _, err := Read(bufio.NewReader(bytes.NewReader([]byte{0xf0, 0})), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode of AUTH: error = %v, want ErrMalformed (reserved in 3.1.1)", err)
	}

	props := &Properties{ReasonString: "x", User: []UserProperty{{"k", "v"}}, MessageExpiry: new(uint32(5))}
	cases := []struct {
		pkt  Packet
		want []byte
	}{
		{&Publish{QoS: 1, Topic: "t", PacketID: 1, Payload: []byte("x"), Properties: props},
			[]byte{0x32, 6, 0, 1, 't', 0, 1, 'x'}},
		{&Puback{PacketID: 1, ReasonCode: ErrNotAuthorized, Properties: props}, []byte{0x40, 2, 0, 1}},
		{&Pubrec{PacketID: 1, ReasonCode: ErrQuotaExceeded}, []byte{0x50, 2, 0, 1}},
		{&Pubrel{PacketID: 1, ReasonCode: ErrPacketIDNotFound}, []byte{0x62, 2, 0, 1}},
		{&Pubcomp{PacketID: 1, Properties: props}, []byte{0x70, 2, 0, 1}},
		{&Connack{SessionPresent: true, ReasonCode: ErrServerBusy, Properties: props}, []byte{0x20, 2, 1, 0}},
		// A 5.0 failure code becomes the one failure 3.1.1 has [MQTT-3.9.3-2].
		{&Suback{PacketID: 2, ReturnCodes: []byte{1, byte(ErrNotAuthorized), 0x80}, Properties: props},
			[]byte{0x90, 5, 0, 2, 1, 0x80, 0x80}},
		{&Subscribe{PacketID: 2, Subscriptions: []Subscription{{Filter: "a", QoS: 1, NoLocal: true,
			RetainAsPublished: true, RetainHandling: 2}}, Properties: &Properties{SubscriptionIDs: []uint32{3}}},
			[]byte{0x82, 6, 0, 2, 0, 1, 'a', 1}},
		{&Unsubscribe{PacketID: 2, Filters: []string{"a"}, Properties: props}, []byte{0xa2, 5, 0, 2, 0, 1, 'a'}},
		{&Unsuback{PacketID: 2, ReasonCodes: []Code{ErrNotAuthorized}, Properties: props}, []byte{0xb0, 2, 0, 2}},
		{&Disconnect{ReasonCode: CodeDisconnectWithWill, Properties: props}, []byte{0xe0, 0}},
	}
	for _, tc := range cases {
		if got := tc.pkt.AppendVersion(nil, Version311); !bytes.Equal(got, tc.want) {
			t.Errorf("%T AppendVersion(4) = %x, want %x", tc.pkt, got, tc.want)
		}
		if got := tc.pkt.Append(nil); !bytes.Equal(got, tc.want) {
			t.Errorf("%T Append = %x, want %x", tc.pkt, got, tc.want)
		}
		if p, ok := tc.pkt.(*Publish); ok && p.SizeVersion(Version311) != len(tc.want) {
			t.Errorf("SizeVersion(4) = %d, want %d", p.SizeVersion(Version311), len(tc.want))
		}
	}
}

// TestGolden5CoversEveryProperty checks that the golden packets carry
// every property of table 2-4, so the encode and decode tests cover all.
func TestGolden5CoversEveryProperty(t *testing.T) {
	seen := map[string]bool{}
	mark := func(p *Properties) {
		if p == nil {
			return
		}
		v := reflect.ValueOf(p).Elem()
		for i := range v.NumField() {
			if !v.Field(i).IsZero() {
				seen[v.Type().Field(i).Name] = true
			}
		}
	}
	for _, tc := range golden5 {
		mark(propsOf(tc.pkt))
		if c, ok := tc.pkt.(*Connect); ok {
			mark(c.WillProperties)
		}
	}
	fields := reflect.TypeFor[Properties]()
	for i := range fields.NumField() {
		if name := fields.Field(i).Name; !seen[name] {
			t.Errorf("no golden packet carries %s", name)
		}
	}
	if fields.NumField() != 27 {
		t.Errorf("Properties has %d fields, want the 27 properties of table 2-4", fields.NumField())
	}
}

// specAllowed is table 2-4's "Used in" column, written out independently of
// propInfo.
var specAllowed = map[PropertyID]string{
	PropPayloadFormat:        "PUBLISH will",
	PropMessageExpiry:        "PUBLISH will",
	PropContentType:          "PUBLISH will",
	PropResponseTopic:        "PUBLISH will",
	PropCorrelationData:      "PUBLISH will",
	PropSubscriptionID:       "PUBLISH SUBSCRIBE",
	PropSessionExpiry:        "CONNECT CONNACK DISCONNECT",
	PropAssignedClientID:     "CONNACK",
	PropServerKeepAlive:      "CONNACK",
	PropAuthMethod:           "CONNECT CONNACK AUTH",
	PropAuthData:             "CONNECT CONNACK AUTH",
	PropRequestProblemInfo:   "CONNECT",
	PropWillDelay:            "will",
	PropRequestResponseInfo:  "CONNECT",
	PropResponseInfo:         "CONNACK",
	PropServerReference:      "CONNACK DISCONNECT",
	PropReasonString:         "CONNACK PUBACK PUBREC PUBREL PUBCOMP SUBACK UNSUBACK DISCONNECT AUTH",
	PropReceiveMaximum:       "CONNECT CONNACK",
	PropTopicAliasMaximum:    "CONNECT CONNACK",
	PropTopicAlias:           "PUBLISH",
	PropMaximumQoS:           "CONNACK",
	PropRetainAvailable:      "CONNACK",
	PropUser:                 "CONNECT CONNACK PUBLISH will PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK DISCONNECT AUTH",
	PropMaximumPacketSize:    "CONNECT CONNACK",
	PropWildcardSubAvailable: "CONNACK",
	PropSubIDAvailable:       "CONNACK",
	PropSharedSubAvailable:   "CONNACK",
}

var propContexts = []Type{willProps, CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
	SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH}

// sampleProperty returns property id encoded with a valid value.
func sampleProperty(id PropertyID) []byte {
	if int(id) >= len(propInfo) {
		return []byte{byte(id), 1}
	}
	switch propInfo[id].kind {
	case kindUint16:
		return []byte{byte(id), 0, 1}
	case kindUint32:
		return []byte{byte(id), 0, 0, 0, 1}
	case kindString:
		return []byte{byte(id), 0, 1, 'x'}
	case kindPair:
		return []byte{byte(id), 0, 1, 'k', 0, 1, 'v'}
	case kindBinary:
		return []byte{byte(id), 0, 1, 7}
	}
	return []byte{byte(id), 1} // byte, bool, variable byte integer
}

// frame5 returns a minimal valid MQTT 5.0 packet of type t (willProps: a
// CONNECT with a will) whose properties (or will properties) are props.
func frame5(t Type, props []byte) []byte {
	pl := append(AppendVarint(nil, len(props)), props...)
	connect := func(flags byte) []byte { return []byte{0, 4, 'M', 'Q', 'T', 'T', 5, flags, 0, 0} }
	first := byte(t) << 4
	var body []byte
	switch t {
	case willProps:
		first = byte(CONNECT) << 4
		body = slices.Concat(connect(0x06), []byte{0, 0, 0}, pl, []byte{0, 1, 'w', 0, 0})
	case CONNECT:
		body = slices.Concat(connect(0x02), pl, []byte{0, 0})
	case CONNACK:
		body = slices.Concat([]byte{0, 0}, pl)
	case PUBLISH:
		body = slices.Concat([]byte{0, 1, 't'}, pl)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		body = slices.Concat([]byte{0, 1, 0}, pl)
	case SUBSCRIBE:
		body = slices.Concat([]byte{0, 1}, pl, []byte{0, 1, 'a', 0})
	case UNSUBSCRIBE:
		body = slices.Concat([]byte{0, 1}, pl, []byte{0, 1, 'a'})
	case SUBACK, UNSUBACK:
		body = slices.Concat([]byte{0, 1}, pl, []byte{0})
	case DISCONNECT, AUTH:
		body = slices.Concat([]byte{0}, pl)
	}
	if t == PUBREL || t == SUBSCRIBE || t == UNSUBSCRIBE {
		first |= 0x02
	}
	return slices.Concat([]byte{first}, AppendVarint(nil, len(body)), body)
}

// TestPropertyAllowedSets sends every property, once and twice, in every
// packet that has properties: a property not in table 2-4 for the packet is
// a Malformed Packet (section 2.2.2.2), one sent twice a Protocol Error
// unless it is a User Property or a Subscription Identifier in PUBLISH.
func TestPropertyAllowedSets(t *testing.T) {
	for id := PropertyID(0); id < 0x30; id++ {
		for _, ctx := range propContexts {
			allowed := slices.Contains(strings.Fields(specAllowed[id]), contextName(ctx))
			if ctx != willProps && id.Allowed(ctx) != allowed {
				t.Errorf("%s.Allowed(%s) = %v, want %v", id, ctx, !allowed, allowed)
			}
			one := sampleProperty(id)
			if id == PropAuthData { // not without a method (section 3.1.2.11.10)
				one = slices.Concat(sampleProperty(PropAuthMethod), one)
			}
			two := slices.Concat(one, sampleProperty(id))
			wantOne, wantTwo := error(ErrMalformed), error(ErrMalformed)
			if allowed {
				wantOne, wantTwo = nil, ErrProtocol
				if id == PropUser || id == PropSubscriptionID && ctx == PUBLISH {
					wantTwo = nil
				}
			}
			for _, c := range []struct {
				props []byte
				want  error
			}{{one, wantOne}, {two, wantTwo}} {
				raw := frame5(ctx, c.props)
				_, err := read5(raw)
				if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
					t.Errorf("%s in %s (%x): error = %v, want %v", id, contextName(ctx), raw, err, c.want)
				}
			}
		}
	}
}

func TestReasonCodes(t *testing.T) {
	if got := ErrQuotaExceeded.Name(); got != "Quota exceeded" {
		t.Errorf("Name() = %q", got)
	}
	if got := ErrQuotaExceeded.Error(); got != "quota exceeded" {
		t.Errorf("Error() = %q", got)
	}
	if got := ErrMalformed.Error(); got != "malformed packet" {
		t.Errorf("Error() = %q", got)
	}
	if got := Code(0x7e).Error(); got != "reason code 0x7e" {
		t.Errorf("Error() = %q", got)
	}
	if CodeNoMatchingSubscribers.IsError() || !ErrUnspecified.IsError() {
		t.Error("IsError: the boundary is 0x80")
	}
	// Every code a packet may carry has a name.
	for ty := range Type(16) {
		for c := range 256 {
			if ValidReason(ty, Code(c)) && Code(c).Name() == "" {
				t.Errorf("%s reason 0x%02x has no name", ty, c)
			}
		}
	}
	// A wrapped code is found with errors.Is and errors.As.
	err := errors.Join(errors.New("x"), ErrSessionTakenOver)
	var code Code
	if !errors.Is(err, ErrSessionTakenOver) || !errors.As(err, &code) || code != 0x8e {
		t.Errorf("errors.Is/As on %v failed", err)
	}
	// The 3.1.1 return codes and their 5.0 reason codes map both ways.
	for c := Accepted; c <= RefusedNotAuthorized; c++ {
		if got := c.Reason().ConnackCode(); got != c {
			t.Errorf("%d.Reason().ConnackCode() = %d", c, got)
		}
		if !ValidReason(CONNACK, c.Reason()) {
			t.Errorf("%d.Reason() = %#x, not a CONNACK reason code", c, byte(c.Reason()))
		}
	}
	if got := ErrQuotaExceeded.ConnackCode(); got != RefusedServerUnavailable {
		t.Errorf("ConnackCode() = %d", got)
	}
}

func TestCheckPayloadFormat(t *testing.T) {
	cases := []struct {
		props   *Properties
		payload string
		want    error
	}{
		{nil, "\xff", nil},
		{&Properties{PayloadFormat: new(byte(0))}, "\xff", nil},
		{&Properties{PayloadFormat: new(byte(1))}, "grüß", nil},
		{&Properties{PayloadFormat: new(byte(1))}, "\xff", ErrPayloadFormatInvalid},
		{&Properties{PayloadFormat: new(byte(1))}, "a\x00", ErrPayloadFormatInvalid}, // [MQTT-1.5.4-2]
	}
	for _, tc := range cases {
		p := &Publish{Topic: "t", Payload: []byte(tc.payload), Properties: tc.props}
		if err := p.CheckPayloadFormat(); !errors.Is(err, tc.want) || tc.want == nil && err != nil {
			t.Errorf("CheckPayloadFormat(%q) = %v, want %v", tc.payload, err, tc.want)
		}
		if err := p.CheckPayloadFormat(); errors.Is(err, ErrMalformed) {
			t.Errorf("CheckPayloadFormat(%q) = %v: must not be a Malformed Packet", tc.payload, err)
		}
	}
}

func FuzzDecode5(f *testing.F) {
	for _, tc := range golden5 {
		f.Add(tc.raw)
	}
	for _, tc := range decodeOnly5 {
		f.Add(tc.raw)
	}
	for _, tc := range bad5 {
		f.Add(tc.raw)
	}
	for _, tc := range golden {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		first, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 1<<20)
		if err != nil {
			return
		}
		p, err := DecodeVersion(Version5, first, body)
		if err != nil {
			var code Code
			if !errors.As(err, &code) || !code.IsError() {
				t.Fatalf("error %v carries no failure reason code", err)
			}
			return
		}
		// A packet that decodes must encode to a frame that decodes to the
		// same packet, and encode the same again.
		enc := p.AppendVersion(nil, Version5)
		p2, err := read5(enc)
		if err != nil {
			t.Fatalf("re-decode of %T %x: %v", p, enc, err)
		}
		if !reflect.DeepEqual(normalize(p), normalize(p2)) {
			t.Fatalf("round trip:\n got %s\nwant %s", dump(p2), dump(p))
		}
		if enc2 := p2.AppendVersion(nil, Version5); !bytes.Equal(enc, enc2) {
			t.Fatalf("second encoding %x, first %x", enc2, enc)
		}
		if pub, ok := p.(*Publish); ok && pub.SizeVersion(Version5) != len(enc) {
			t.Fatalf("SizeVersion(5) = %d, encoded %d bytes", pub.SizeVersion(Version5), len(enc))
		}
	})
}

// FuzzProperties decodes a property block (a Property Length and the
// properties) for each packet type, and checks that what decodes encodes
// back to a block that decodes the same.
func FuzzProperties(f *testing.F) {
	for _, tc := range golden5 {
		if p := propsOf(tc.pkt); p != nil {
			f.Add(byte(tc.pkt.Type()), p.Append(nil))
		}
		if c, ok := tc.pkt.(*Connect); ok && c.WillProperties != nil {
			f.Add(byte(willProps), c.WillProperties.Append(nil))
		}
	}
	f.Fuzz(func(t *testing.T, ctx byte, raw []byte) {
		tt := propContexts[int(ctx)%len(propContexts)]
		p, n, err := DecodeProperties(tt, raw)
		if err != nil {
			var code Code
			if !errors.As(err, &code) || !code.IsError() {
				t.Fatalf("error %v carries no failure reason code", err)
			}
			return
		}
		if n > len(raw) {
			t.Fatalf("used %d of %d bytes", n, len(raw))
		}
		enc := p.Append(nil)
		if p.Size() != len(enc) {
			t.Fatalf("Size() = %d, encoded %d bytes", p.Size(), len(enc))
		}
		p2, n2, err := DecodeProperties(tt, enc)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-decode of %x: %v, used %d of %d bytes", enc, err, n2, len(enc))
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", p2, p)
		}
	})
}

// propsOf returns the properties of p.
func propsOf(p Packet) *Properties {
	switch v := p.(type) {
	case *Connect:
		return v.Properties
	case *Connack:
		return v.Properties
	case *Publish:
		return v.Properties
	case *Puback:
		return v.Properties
	case *Pubrec:
		return v.Properties
	case *Pubrel:
		return v.Properties
	case *Pubcomp:
		return v.Properties
	case *Subscribe:
		return v.Properties
	case *Suback:
		return v.Properties
	case *Unsubscribe:
		return v.Properties
	case *Unsuback:
		return v.Properties
	case *Disconnect:
		return v.Properties
	case *Auth:
		return v.Properties
	}
	return nil
}

// dump formats a packet with its properties for failure messages.
func dump(p Packet) string {
	s := fmt.Sprintf("%T%+v", p, p)
	if pr := propsOf(p); pr != nil {
		s += " props " + dumpProps(pr)
	}
	if c, ok := p.(*Connect); ok && c.WillProperties != nil {
		s += " will props " + dumpProps(c.WillProperties)
	}
	return s
}

func dumpProps(p *Properties) string {
	var parts []string
	v := reflect.ValueOf(p).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.IsZero() {
			continue
		}
		if f.Kind() == reflect.Pointer {
			f = f.Elem()
		}
		parts = append(parts, fmt.Sprintf("%s=%v", v.Type().Field(i).Name, f.Interface()))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func TestCheckWillPayloadFormat(t *testing.T) {
	c := &Connect{WillFlag: true, WillPayload: []byte("\xff"), WillProperties: &Properties{PayloadFormat: new(byte(1))}}
	if err := c.CheckWillPayloadFormat(); !errors.Is(err, ErrPayloadFormatInvalid) {
		t.Errorf("CheckWillPayloadFormat = %v, want ErrPayloadFormatInvalid", err)
	}
	c.WillPayload = []byte("ok")
	if err := c.CheckWillPayloadFormat(); err != nil {
		t.Errorf("CheckWillPayloadFormat = %v, want nil", err)
	}
}

func TestParseShared(t *testing.T) {
	cases := []struct {
		in, share, filter string
		ok                bool
		err               error
	}{
		{"a/b", "", "a/b", false, nil},
		{"$share/g/a/+", "g", "a/+", true, nil},
		{"$share/g/#", "g", "#", true, nil},
		{"$share/g//", "g", "/", true, nil},
		{"$share/", "", "", true, ErrTopicFilterInvalid},
		{"$share//a", "", "", true, ErrTopicFilterInvalid},   // [MQTT-4.8.2-1] share name of at least one character
		{"$share/g", "", "", true, ErrTopicFilterInvalid},    // [MQTT-4.8.2-2] followed by "/"
		{"$share/g/", "", "", true, ErrTopicFilterInvalid},   // and by a filter
		{"$share/g+/a", "", "", true, ErrTopicFilterInvalid}, // no "+" or "#" in the share name
		{"$share/#/a", "", "", true, ErrTopicFilterInvalid},
	}
	for _, tc := range cases {
		share, filter, ok, err := ParseShared(tc.in)
		if share != tc.share || filter != tc.filter || ok != tc.ok || !errors.Is(err, tc.err) || tc.err == nil && err != nil {
			t.Errorf("ParseShared(%q) = %q, %q, %v, %v; want %q, %q, %v, %v",
				tc.in, share, filter, ok, err, tc.share, tc.filter, tc.ok, tc.err)
		}
	}
}

func TestMessageProperties(t *testing.T) {
	// The will properties of the golden CONNECT become the properties of
	// the will message: all but Will Delay Interval.
	will := golden5[1].pkt.(*Connect).WillProperties
	got := will.Message()
	want := *will
	want.WillDelay = nil
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("Message() = %s, want %s", dumpProps(got), dumpProps(&want))
	}
	// The per-connection and per-subscription properties are dropped.
	pub := &Properties{TopicAlias: new(uint16(1)), SubscriptionIDs: []uint32{2}}
	if got := pub.Message(); got != nil {
		t.Errorf("Message() = %s, want nil", dumpProps(got))
	}
	if got := (*Properties)(nil).Message(); got != nil {
		t.Errorf("nil.Message() = %v, want nil", got)
	}
}

func TestPropertiesAppendDecode(t *testing.T) {
	// A stored message's properties come back as they were, with the bytes
	// after them left alone.
	p := golden5[7].pkt.(*Publish).Properties
	b := append(p.Append(nil), 0xaa)
	got, n, err := DecodeProperties(PUBLISH, b)
	if err != nil || n != len(b)-1 || !reflect.DeepEqual(got, p) {
		t.Errorf("DecodeProperties = %s, %d, %v; want %s, %d", dumpProps(got), n, err, dumpProps(p), len(b)-1)
	}
	if got, n, err := DecodeProperties(PUBLISH, (*Properties)(nil).Append(nil)); got != nil || n != 1 || err != nil {
		t.Errorf("DecodeProperties(nil.Append) = %v, %d, %v; want nil, 1, nil", got, n, err)
	}
	will := golden5[1].pkt.(*Connect).WillProperties
	if got, _, err := DecodeProperties(0, will.Append(nil)); err != nil || !reflect.DeepEqual(got, will) {
		t.Errorf("DecodeProperties(0, will) = %s, %v; want %s", dumpProps(got), err, dumpProps(will))
	}
	if _, _, err := DecodeProperties(SUBACK, p.Append(nil)); !errors.Is(err, ErrMalformed) {
		t.Errorf("PUBLISH properties in SUBACK: error = %v, want ErrMalformed", err)
	}
}

// Benchmarks of the 5.0 encoding next to 3.1.1, for the session layer's
// budget (issue 12: v5 within 10% of v3.1.1). Informational; nothing
// asserts a speed.
func BenchmarkPublish(b *testing.B) {
	payload := make([]byte, 64)
	props := &Properties{MessageExpiry: new(uint32(60)), ContentType: "application/json",
		User: []UserProperty{{"site", "a"}, {"line", "3"}}}
	cases := []struct {
		name    string
		version byte
		props   *Properties
	}{
		{"v311", Version311, nil},
		{"v5", Version5, nil},
		{"v5-props", Version5, props},
	}
	for _, c := range cases {
		p := &Publish{QoS: 1, PacketID: 7, Topic: "plant/line3/temperature", Payload: payload, Properties: c.props}
		raw := p.AppendVersion(nil, c.version)
		b.Run("append-"+c.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			for b.Loop() {
				buf = p.AppendVersion(buf[:0], c.version)
			}
		})
		_, size, err := DecodeVarint(raw[1:])
		if err != nil {
			b.Fatal(err)
		}
		body := raw[1+size:]
		b.Run("decode-"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeVersion(c.version, raw[0], body); err != nil {
					b.Fatal(err)
				}
			}
		})
		// What the broker does: a Decoder per connection, the message
		// properties kept encoded, re-encoded for a subscriber.
		b.Run("forward-"+c.name, func(b *testing.B) {
			var dc Decoder
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				p, err := dc.Decode(c.version, raw[0], body)
				if err != nil {
					b.Fatal(err)
				}
				buf = p.AppendVersion(buf[:0], c.version)
			}
		})
	}
}

func FuzzParseShared(f *testing.F) {
	for _, s := range []string{"a/b", "$share/g/a/+", "$share/g/#", "$share//a", "$share/g", "$share/g+/a", "$share/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		share, filter, ok, err := ParseShared(in)
		switch {
		case !ok:
			if err != nil || filter != in || strings.HasPrefix(in, SharePrefix) {
				t.Fatalf("ParseShared(%q) = %q, %q, %v, %v", in, share, filter, ok, err)
			}
		case err != nil:
			if !errors.Is(err, ErrTopicFilterInvalid) {
				t.Fatalf("ParseShared(%q) error %v, want ErrTopicFilterInvalid", in, err)
			}
		default:
			// [MQTT-4.8.2-1] [MQTT-4.8.2-2]
			if share == "" || filter == "" || strings.ContainsAny(share, "/+#") || SharePrefix+share+"/"+filter != in {
				t.Fatalf("ParseShared(%q) = %q, %q", in, share, filter)
			}
		}
	})
}
