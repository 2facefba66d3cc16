package mapping

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/edgegw/gateway"
)

// The JSON payloads are built by appending to one buffer, which keeps Map
// to a single allocation per payload. The output is what encoding/json
// would produce for the same values.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does:
// control characters, the quote and the backslash, and also <, >, & and
// U+2028/U+2029 so the payload is safe inside HTML and JavaScript; invalid
// UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendValue appends v as gateway.Value.MarshalJSON encodes it: a number,
// bool or string, and null for no value or a float JSON cannot represent.
func appendValue(b []byte, v gateway.Value) []byte {
	switch v.Kind() {
	case gateway.KindNone:
		return append(b, "null"...)
	case gateway.KindFloat:
		f, _ := v.Float64() // a float always converts
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
	case gateway.KindString:
		return appendString(b, v.Str())
	}
	return v.AppendText(b)
}

func appendBool(b []byte, ok bool) []byte { return strconv.AppendBool(b, ok) }
