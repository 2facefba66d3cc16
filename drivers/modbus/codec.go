package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/edgegw/gateway"
)

// ErrRange is wrapped by an encode error for a value the point's type cannot
// hold after scaling.
var ErrRange = errors.New("value out of range")

// ErrType is wrapped by an encode error for a value of the wrong kind (a
// string for a number, a float for a bool).
var ErrType = errors.New("value of wrong kind")

// Codec converts one point's register bytes to values and back. It is
// compiled once from the point's type, byte order, scale and offset, so
// decoding never looks at configuration strings.
type Codec struct {
	// Registers is the number of 16-bit registers the point spans (0 for
	// coils and discrete inputs).
	Registers int
	// Decode turns the point's registers as they came off the wire
	// (2*Registers bytes) into a value.
	Decode func(wire []byte) gateway.Value
	// Encode turns a value into the point's registers in wire order. It
	// is nil for bit-of-register points, which need the current register
	// (see EncodeBit).
	Encode func(v gateway.Value) ([]byte, error)
}

// NewCodec compiles the converter for a register point. scale 0 means 1.
// With scale 1 and offset 0 integers stay integers; otherwise every numeric
// type decodes to a float: value = raw*scale + offset.
func NewCodec(t Type, o ByteOrder, length int, bit int, scale, offset float64) (Codec, error) {
	if scale == 0 {
		scale = 1
	}
	n := t.Registers(length)
	reorder := reorders[o&3]
	// be returns the value's bytes in big-endian order.
	be := func(wire []byte, buf *[8]byte) []byte {
		b := buf[:len(wire)]
		reorder(b, wire)
		return b
	}
	toWire := func(b []byte) []byte {
		w := make([]byte, len(b))
		reorder(w, b)
		return w
	}
	scaled := scale != 1 || offset != 0
	c := Codec{Registers: n}
	switch t {
	case TypeBool:
		return c, &KeyError{Key: "type", Msg: "bool: only for coil and discrete registers (use bit for a register bit)"}
	case TypeBit:
		if bit < 0 || bit > 15 {
			return c, &KeyError{Key: "bit", Msg: fmt.Sprintf("%d: want 0..15", bit)}
		}
		mask := uint16(1) << bit
		c.Decode = func(wire []byte) gateway.Value {
			var buf [8]byte
			return gateway.Bool(binary.BigEndian.Uint16(be(wire, &buf))&mask != 0)
		}
		return c, nil
	case TypeString:
		if length < 1 || length > maxReadRegisters {
			return c, &KeyError{Key: "length", Msg: fmt.Sprintf("%d: want 1..%d registers (type string)", length, maxReadRegisters)}
		}
		// Strings only know a byte swap within each register.
		swap := o&byteSwap != 0
		c.Decode = func(wire []byte) gateway.Value {
			b := make([]byte, len(wire))
			copy(b, wire)
			if swap {
				reorders[BADC](b, wire)
			}
			return gateway.String(strings.TrimRight(string(b), "\x00 "))
		}
		c.Encode = func(v gateway.Value) ([]byte, error) {
			if v.Kind() != gateway.KindString {
				return nil, fmt.Errorf("string point: %v value: %w", v.Kind(), ErrType)
			}
			s := v.Str()
			if len(s) > 2*length {
				return nil, fmt.Errorf("string of %d bytes for %d registers: %w", len(s), length, ErrRange)
			}
			b := make([]byte, 2*length)
			copy(b, s)
			if swap {
				w := make([]byte, len(b))
				reorders[BADC](w, b)
				return w, nil
			}
			return b, nil
		}
		return c, nil
	case TypeFloat32, TypeFloat64:
		wide := t == TypeFloat64
		c.Decode = func(wire []byte) gateway.Value {
			var buf [8]byte
			b := be(wire, &buf)
			var f float64
			if wide {
				f = math.Float64frombits(binary.BigEndian.Uint64(b))
			} else {
				f = shortest32(math.Float32frombits(binary.BigEndian.Uint32(b)))
			}
			if scaled {
				f = tidy(f*scale + offset)
			}
			return gateway.Float(f)
		}
		c.Encode = func(v gateway.Value) ([]byte, error) {
			f, ok := v.Float64()
			if !ok || v.Kind() == gateway.KindString {
				return nil, fmt.Errorf("%v point: %v value: %w", t, v.Kind(), ErrType)
			}
			if scaled {
				f = (f - offset) / scale
			}
			b := make([]byte, 8)
			if wide {
				binary.BigEndian.PutUint64(b, math.Float64bits(f))
			} else {
				if math.Abs(f) > math.MaxFloat32 && !math.IsInf(f, 0) {
					return nil, fmt.Errorf("%g as float32: %w", f, ErrRange)
				}
				binary.BigEndian.PutUint32(b, math.Float32bits(float32(f)))
				b = b[:4]
			}
			return toWire(b), nil
		}
		return c, nil
	}
	// Integers.
	signed := t == TypeInt16 || t == TypeInt32 || t == TypeInt64
	var read func(b []byte) uint64
	var lo, hi float64 // representable range for scaled writes
	var ilo int64
	var uhi uint64
	switch n {
	case 1:
		read = func(b []byte) uint64 { return uint64(binary.BigEndian.Uint16(b)) }
	case 2:
		read = func(b []byte) uint64 { return uint64(binary.BigEndian.Uint32(b)) }
	default:
		read = binary.BigEndian.Uint64
	}
	bits := 16 * n
	if signed {
		ilo, uhi = -1<<(bits-1), 1<<(bits-1)-1
	} else {
		ilo, uhi = 0, 1<<bits-1
		if bits == 64 {
			uhi = math.MaxUint64
		}
	}
	lo, hi = float64(ilo), float64(uhi)
	// signExtend turns the raw bits into an int64 for signed types.
	shift := 64 - bits
	c.Decode = func(wire []byte) gateway.Value {
		var buf [8]byte
		u := read(be(wire, &buf))
		if signed {
			i := int64(u<<shift) >> shift
			if scaled {
				return gateway.Float(tidy(float64(i)*scale + offset))
			}
			return gateway.Int(i)
		}
		if scaled {
			return gateway.Float(tidy(float64(u)*scale + offset))
		}
		return gateway.Uint(u)
	}
	put := func(u uint64) []byte {
		b := make([]byte, 8)
		binary.BigEndian.PutUint64(b, u)
		return toWire(b[8-2*n:])
	}
	c.Encode = func(v gateway.Value) ([]byte, error) {
		if scaled || v.Kind() == gateway.KindFloat {
			f, ok := v.Float64()
			if !ok || v.Kind() == gateway.KindString {
				return nil, fmt.Errorf("%v point: %v value: %w", t, v.Kind(), ErrType)
			}
			r := math.Round((f - offset) / scale)
			// hi of a 64-bit type rounds up to 2^63 or 2^64, which is out of range.
			if math.IsNaN(r) || r < lo || r > hi || (bits == 64 && r == hi) {
				return nil, fmt.Errorf("%g as %v: %w", r, t, ErrRange)
			}
			if signed {
				return put(uint64(int64(r))), nil
			}
			return put(uint64(r)), nil
		}
		if signed {
			i, ok := v.Int64()
			if !ok {
				if v.Kind() == gateway.KindUint {
					return nil, fmt.Errorf("%v as %v: %w", v, t, ErrRange)
				}
				return nil, fmt.Errorf("%v point: %v value: %w", t, v.Kind(), ErrType)
			}
			if i < ilo || (i > 0 && uint64(i) > uhi) {
				return nil, fmt.Errorf("%d as %v: %w", i, t, ErrRange)
			}
			return put(uint64(i)), nil
		}
		u, ok := v.Uint64()
		if !ok {
			if v.Kind() == gateway.KindInt {
				return nil, fmt.Errorf("%v as %v: %w", v, t, ErrRange)
			}
			return nil, fmt.Errorf("%v point: %v value: %w", t, v.Kind(), ErrType)
		}
		if u > uhi {
			return nil, fmt.Errorf("%d as %v: %w", u, t, ErrRange)
		}
		return put(u), nil
	}
	return c, nil
}

