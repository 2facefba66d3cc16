package config

import (
	"regexp"
	"strconv"
	"strings"
)

// locator maps key paths to the lines that define them, so that problems
// found after decoding (unknown keys, bad values) can name their line.
// github.com/BurntSushi/toml's MetaData has no positions, and its Undecoded
// keys carry no array indices, so the locator reads the source itself. It
// understands what config files contain (tables, arrays of tables, key =
// value lines, multi-line strings and arrays) and is only ever used for
// positions, never for values: a construct it misreads costs a line number,
// never a wrong config.
type locator struct {
	lines map[string]int      // "devices[0].points[1].wave" -> 1-based line
	bare  map[string][]string // "devices.points.wave" -> indexed keys, in file order
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

func bareKey(k string) string { return indexRE.ReplaceAllString(k, "") }

func newLocator(src string) *locator {
	l := &locator{lines: map[string]int{}, bare: map[string][]string{}}
	current := map[string]string{} // bare array-of-tables path -> its latest element
	count := map[string]int{}      // resolved array path -> elements so far
	table := ""
	var inString string // the closing delimiter of a multi-line string
	depth := 0          // open brackets of a multi-line array

	resolve := func(parts []string) string {
		out := ""
		for i, p := range parts {
			bare := strings.Join(parts[:i+1], ".")
			if r, ok := current[bare]; ok {
				out = r
				continue
			}
			if out != "" {
				out += "."
			}
			out += p
		}
		return out
	}

	for n, raw := range strings.Split(src, "\n") {
		lineNo := n + 1
		s := strings.TrimSpace(raw)
		if inString != "" {
			if strings.Contains(s, inString) {
				inString = ""
			}
			continue
		}
		if depth > 0 {
			depth += bracketDepth(s)
			continue
		}
		switch {
		case s == "" || s[0] == '#':
			continue
		case strings.HasPrefix(s, "[["):
			end := strings.Index(s, "]]")
			if end < 0 {
				continue
			}
			parts := splitKey(s[2:end])
			if len(parts) == 0 {
				continue
			}
			parent := resolve(parts[:len(parts)-1])
			full := parts[len(parts)-1]
			if parent != "" {
				full = parent + "." + full
			}
			idx := count[full]
			count[full]++
			table = full + "[" + strconv.Itoa(idx) + "]"
			b := strings.Join(parts, ".")
			current[b] = table
			for k := range current {
				if strings.HasPrefix(k, b+".") {
					delete(current, k)
				}
			}
			l.record(table, lineNo)
		case s[0] == '[':
			end := strings.LastIndex(s, "]")
			if end < 0 {
				continue
			}
			table = resolve(splitKey(s[1:end]))
			l.record(table, lineNo)
		default:
			eq := keyEnd(s)
			if eq < 0 {
				continue
			}
			key := strings.Join(splitKey(s[:eq]), ".")
			if table != "" {
				key = table + "." + key
			}
			l.record(key, lineNo)
			val := strings.TrimSpace(s[eq+1:])
			for _, q := range []string{`"""`, `'''`} {
				if strings.HasPrefix(val, q) && !strings.Contains(val[3:], q) {
					inString = q
				}
			}
			if strings.HasPrefix(val, "[") {
				depth = bracketDepth(val)
			}
		}
	}
	return l
}

func (l *locator) record(key string, line int) {
	if _, ok := l.lines[key]; ok {
		return
	}
	l.lines[key] = line
	b := bareKey(key)
	l.bare[b] = append(l.bare[b], key)
}

// line returns the line of key or of its nearest ancestor that has one.
func (l *locator) line(key string) int {
	for key != "" {
		if n, ok := l.lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// occurrences returns every indexed key whose bare form is bare.
func (l *locator) occurrences(bare string) []string { return l.bare[bare] }

// splitKey splits a dotted TOML key, honouring quotes.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

// keyEnd returns the index of the '=' that ends the key on a key/value line.
func keyEnd(s string) int {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		case c == '#':
			return -1
		}
	}
	return -1
}

// bracketDepth returns how many '[' on the line are not closed on it,
// ignoring brackets inside strings and comments.
func bracketDepth(s string) int {
	d := 0
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return d
		case c == '[':
			d++
		case c == ']':
			d--
		}
	}
	return d
}
