package serialline

import (
	"errors"
	"fmt"
	"strings"
)

// KVParser parses lines of key/value pairs such as "t=21.5 h=40". Pairs are
// split at PairSeparator (a blank separator " " splits at any run of blanks),
// then each pair at the first KVSeparator; blanks around keys and values are
// dropped. Values are not quoted, so they cannot contain a separator.
type KVParser struct {
	PairSeparator string // between pairs, e.g. " ", "," or ";"
	KVSeparator   string // between key and value, e.g. "=" or ":"
}

var _ Parser = KVParser{}

// Parse implements Parser.
func (p KVParser) Parse(line string) (Fields, error) {
	var pairs []string
	if strings.TrimSpace(p.PairSeparator) == "" {
		pairs = strings.Fields(line)
	} else {
		pairs = strings.Split(line, p.PairSeparator)
	}
	f := make(Fields, len(pairs))
	for i, pair := range pairs {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue // "a=1,,b=2" or a trailing separator
		}
		k, v, ok := strings.Cut(pair, p.KVSeparator)
		if !ok {
			return nil, fmt.Errorf("kv: pair %d %q: no %q between key and value", i+1, clip(pair), p.KVSeparator)
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("kv: pair %d %q: empty key", i+1, clip(pair))
		}
		f[k] = scalar(strings.TrimSpace(v))
	}
	if len(f) == 0 {
		return nil, errors.New("kv: no key/value pairs")
	}
	return f, nil
}

// clip shortens s for an error message about a line.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
