package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/edgegw/gateway"
)

// ErrInvalidCommand is matched (with errors.Is) by every error that rejects
// a command payload: not parseable, of the wrong type, or out of range. Its
// message is the reason alone, e.g. `"abc": want a number` or
// `25: above max 22`.
var ErrInvalidCommand = errors.New("invalid command")

// invalidError is an ErrInvalidCommand with its reason.
type invalidError struct{ reason string }

func (e *invalidError) Error() string        { return e.reason }
func (e *invalidError) Is(target error) bool { return target == ErrInvalidCommand }

func invalid(format string, args ...any) error {
	return &invalidError{reason: fmt.Sprintf(format, args...)}
}

// maxQuoted is how much of a rejected payload an error message repeats.
const maxQuoted = 40

// quote returns s in Go quotes, shortened to maxQuoted bytes.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}

// CommandSpec describes the commands one point accepts.
type CommandSpec struct {
	Device, Point, Unit string
	// Kind is the kind of value the point takes: gateway.KindBool,
	// KindString, KindInt, KindUint or KindFloat. KindNone means KindFloat.
	Kind gateway.Kind
	// Min and Max, when set, bound a numeric command's value (inclusive).
	Min, Max *float64
	// Writable says whether the point accepts commands at all.
	Writable bool
	// CommandTopic is the topic template commands arrive on (see
	// ExpandTopic); "" means DefaultCommandTopic.
	CommandTopic string
}

// kind returns the spec's kind with KindNone resolved.
func (s *CommandSpec) kind() gateway.Kind {
	if s.Kind == gateway.KindNone {
		return gateway.KindFloat
	}
	return s.Kind
}

// check reports whether the spec's kind and range make sense.
func (s *CommandSpec) check() error {
	k := s.kind()
	switch k {
	case gateway.KindFloat, gateway.KindInt, gateway.KindUint, gateway.KindBool, gateway.KindString:
	default:
		return fmt.Errorf("kind %v: want float, int, uint, bool or string", k)
	}
	for _, b := range []struct {
		name string
		v    *float64
	}{{"min", s.Min}, {"max", s.Max}} {
		switch {
		case b.v == nil:
		case !numeric(k):
			return fmt.Errorf("%s: only a numeric point has a range, and this one is %v", b.name, k)
		case math.IsNaN(*b.v):
			return fmt.Errorf("%s: want a number", b.name)
		}
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		return fmt.Errorf("min %s is above max %s", fmtFloat(*s.Min), fmtFloat(*s.Max))
	}
	return nil
}

// Parse parses a command payload for the point and checks it against the
// point's kind and range (not its writability; see Commands.Route). The
// payload is a plain value (21.5, -3, 0x10, true, off, some text) or a
// JSON object {"value": ..}; surrounding white space is ignored except in
// a string point's plain payload. Bool points take true/false, on/off and
// 1/0; integer points take decimal, 0x, 0o and 0b forms and integral
// decimals such as 21.0. An error matches ErrInvalidCommand.
func (s *CommandSpec) Parse(payload []byte) (gateway.Value, error) {
	text, err := commandText(payload, s.kind() == gateway.KindString)
	if err != nil {
		return gateway.Value{}, err
	}
	v, err := parseValue(s.kind(), text)
	if err != nil {
		return gateway.Value{}, err
	}
	if f, ok := v.Float64(); ok && numeric(v.Kind()) {
		if s.Min != nil && f < *s.Min {
			return gateway.Value{}, invalid("%s: below min %s", text, fmtFloat(*s.Min))
		}
		if s.Max != nil && f > *s.Max {
			return gateway.Value{}, invalid("%s: above max %s", text, fmtFloat(*s.Max))
		}
	}
	return v, nil
}

// commandText returns the value's text from a payload: the payload itself,
// a JSON string's contents, or the "value" of a JSON object.
func commandText(payload []byte, str bool) (string, error) {
	t := bytes.TrimSpace(payload)
	switch {
	case len(t) == 0 && str:
		return string(payload), nil
	case len(t) == 0:
		return "", invalid("empty payload: want a value or {\"value\": ..}")
	case t[0] == '{':
		var obj struct {
			Value json.RawMessage `json:"value"`
		}
		d := json.NewDecoder(bytes.NewReader(t))
		d.DisallowUnknownFields()
		if err := d.Decode(&obj); err != nil || d.More() {
			if err == nil {
				err = errors.New("data after the object")
			}
			return "", invalid("%s: want {\"value\": ..}: %v", quote(string(t)), err)
		}
		raw := bytes.TrimSpace(obj.Value)
		if len(raw) == 0 || string(raw) == "null" {
			return "", invalid("%s: no \"value\"", quote(string(t)))
		}
		if raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", invalid("%s: %v", quote(string(raw)), err)
			}
			return s, nil
		}
		return string(raw), nil
	case t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err == nil {
			return s, nil
		}
	}
	if str {
		return string(payload), nil
	}
	return string(t), nil
}

// parseValue parses text as a value of kind k.
func parseValue(k gateway.Kind, text string) (gateway.Value, error) {
	switch k {
	case gateway.KindString:
		return gateway.String(text), nil
	case gateway.KindBool:
		switch strings.ToLower(text) {
		case "true", "on", "1":
			return gateway.Bool(true), nil
		case "false", "off", "0":
			return gateway.Bool(false), nil
		}
		return gateway.Value{}, invalid("%s: want true, false, on, off, 1 or 0", quote(text))
	case gateway.KindInt:
		if i, err := strconv.ParseInt(text, 0, 64); err == nil {
			return gateway.Int(i), nil
		}
		f, ok := parseFloat(text)
		switch {
		case !ok:
			return gateway.Value{}, invalid("%s: want an integer", quote(text))
		case f != math.Trunc(f):
			return gateway.Value{}, invalid("%s: want an integer", text)
		case f < math.MinInt64 || f >= math.MaxInt64:
			return gateway.Value{}, invalid("%s: out of range for an integer", text)
		}
		return gateway.Int(int64(f)), nil
	case gateway.KindUint:
		if u, err := strconv.ParseUint(text, 0, 64); err == nil {
			return gateway.Uint(u), nil
		}
		f, ok := parseFloat(text)
		switch {
		case !ok:
			return gateway.Value{}, invalid("%s: want an integer", quote(text))
		case f != math.Trunc(f):
			return gateway.Value{}, invalid("%s: want an integer", text)
		case f < 0:
			return gateway.Value{}, invalid("%s: want an integer >= 0", text)
		case f >= math.MaxUint64:
			return gateway.Value{}, invalid("%s: out of range for an integer", text)
		}
		return gateway.Uint(uint64(f)), nil
	}
	f, ok := parseFloat(text)
	if !ok {
		return gateway.Value{}, invalid("%s: want a number", quote(text))
	}
	return gateway.Float(f), nil
}

// parseFloat parses a finite number, also in the integer forms 0x10, 0o17
// and 0b101 that strconv.ParseFloat does not take.
func parseFloat(text string) (float64, bool) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		i, ierr := strconv.ParseInt(text, 0, 64)
		if ierr != nil {
			return 0, false
		}
		f = float64(i)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
