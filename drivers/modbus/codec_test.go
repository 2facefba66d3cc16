package modbus

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/edgegw/gateway"
)

// permute lays out big-endian bytes be in the wire order named by letters
// (A = be[0]); it is a second, independent implementation of ByteOrder.
func permute(letters string, be []byte) []byte {
	out := make([]byte, len(be))
	for i := range out {
		out[i] = be[letters[i]-'A']
	}
	return out
}

// orderNames gives the letters of each order for 2, 4 and 8 bytes.
var orderNames = map[ByteOrder][3]string{
	ABCD: {"AB", "ABCD", "ABCDEFGH"},
	DCBA: {"BA", "DCBA", "HGFEDCBA"},
	BADC: {"BA", "BADC", "BADCFEHG"},
	CDAB: {"AB", "CDAB", "GHEFCDAB"},
}

func lettersFor(o ByteOrder, n int) string {
	switch n {
	case 2:
		return orderNames[o][0]
	case 4:
		return orderNames[o][1]
	}
	return orderNames[o][2]
}

// TestCodecEveryTypeAndOrder decodes and encodes every numeric type in
// every byte order.
func TestCodecEveryTypeAndOrder(t *testing.T) {
	f32 := math.Float32bits(-123.5)
	f64 := math.Float64bits(6.02214076e23)
	tests := []struct {
		typ  Type
		be   []byte // the value big-endian
		want gateway.Value
	}{
		{TypeInt16, []byte{0xFF, 0x85}, gateway.Int(-123)},
		{TypeUint16, []byte{0xFF, 0x85}, gateway.Uint(65413)},
		{TypeInt32, []byte{0xFE, 0xDC, 0xBA, 0x98}, gateway.Int(-19088744)},
		{TypeUint32, []byte{0x12, 0x34, 0x56, 0x78}, gateway.Uint(0x12345678)},
		{TypeInt64, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}, gateway.Int(-2)},
		{TypeUint64, []byte{0xF1, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}, gateway.Uint(0xF122334455667788)},
		{TypeFloat32, []byte{byte(f32 >> 24), byte(f32 >> 16), byte(f32 >> 8), byte(f32)}, gateway.Float(-123.5)},
		{TypeFloat64, []byte{byte(f64 >> 56), byte(f64 >> 48), byte(f64 >> 40), byte(f64 >> 32), byte(f64 >> 24), byte(f64 >> 16), byte(f64 >> 8), byte(f64)},
			gateway.Float(6.02214076e23)},
	}
	for _, tt := range tests {
		for _, o := range ByteOrders {
			wire := permute(lettersFor(o, len(tt.be)), tt.be)
			c, err := NewCodec(tt.typ, o, 0, 0, 1, 0)
			if err != nil {
				t.Fatalf("%v %v: %v", tt.typ, o, err)
			}
			if c.Registers*2 != len(wire) {
				t.Errorf("%v: %d registers, want %d", tt.typ, c.Registers, len(wire)/2)
			}
			if got := c.Decode(wire); !got.Equal(tt.want) {
				t.Errorf("decode %v %v % x: got %#v, want %#v", tt.typ, o, wire, got, tt.want)
			}
			got, err := c.Encode(tt.want)
			if err != nil || !bytes.Equal(got, wire) {
				t.Errorf("encode %v %v %#v: got % x, %v; want % x", tt.typ, o, tt.want, got, err, wire)
			}
		}
	}
}

func TestParseByteOrder8(t *testing.T) {
	for o, names := range orderNames {
		for _, n := range names[1:] {
			got, err := ParseByteOrder(n)
			if err != nil || got != o {
				t.Errorf("%s: got %v, %v; want %v", n, got, err, o)
			}
		}
	}
	_, err := ParseByteOrder("ABDC")
	if err == nil || err.Error() != `byte_order "ABDC": want ABCD, DCBA, BADC or CDAB (or ABCDEFGH, HGFEDCBA, BADCFEHG or GHEFCDAB)` {
		t.Errorf("ABDC: %v", err)
	}
}

func TestCodecScaleOffset(t *testing.T) {
	tests := []struct {
		typ           Type
		scale, offset float64
		wire          []byte
		want          float64
	}{
		{TypeInt16, 0.1, 0, []byte{0x00, 0xD7}, 21.5},  // 215 * 0.1
		{TypeInt16, 0.1, -40, []byte{0xFF, 0x38}, -60}, // -200 * 0.1 - 40
		{TypeUint32, 0.001, 0, []byte{0, 0x01, 0xE2, 0x40}, 123.456},
		{TypeFloat32, 2, 1, []byte{0x3F, 0xC0, 0, 0}, 4}, // 1.5*2+1
	}
	for _, tt := range tests {
		c, err := NewCodec(tt.typ, ABCD, 0, 0, tt.scale, tt.offset)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := c.Decode(tt.wire).Float64()
		if math.Abs(f-tt.want) > 1e-9 {
			t.Errorf("decode %v % x: got %v, want %v", tt.typ, tt.wire, f, tt.want)
		}
		got, err := c.Encode(gateway.Float(tt.want))
		if err != nil || !bytes.Equal(got, tt.wire) {
			t.Errorf("encode %v %v: got % x, %v; want % x", tt.typ, tt.want, got, err, tt.wire)
		}
	}
}

