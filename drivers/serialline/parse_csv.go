package serialline

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
)

// CSVParser parses delimited lines whose columns are named by Columns. Quoted
// fields follow RFC 4180; a line with another number of columns, or one that
// repeats the column names (a header a device prints at start-up), is an
// error. A column named "" or "_" is skipped.
type CSVParser struct {
	Columns   []string
	Delimiter rune // e.g. ',' or ';'
}

var _ Parser = CSVParser{}

// Parse implements Parser.
func (p CSVParser) Parse(line string) (Fields, error) {
	r := csv.NewReader(strings.NewReader(line))
	r.Comma = p.Delimiter
	r.FieldsPerRecord = -1 // checked below, with a clearer message
	r.TrimLeadingSpace = true
	rec, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	if _, err := r.Read(); err == nil {
		return nil, errors.New("csv: more than one record in the line")
	}
	if len(rec) != len(p.Columns) {
		return nil, fmt.Errorf("csv: %d columns: want %d (%s)", len(rec), len(p.Columns), strings.Join(p.Columns, string(p.Delimiter)))
	}
	header := true
	f := make(Fields, len(rec))
	for i, s := range rec {
		name := p.Columns[i]
		if skipColumn(name) {
			continue
		}
		s = strings.TrimSpace(s)
		header = header && s == name
		f[name] = scalar(s)
	}
	if header {
		return nil, errors.New("csv: header line")
	}
	return f, nil
}

// skipColumn reports whether a CSV column of this name is ignored.
func skipColumn(name string) bool { return name == "" || name == "_" }
