package modbus

import (
	"errors"
	"fmt"
	"strings"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// Register is the kind of Modbus data a point lives in (MBAP 4.3).
type Register uint8

// The four Modbus data kinds.
const (
	Coil     Register = iota // read/write bit, FC 1 / 5 / 15
	Discrete                 // read-only bit, FC 2
	Holding                  // read/write 16-bit register, FC 3 / 6 / 16
	Input                    // read-only 16-bit register, FC 4
)

var registerNames = [...]string{"coil", "discrete", "holding", "input"}

// ParseRegister parses coil, discrete, holding or input.
func ParseRegister(s string) (Register, error) {
	for i, n := range registerNames {
		if s == n {
			return Register(i), nil
		}
	}
	if s == "" {
		return 0, &KeyError{Key: "register", Msg: "missing: want coil, discrete, holding or input"}
	}
	return 0, &KeyError{Key: "register", Msg: fmt.Sprintf("%q: want coil, discrete, holding or input", s)}
}

// String returns the register kind's configuration name.
func (r Register) String() string {
	if int(r) < len(registerNames) {
		return registerNames[r]
	}
	return fmt.Sprintf("register(%d)", uint8(r))
}

// UnmarshalText parses the configuration name.
func (r *Register) UnmarshalText(b []byte) error {
	v, err := ParseRegister(string(b))
	*r = v
	return err
}

// MarshalText returns the configuration name.
func (r Register) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// IsBit reports whether the kind holds single bits (coils, discrete inputs).
func (r Register) IsBit() bool { return r == Coil || r == Discrete }

// Writable reports whether the kind can be written at all (MBAP 4.3).
func (r Register) Writable() bool { return r == Coil || r == Holding }

// ReadFunction is the function code that reads the kind (MBAP 6.1-6.4).
func (r Register) ReadFunction() frame.FunctionCode {
	return [...]frame.FunctionCode{frame.ReadCoils, frame.ReadDiscreteInputs, frame.ReadHoldingRegisters, frame.ReadInputRegisters}[r&3]
}

// maxRead is the most items one request of the kind may read.
func (r Register) maxRead() int {
	if r.IsBit() {
		return frame.MaxReadBits
	}
	return frame.MaxReadRegisters
}

// Type is the data type of a point.
type Type uint8

// The point data types.
const (
	TypeBool    Type = iota // a coil or discrete input
	TypeBit                 // bit N (0 = least significant) of a 16-bit register
	TypeInt16               // 1 register
	TypeUint16              // 1 register
	TypeInt32               // 2 registers
	TypeUint32              // 2 registers
	TypeInt64               // 4 registers
	TypeUint64              // 4 registers
	TypeFloat32             // 2 registers, IEEE 754 binary32
	TypeFloat64             // 4 registers, IEEE 754 binary64
	TypeString              // Length registers, 2 characters each, NUL/space padded
)

var typeNames = [...]string{"bool", "bit", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string"}

// ParseType parses a type name.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if s == n {
			return Type(i), nil
		}
	}
	return 0, &KeyError{Key: "type", Msg: fmt.Sprintf("%q: want %s or %s", s, strings.Join(typeNames[:len(typeNames)-1], ", "), typeNames[len(typeNames)-1])}
}

// String returns the type's configuration name.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// UnmarshalText parses the configuration name.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	*t = v
	return err
}

// MarshalText returns the configuration name.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Registers is the number of 16-bit registers a value of the type spans;
// length is the register count of a string. Bool spans no register (it is
// one coil or input).
func (t Type) Registers(length int) int {
	switch t {
	case TypeBool:
		return 0
	case TypeBit, TypeInt16, TypeUint16:
		return 1
	case TypeInt32, TypeUint32, TypeFloat32:
		return 2
	case TypeInt64, TypeUint64, TypeFloat64:
		return 4
	case TypeString:
		return length
	}
	return 0
}

