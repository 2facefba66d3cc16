package serialline

import (
	"fmt"
	"regexp"
)

// RegexParser parses lines with a regular expression: each named group that
// takes part in the match is a field. A line the expression does not match
// is an error.
type RegexParser struct {
	re *regexp.Regexp
}

var _ Parser = (*RegexParser)(nil)

// NewRegexParser compiles pattern (Go RE2 syntax, named groups written
// (?P<name>...) or (?<name>...)).
func NewRegexParser(pattern string) (*RegexParser, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("compile pattern: %w", err)
	}
	return &RegexParser{re: re}, nil
}

// Parse implements Parser.
func (p *RegexParser) Parse(line string) (Fields, error) {
	m := p.re.FindStringSubmatchIndex(line)
	if m == nil {
		return nil, fmt.Errorf("regex: line %q does not match %s", clip(line), p.re)
	}
	f := make(Fields)
	for i, name := range p.re.SubexpNames() {
		if name == "" || m[2*i] < 0 {
			continue
		}
		f[name] = scalar(line[m[2*i]:m[2*i+1]])
	}
	return f, nil
}
