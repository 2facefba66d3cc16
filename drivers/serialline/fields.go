package serialline

import (
	"strconv"

	"github.com/edgegw/gateway"
)

// Fields holds what a parser made of one line: field name to value.
type Fields map[string]gateway.Value

// Parser turns one line, without its terminator, into named fields. An error
// means the line is not in the parser's format (garbage or a partial line).
// Parsers keep no state between lines and are safe for concurrent use.
type Parser interface {
	Parse(line string) (Fields, error)
}

// scalar converts the text of a field to a value: a decimal number becomes a
// float, true and false become booleans, and anything else (including NaN,
// Inf and hexadecimal, which sensors do not mean as numbers) stays a string.
func scalar(s string) gateway.Value {
	switch s {
	case "true":
		return gateway.Bool(true)
	case "false":
		return gateway.Bool(false)
	}
	if isDecimal(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return gateway.Float(f)
		}
		// Out of float64 range: keep the text, a numeric point reports it.
	}
	return gateway.String(s)
}

// isDecimal reports whether s is [+-]digits[.digits][(e|E)[+-]digits], with
// digits on at least one side of the point.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