// EncodeBit returns register (2 bytes in wire order) with bit set to v, for
// a read-modify-write of a bit-of-register point.
func EncodeBit(o ByteOrder, register []byte, bit int, v gateway.Value) ([]byte, error) {
	on, err := boolOf(v)
	if err != nil {
		return nil, err
	}
	var be [2]byte
	o.Reorder(be[:], register)
	r := binary.BigEndian.Uint16(be[:])
	if on {
		r |= 1 << bit
	} else {
		r &^= 1 << bit
	}
	binary.BigEndian.PutUint16(be[:], r)
	out := make([]byte, 2)
	o.Reorder(out, be[:])
	return out, nil
}

// boolOf accepts a bool, or a number that is 0 or 1.
func boolOf(v gateway.Value) (bool, error) {
	if b, ok := v.AsBool(); ok {
		return b, nil
	}
	if f, ok := v.Float64(); ok && v.Kind() != gateway.KindString && (f == 0 || f == 1) {
		return f == 1, nil
	}
	return false, fmt.Errorf("bool point: %v value %v: %w", v.Kind(), v, ErrType)
}

// shortest32 widens a float32 to the float64 of its shortest decimal form,
// so 12.5003 read from a float32 register is published as 12.5003 and not as
// 12.500300407409668, digits the register never had.
func shortest32(f float32) float64 {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return float64(f)
	}
	d, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		return float64(f) // FormatFloat's output always parses
	}
	return d
}

// tidy rounds a scaled value to 12 significant digits, removing the binary
// noise of scaling (450*0.1 is 45.000000000000004 in float64) while keeping
// far more precision than any register holds.
func tidy(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
		return f
	}
	d, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 12, 64), 64)
	if err != nil {
		return f // FormatFloat's output always parses
	}
	return d
}
