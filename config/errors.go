package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Path names a key in the config, with array indices and, where known, the
// name of the device or point an index stands for, so that messages read
// `devices[1] "boiler".points[3] "temp".byte_order`.
type Path struct {
	parts []pathPart
}

type pathPart struct {
	key   string
	index int    // -1 when the part is not an array element
	name  string // the element's name, shown after its index
}

// Key returns the path extended by a table key.
func (p Path) Key(k string) Path {
	return Path{parts: append(slices.Clip(p.parts), pathPart{key: k, index: -1})}
}

// Index returns the path extended by an array element; name may be "".
func (p Path) Index(k string, i int, name string) Path {
	return Path{parts: append(slices.Clip(p.parts), pathPart{key: k, index: i, name: name})}
}

// At starts a path at a top-level key.
func At(k string) Path { return Path{}.Key(k) }

// String renders the path for people. A key that is not a bare TOML key
// (a user property name with a space, say) is quoted, as TOML writes it.
func (p Path) String() string {
	var b strings.Builder
	for i, pp := range p.parts {
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(pp.key) {
			b.WriteString(pp.key)
		} else {
			b.WriteString(strconv.Quote(pp.key))
		}
		if pp.index >= 0 {
			b.WriteString("[" + strconv.Itoa(pp.index) + "]")
			if pp.name != "" {
				b.WriteString(" " + strconv.Quote(pp.name))
			}
		}
	}
	return b.String()
}

// isBareKey reports whether k may stand unquoted as a TOML key: ASCII
// letters, digits, '_' and '-' (TOML 1.0, "Keys").
func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// locKey is the path as the locator indexes it: keys and indices, no names.
func (p Path) locKey() string {
	var b strings.Builder
	for i, pp := range p.parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(pp.key)
		if pp.index >= 0 {
			b.WriteString("[" + strconv.Itoa(pp.index) + "]")
		}
	}
	return b.String()
}

// Error is one problem in a config file: where it is and what was expected.
type Error struct {
	File string // the file name as given to Load or Parse
	Line int    // 1-based; 0 when unknown
	Col  int    // 1-based; 0 when unknown
	Key  string // the key path, e.g. `devices[0] "boiler".interval`; "" for syntax errors
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a config file, in file order. Its Error
// method prints one problem per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Has reports whether a problem was found with the key at path (as
// Path.String renders it, e.g. `devices[1] "boiler".port`) or a key below
// it.
func (es Errors) Has(path string) bool {
	for _, e := range es {
		if e.Key == path || strings.HasPrefix(e.Key, path+".") || strings.HasPrefix(e.Key, path+"[") {
			return true
		}
	}
	return false
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Problems collects the errors found in one config file, each positioned by
// its key path. The zero value is not usable: get one from Config.Problems.
type Problems struct {
	file string
	loc  *locator
	errs Errors
}

// Add records a problem with the key at path; the message says what was
// found and what was expected.
func (p *Problems) Add(path Path, format string, args ...any) {
	p.addRaw(p.line(path), path.String(), fmt.Errorf(format, args...).Error()) // Errorf: a %w reads as %v
}

// line returns the line of the key at path (or of its nearest ancestor
// that has one), for messages that name a second key; 0 when unknown.
func (p *Problems) line(path Path) int {
	if p.loc == nil {
		return 0
	}
	return p.loc.line(path.locKey())
}

// has reports whether a problem was recorded for the key at path or a key
// below it.
func (p *Problems) has(path Path) bool {
	k := path.String()
	for _, e := range p.errs {
		if e.Key == k || strings.HasPrefix(e.Key, k+".") {
			return true
		}
	}
	return false
}

func (p *Problems) addRaw(line int, key, msg string) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: msg})
}

// Err returns the collected problems sorted by line, as Errors, or nil.
func (p *Problems) Err() error {
	if len(p.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(p.errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	return p.errs
}
