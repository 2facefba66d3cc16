package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// goldenCase is a row of a golden table (golden, golden5): a packet and
// its bytes, each byte with a comment.
type goldenCase = struct {
	name string
	raw  []byte
	pkt  Packet
}

// goldenCodec is how the golden tests encode, size and decode the packets
// of one protocol level.
type goldenCodec struct {
	encode func(Packet) []byte
	size   func(*Publish) int
	decode func(raw []byte) (Packet, error)
}

var (
	codec311 = goldenCodec{
		encode: func(p Packet) []byte { return p.Append(nil) },
		size:   (*Publish).Size,
		decode: func(raw []byte) (Packet, error) { return Read(bufio.NewReader(bytes.NewReader(raw)), 0) },
	}
	codec5 = goldenCodec{
		encode: func(p Packet) []byte { return p.AppendVersion(nil, Version5) },
		size:   func(p *Publish) int { return p.SizeVersion(Version5) },
		decode: read5,
	}
)

// testEncodeGolden checks that each case encodes to its bytes, that a
// PUBLISH knows its size, and that properties know theirs.
func testEncodeGolden(t *testing.T, c goldenCodec, cases []goldenCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.encode(tc.pkt); !bytes.Equal(got, tc.raw) {
				t.Errorf("encode:\n got %x\nwant %x", got, tc.raw)
			}
			if p, ok := tc.pkt.(*Publish); ok && c.size(p) != len(tc.raw) {
				t.Errorf("size = %d, want %d", c.size(p), len(tc.raw))
			}
			if p := propsOf(tc.pkt); p != nil && p.Size() != VarintLen(p.size())+p.size() {
				t.Errorf("Properties.Size() = %d", p.Size())
			}
		})
	}
}

// testDecodeGolden checks that each case's bytes decode to its packet.
func testDecodeGolden(t *testing.T, c goldenCodec, cases []goldenCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.decode(tc.raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.pkt) {
				t.Errorf("decode:\n got %s\nwant %s", dump(got), dump(tc.pkt))
			}
		})
	}
}

func TestEncodeGolden(t *testing.T) { testEncodeGolden(t, codec311, golden) }

func TestDecodeGolden(t *testing.T) { testDecodeGolden(t, codec311, golden) }

func TestDecodeBad(t *testing.T) {
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bufio.NewReader(bytes.NewReader(tc.raw)), 0)
			if !errors.Is(err, tc.want) {
				t.Errorf("Read(%x) error = %v, want %v", tc.raw, err, tc.want)
			}
		})
	}
}

func TestRemainingLength(t *testing.T) {
	// Section 2.2.3, table 2.4: the boundaries of 1 to 4 byte encodings.
	cases := []struct {
		n   int
		enc []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{16383, []byte{0xff, 0x7f}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{2097151, []byte{0xff, 0xff, 0x7f}},
		{2097152, []byte{0x80, 0x80, 0x80, 0x01}},
		{MaxRemainingLength, []byte{0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tc := range cases {
		if got := AppendVarint(nil, tc.n); !bytes.Equal(got, tc.enc) {
			t.Errorf("AppendVarint(%d) = %x, want %x", tc.n, got, tc.enc)
		}
		n, size, err := DecodeVarint(tc.enc)
		if err != nil || n != tc.n || size != len(tc.enc) {
			t.Errorf("DecodeVarint(%x) = %d, %d, %v; want %d, %d", tc.enc, n, size, err, tc.n, len(tc.enc))
		}
		if got := VarintLen(tc.n); got != len(tc.enc) {
			t.Errorf("VarintLen(%d) = %d, want %d", tc.n, got, len(tc.enc))
		}
	}
	// A fifth length byte is malformed.
	_, err := Read(bufio.NewReader(bytes.NewReader([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})), 0)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("5-byte remaining length: error = %v, want ErrMalformed", err)
	}
}

func TestReadLimits(t *testing.T) {
	big := (&Publish{Topic: "t", Payload: make([]byte, 200)}).Append(nil)
	_, err := Read(bufio.NewReader(bytes.NewReader(big)), 100)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("over max size: error = %v, want ErrTooLarge", err)
	}
	_, err = Read(bufio.NewReader(bytes.NewReader(big[:50])), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: error = %v, want io.ErrUnexpectedEOF", err)
	}
	_, err = Read(bufio.NewReader(strings.NewReader("")), 0)
	if err != io.EOF {
		t.Errorf("empty stream: error = %v, want io.EOF", err)
	}
}

func TestValidUTF8(t *testing.T) {
	// [MQTT-1.5.3-3] U+FEFF is a valid character and is not stripped.
	if err := ValidUTF8([]byte("\uFEFFa/ü/€")); err != nil {
		t.Errorf("ValidUTF8(BOM) = %v, want nil", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range golden {
		f.Add(tc.raw)
	}
	for _, tc := range bad {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Read(bufio.NewReader(bytes.NewReader(raw)), 1<<20)
		if err != nil {
			return
		}
		// A packet that decodes must encode to a frame that decodes to the
		// same packet.
		enc := p.Append(nil)
		p2, err := Read(bufio.NewReader(bytes.NewReader(enc)), 0)
		if err != nil {
			t.Fatalf("re-decode of %T %x: %v", p, enc, err)
		}
		if !reflect.DeepEqual(normalize(p), normalize(p2)) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", p2, p)
		}
	})
}

// normalize maps nil and empty byte slices to the same value for comparison.
func normalize(p Packet) Packet {
	switch v := p.(type) {
	case *Publish:
		c := *v
		if len(c.Payload) == 0 {
			c.Payload = nil
		}
		return &c
	case *Connect:
		c := *v
		if len(c.WillPayload) == 0 {
			c.WillPayload = nil
		}
		if len(c.Password) == 0 {
			c.Password = nil
		}
		return &c
	case *Suback:
		c := *v
		if len(c.ReturnCodes) == 0 {
			c.ReturnCodes = nil
		}
		return &c
	}
	return p
}