func TestCodecStringAndBit(t *testing.T) {
	c, err := NewCodec(TypeString, ABCD, 4, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wire := []byte("PUMP-1\x00\x00")
	if got := c.Decode(wire); got.Str() != "PUMP-1" {
		t.Errorf("decode string: got %q", got.Str())
	}
	if got, err := c.Encode(gateway.String("PUMP-1")); err != nil || !bytes.Equal(got, wire) {
		t.Errorf("encode string: got %q, %v", got, err)
	}
	sw, _ := NewCodec(TypeString, BADC, 2, 0, 0, 0)
	if got := sw.Decode([]byte("UPPM")); got.Str() != "PUMP" {
		t.Errorf("decode swapped string: got %q", got.Str())
	}
	if got, _ := sw.Encode(gateway.String("PUMP")); string(got) != "UPPM" {
		t.Errorf("encode swapped string: got %q", got)
	}
	if _, err := c.Encode(gateway.String("much too long")); !errors.Is(err, ErrRange) {
		t.Errorf("long string: got %v, want ErrRange", err)
	}

	for _, o := range []ByteOrder{ABCD, DCBA} {
		bit, err := NewCodec(TypeBit, o, 0, 9, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		wire := permute(lettersFor(o, 2), []byte{0x02, 0x00}) // bit 9 set
		if got := bit.Decode(wire); !got.Equal(gateway.Bool(true)) {
			t.Errorf("%v bit 9 of % x: got %v", o, wire, got)
		}
		cleared, err := EncodeBit(o, wire, 9, gateway.Bool(false))
		if err != nil || !bytes.Equal(cleared, []byte{0, 0}) {
			t.Errorf("%v clear bit 9: got % x, %v", o, cleared, err)
		}
		set, _ := EncodeBit(o, []byte{0, 0}, 9, gateway.Bool(true))
		if !bytes.Equal(set, wire) {
			t.Errorf("%v set bit 9: got % x, want % x", o, set, wire)
		}
	}
}

func TestCodecEncodeErrors(t *testing.T) {
	tests := []struct {
		typ   Type
		scale float64
		v     gateway.Value
		err   error
	}{
		{TypeInt16, 1, gateway.Int(40000), ErrRange},
		{TypeUint16, 1, gateway.Int(-1), ErrRange},
		{TypeUint16, 0.1, gateway.Float(6553.6), ErrRange},
		{TypeInt64, 1, gateway.Uint(math.MaxUint64), ErrRange},
		{TypeUint64, 1, gateway.Float(math.Pow(2, 64)), ErrRange},
		{TypeInt32, 1, gateway.String("12"), ErrType},
		{TypeFloat32, 1, gateway.Float(1e39), ErrRange},
	}
	for _, tt := range tests {
		c, err := NewCodec(tt.typ, ABCD, 0, 0, tt.scale, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Encode(tt.v); !errors.Is(err, tt.err) {
			t.Errorf("%v %v: got %v, want %v", tt.typ, tt.v, err, tt.err)
		}
	}
}

func TestValidate(t *testing.T) {
	c := Config{Driver: DriverRTU, Port: "/dev/ttyUSB0", SlaveID: 300, Parity: "mark", Points: []PointConfig{
		{Name: "t", Register: "holding", Type: "float", ByteOrder: "ABDC"},
		{Name: "t", Register: "input", Writable: true},
		{Name: "s", Register: "holding", Type: "string", Length: 0},
	}}
	err := c.Validate()
	for _, want := range []string{
		"slave_id: 300: want 1..247",
		`parity: "mark": want none, even or odd`,
		`points[0] "t": type: "float": want bool, bit, int16, uint16, int32, uint32, int64, uint64, float32, float64 or string`,
		`points[0] "t": byte_order: "ABDC": want ABCD, DCBA, BADC or CDAB`, // both bad keys of one point
		`points[1] "t": writable: input registers are read-only`,
		`points[1] "t": name: duplicate name`,
		`points[2] "s": length: 0: want 1..125 registers`,
	} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	ok := Config{Driver: DriverTCP, Address: "127.0.0.1", Points: []PointConfig{{Name: "a", Register: "coil"}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// FuzzCodecRoundTrip: every register image of an unscaled integer or float
// point decodes to a value that encodes back to the same registers.
func FuzzCodecRoundTrip(f *testing.F) {
	f.Add(uint8(TypeInt32), uint8(CDAB), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(TypeFloat64), uint8(DCBA), []byte{0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18})
	f.Add(uint8(TypeUint16), uint8(BADC), []byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, typ, order uint8, raw []byte) {
		ty := Type(typ%uint8(TypeString-TypeInt16)) + TypeInt16 // int16..float64
		c, err := NewCodec(ty, ByteOrder(order&3), 0, 0, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) < 2*c.Registers {
			return
		}
		wire := raw[:2*c.Registers]
		v := c.Decode(wire)
		if f, ok := v.Float64(); ok && math.IsNaN(f) {
			return // NaN payloads need not survive float32 -> float64 -> float32
		}
		got, err := c.Encode(v)
		if err != nil || !bytes.Equal(got, wire) {
			t.Fatalf("%v %v: % x -> %#v -> % x, %v", ty, ByteOrder(order&3), wire, v, got, err)
		}
	})
}
