package serialline

import (
	"errors"
	"fmt"
	"time"

	"github.com/edgegw/gateway"
)

// Errors of a bad reading, checked with errors.Is on Reading.Err.
var (
	// ErrMissingField: the line does not carry the point's field (only
	// reported with Missing "bad").
	ErrMissingField = errors.New("field missing from line")
	// ErrNotNumber: a numeric point's field holds something else.
	ErrNotNumber = errors.New("value is not a number")
	// ErrNotBool: a bool point's field holds something else.
	ErrNotBool = errors.New("value is not a boolean")
	// ErrNull: the field is JSON null.
	ErrNull = errors.New("value is null")
)

// point is a compiled Point: the field it reads and a ready converter.
type point struct {
	name, field, unit string
	convert           func(gateway.Value) (gateway.Value, error)
	unconvert         func(gateway.Value) gateway.Value // for writes: the raw value
}

// compilePoint builds the converter of p; p is valid.
func compilePoint(p Point) point {
	scale := p.Scale
	if scale == 0 {
		scale = 1
	}
	offset := p.Offset
	cp := point{name: p.Name, field: p.field(), unit: p.Unit, unconvert: identity}
	typ := p.Type
	if typ == TypeAuto && (scale != 1 || offset != 0) {
		typ = TypeNumber
	}
	switch typ {
	case TypeAuto:
		cp.convert = func(v gateway.Value) (gateway.Value, error) { return v, nil }
	case TypeNumber:
		cp.convert = func(v gateway.Value) (gateway.Value, error) {
			switch v.Kind() {
			case gateway.KindFloat, gateway.KindInt, gateway.KindUint:
				f, _ := v.Float64() // always ok for these kinds
				return gateway.Float(f*scale + offset), nil
			}
			return gateway.Value{}, fmt.Errorf("%w: got %s", ErrNotNumber, describe(v))
		}
		cp.unconvert = func(v gateway.Value) gateway.Value {
			if f, ok := v.Float64(); ok {
				return gateway.Float((f - offset) / scale)
			}
			return v
		}
	case TypeBool:
		cp.convert = func(v gateway.Value) (gateway.Value, error) {
			if b, ok := v.AsBool(); ok {
				return gateway.Bool(b), nil
			}
			if f, ok := v.Float64(); ok && v.Kind() == gateway.KindFloat && (f == 0 || f == 1) {
				return gateway.Bool(f == 1), nil
			}
			return gateway.Value{}, fmt.Errorf("%w: got %s: want true, false, 0 or 1", ErrNotBool, describe(v))
		}
	case TypeString:
		cp.convert = func(v gateway.Value) (gateway.Value, error) { return gateway.String(v.String()), nil }
	}
	return cp
}

func identity(v gateway.Value) gateway.Value { return v }

// describe says what a value is, for an error message.
func describe(v gateway.Value) string {
	switch v.Kind() {
	case gateway.KindString:
		return fmt.Sprintf("string %q", clip(v.Str()))
	case gateway.KindNone:
		return "null"
	}
	return fmt.Sprintf("%s %s", v.Kind(), v)
}

// reading makes the reading of p from the fields of a line. ok is false when
// the line does not carry the field and missingBad is false.
func (p *point) reading(device string, f Fields, t time.Time, missingBad bool) (r gateway.Reading, ok bool) {
	r = gateway.Reading{Device: device, Point: p.name, Unit: p.unit, Time: t}
	v, found := f[p.field]
	switch {
	case !found && !missingBad:
		return r, false
	case !found:
		r.Quality, r.Err = gateway.QualityBad, fmt.Errorf("point %q: field %q: %w", p.name, p.field, ErrMissingField)
	case v.IsNone():
		r.Quality, r.Err = gateway.QualityBad, fmt.Errorf("point %q: field %q: %w", p.name, p.field, ErrNull)
	default:
		cv, err := p.convert(v)
		if err != nil {
			r.Quality, r.Err = gateway.QualityBad, fmt.Errorf("point %q: field %q: %w", p.name, p.field, err)
		} else {
			r.Value, r.Quality = cv, gateway.QualityGood
		}
	}
	return r, true
}
