package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Kind says which field of a Value is meaningful.
type Kind uint8

// The kinds of value a device point can hold.
const (
	KindNone   Kind = iota // no value (a bad or missing reading)
	KindFloat              // float64
	KindInt                // int64
	KindUint               // uint64 (64-bit counters do not fit an int64)
	KindBool               // bool
	KindString             // string
)

var kindNames = [...]string{"none", "float", "int", "uint", "bool", "string"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is the value of one device point. It is a small tagged union so that
// 64-bit integers keep their precision and the hot path allocates nothing.
// The zero Value has KindNone.
type Value struct {
	kind Kind
	bits uint64 // float64 bits, int64, uint64 or bool (0/1)
	str  string
}

// Float returns a float Value.
func Float(f float64) Value { return Value{kind: KindFloat, bits: math.Float64bits(f)} }

// Int returns a signed integer Value.
func Int(i int64) Value { return Value{kind: KindInt, bits: uint64(i)} }

// Uint returns an unsigned integer Value.
func Uint(u uint64) Value { return Value{kind: KindUint, bits: u} }

// Bool returns a boolean Value.
func Bool(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.bits = 1
	}
	return v
}

// String returns a string Value.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Kind reports which kind of value v holds.
func (v Value) Kind() Kind { return v.kind }

// IsNone reports whether v holds no value.
func (v Value) IsNone() bool { return v.kind == KindNone }

// Float64 returns v as a float64: booleans are 0 or 1, strings are parsed.
// ok is false when v has no numeric meaning.
func (v Value) Float64() (f float64, ok bool) {
	switch v.kind {
	case KindFloat:
		return math.Float64frombits(v.bits), true
	case KindInt:
		return float64(int64(v.bits)), true
	case KindUint:
		return float64(v.bits), true
	case KindBool:
		return float64(v.bits), true
	case KindString:
		f, err := strconv.ParseFloat(v.str, 64)
		return f, err == nil
	}
	return 0, false
}

// Int64 returns v as an int64 when it holds an integer (or a bool).
func (v Value) Int64() (int64, bool) {
	switch v.kind {
	case KindInt, KindBool:
		return int64(v.bits), true
	case KindUint:
		return int64(v.bits), v.bits <= math.MaxInt64
	}
	return 0, false
}

// Uint64 returns v as a uint64 when it holds an unsigned integer, a
// non-negative signed integer or a bool.
func (v Value) Uint64() (uint64, bool) {
	switch v.kind {
	case KindUint, KindBool:
		return v.bits, true
	case KindInt:
		return v.bits, int64(v.bits) >= 0
	}
	return 0, false
}

// AsBool returns v as a bool when it holds a bool.
func (v Value) AsBool() (b, ok bool) { return v.bits != 0, v.kind == KindBool }

// Str returns the string of a KindString value and "" otherwise; use String
// (the fmt.Stringer) for the text form of any value.
func (v Value) Str() string { return v.str }

// String formats v as plain text, the way the "value" payload format prints
// it: floats in the shortest form that round-trips, booleans as true/false,
// and an empty string for KindNone.
func (v Value) String() string {
	return string(v.AppendText(nil))
}

// AppendText appends the plain text form of v to b.
func (v Value) AppendText(b []byte) []byte {
	switch v.kind {
	case KindFloat:
		return strconv.AppendFloat(b, math.Float64frombits(v.bits), 'g', -1, 64)
	case KindInt:
		return strconv.AppendInt(b, int64(v.bits), 10)
	case KindUint:
		return strconv.AppendUint(b, v.bits, 10)
	case KindBool:
		return strconv.AppendBool(b, v.bits != 0)
	case KindString:
		return append(b, v.str...)
	}
	return b
}

// MarshalJSON encodes v as a JSON number, bool, string, or null for KindNone.
// A float that JSON cannot represent (NaN, ±Inf) is encoded as null.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.kind {
	case KindNone:
		return []byte("null"), nil
	case KindFloat:
		f := math.Float64frombits(v.bits)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return []byte("null"), nil
		}
	case KindString:
		return json.Marshal(v.str)
	}
	return v.AppendText(nil), nil
}

// Equal reports whether v and w hold the same kind and value.
func (v Value) Equal(w Value) bool { return v == w }

// GoString makes %#v readable in test failures.
func (v Value) GoString() string { return fmt.Sprintf("gateway.Value{%s %s}", v.kind, v.String()) }