// ByteOrder is how the bytes of a multi-register value are laid out on the
// wire. Its name lists the bytes of the big-endian value (A most significant)
// in the order they arrive: ABCD is big-endian (the Modbus convention, MBAP
// 4.2), DCBA little-endian, BADC big-endian words with their bytes swapped,
// CDAB little-endian words ("word swap"). The 8-byte names ABCDEFGH,
// HGFEDCBA, BADCFEHG and GHEFCDAB are the same four orders; either form
// applies to any width: for 16-bit values only a byte swap (DCBA, BADC)
// matters.
type ByteOrder uint8

// The four byte orders, as two independent swaps.
const (
	ABCD ByteOrder = 0                   // big-endian
	BADC ByteOrder = byteSwap            // bytes swapped in each word
	CDAB ByteOrder = wordSwap            // words in reverse order
	DCBA ByteOrder = byteSwap | wordSwap // little-endian

	byteSwap = 1
	wordSwap = 2
)

var byteOrderNames = map[string]ByteOrder{
	"ABCD": ABCD, "DCBA": DCBA, "BADC": BADC, "CDAB": CDAB,
	"ABCDEFGH": ABCD, "HGFEDCBA": DCBA, "BADCFEHG": BADC, "GHEFCDAB": CDAB,
}

// ByteOrders lists the four byte orders.
var ByteOrders = []ByteOrder{ABCD, DCBA, BADC, CDAB}

// ParseByteOrder parses a byte order name; "" is ABCD.
func ParseByteOrder(s string) (ByteOrder, error) {
	if s == "" {
		return ABCD, nil
	}
	if o, ok := byteOrderNames[strings.ToUpper(s)]; ok {
		return o, nil
	}
	return 0, &KeyError{Key: "byte_order", Msg: fmt.Sprintf("%q: want ABCD, DCBA, BADC or CDAB (or ABCDEFGH, HGFEDCBA, BADCFEHG or GHEFCDAB)", s)}
}

// String returns the 4-byte name.
func (o ByteOrder) String() string {
	return [...]string{"ABCD", "BADC", "CDAB", "DCBA"}[o&3]
}

// Name8 returns the 8-byte name.
func (o ByteOrder) Name8() string {
	return [...]string{"ABCDEFGH", "BADCFEHG", "GHEFCDAB", "HGFEDCBA"}[o&3]
}

// UnmarshalText parses the name.
func (o *ByteOrder) UnmarshalText(b []byte) error {
	v, err := ParseByteOrder(string(b))
	*o = v
	return err
}

// MarshalText returns the 4-byte name.
func (o ByteOrder) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Reorder copies src (bytes as on the wire, a whole number of registers) into
// dst in big-endian order. The operation is its own inverse, so it also turns
// big-endian bytes into wire order. dst and src must not overlap.
func (o ByteOrder) Reorder(dst, src []byte) {
	reorders[o&3](dst, src)
}

// reorders are chosen once per point at configuration time.
var reorders = [4]func(dst, src []byte){
	ABCD: func(dst, src []byte) { copy(dst, src) },
	BADC: func(dst, src []byte) {
		for i := 0; i+1 < len(src); i += 2 {
			dst[i], dst[i+1] = src[i+1], src[i]
		}
	},
	CDAB: func(dst, src []byte) {
		n := len(src)
		for i := 0; i+1 < n; i += 2 {
			dst[i], dst[i+1] = src[n-2-i], src[n-1-i]
		}
	},
	DCBA: func(dst, src []byte) {
		n := len(src)
		for i := range n {
			dst[i] = src[n-1-i]
		}
	},
}

// KeyError is a bad value of one config key: Key names it and Msg says what
// was found and what was expected.
type KeyError struct {
	Key, Msg string
}

func (e *KeyError) Error() string { return e.Key + " " + e.Msg }

// report reports err at its key when it is a *KeyError, else at the table.
func report(r config.Reporter, err error) {
	var ke *KeyError
	if errors.As(err, &ke) {
		r.Problem(ke.Key, "%s", ke.Msg)
		return
	}
	r.Problem("", "%v", err)
}
