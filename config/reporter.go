package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Reporter receives the problems of one table of the config file, each at
// the key it is about, relative to the table. A driver's or component's
// validation reports through it and never returns error strings for the
// config to parse back: the config's Reporter places each problem at the
// line of the key itself; ErrReporter (for code that builds a
// configuration in Go) turns them into errors.
type Reporter interface {
	// Problem records a problem with key ("" for the table itself; a
	// dotted key such as "user_properties.site" names a key of a table
	// below, and each part is quoted where TOML would quote it);
	// format and args say what was found and what was expected (format is
	// fmt.Errorf's: a %w names a sentinel error the message is about).
	Problem(key, format string, args ...any)
	// Elem returns the Reporter of element i of the array of tables key
	// (e.g. "points"), whose name, if not "", is shown after its index.
	Elem(key string, i int, name string) Reporter
}

// Reporter returns a Reporter for the table at path.
func (p *Problems) Reporter(path Path) Reporter { return tableReporter{p: p, base: path} }

type tableReporter struct {
	p    *Problems
	base Path
}

func (r tableReporter) Problem(key, format string, args ...any) {
	path := r.base
	if key != "" {
		for k := range strings.SplitSeq(key, ".") {
			path = path.Key(k)
		}
	}
	r.p.Add(path, format, args...)
}

func (r tableReporter) Elem(key string, i int, name string) Reporter {
	return tableReporter{p: r.p, base: r.base.Index(key, i, name)}
}

// ErrReporter collects problems as errors, for configurations built in Go
// rather than read from a file. Each error reads `key: message`, prefixed
// by the array element it is in, e.g. `points[2] "temp": type: ...`.
type ErrReporter struct {
	prefix string
	errs   *[]error
}

// NewErrReporter returns an empty ErrReporter.
func NewErrReporter() *ErrReporter { return &ErrReporter{errs: new([]error)} }

// Problem implements Reporter. A %w in format wraps its error, for
// errors.Is.
func (r *ErrReporter) Problem(key, format string, args ...any) {
	err := fmt.Errorf(format, args...)
	if key != "" {
		err = fmt.Errorf("%s: %w", key, err)
	}
	if r.prefix != "" {
		err = fmt.Errorf("%s: %w", r.prefix, err)
	}
	*r.errs = append(*r.errs, err)
}

// Elem implements Reporter.
func (r *ErrReporter) Elem(key string, i int, name string) Reporter {
	p := key + "[" + strconv.Itoa(i) + "]"
	if name != "" {
		p += " " + strconv.Quote(name)
	}
	if r.prefix != "" {
		p = r.prefix + "." + p
	}
	return &ErrReporter{prefix: p, errs: r.errs}
}

// Err returns every problem joined with errors.Join, or nil.
func (r *ErrReporter) Err() error { return errors.Join(*r.errs...) }

// Count is a Reporter that only counts, for callers that need to know
// whether a part is valid without reporting it twice.
type Count struct{ N *int }

// Problem implements Reporter.
func (c Count) Problem(string, string, ...any) { *c.N++ }

// Elem implements Reporter.
func (c Count) Elem(string, int, string) Reporter { return c }

// OrList renders a, b or c.
func OrList(xs []string) string { return orList(xs) }

// Under returns a Reporter into the same list whose messages start with
// prefix (e.g. "device boiler").
func (r *ErrReporter) Under(prefix string) Reporter {
	if r.prefix != "" {
		prefix = r.prefix + ": " + prefix
	}
	return &ErrReporter{prefix: prefix, errs: r.errs}
}
