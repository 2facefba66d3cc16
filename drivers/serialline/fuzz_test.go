package serialline

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/edgegw/gateway"
)

// The fuzz targets are seeded from the golden tables of parse_test.go and
// check that a parser never panics and keeps its invariants.

func seed(f *testing.F, cases ...[]parseCase) {
	for _, cs := range cases {
		for _, c := range cs {
			f.Add(c.line)
		}
	}
}

func FuzzJSON(f *testing.F) {
	seed(f, jsonCases)
	f.Fuzz(func(t *testing.T, line string) {
		got, err := JSONParser{}.Parse(line)
		if err != nil {
			return
		}
		if !json.Valid([]byte(line)) {
			t.Fatalf("Parse(%q) accepted invalid JSON", line)
		}
		again, _ := JSONParser{}.Parse(line)
		if !maps.EqualFunc(got, again, gateway.Value.Equal) {
			t.Fatalf("Parse(%q) not deterministic: %v then %v", line, got, again)
		}
	})
}

func FuzzKV(f *testing.F) {
	seed(f, kvCases, kvCommaCases)
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range []KVParser{{PairSeparator: " ", KVSeparator: "="}, {PairSeparator: ",", KVSeparator: ":"}} {
			got, err := p.Parse(line)
			if err != nil {
				continue
			}
			// Writing the fields back as pairs and parsing them again
			// gives the same fields.
			var pairs []string
			for _, k := range slices.Sorted(maps.Keys(got)) {
				pairs = append(pairs, k+p.KVSeparator+got[k].String())
			}
			back := strings.Join(pairs, p.PairSeparator)
			again, err := p.Parse(back)
			if err != nil {
				t.Fatalf("Parse(%q) = %v, but its round trip %q: %v", line, got, back, err)
			}
			if !maps.EqualFunc(got, again, gateway.Value.Equal) {
				t.Fatalf("Parse(%q) = %#v, round trip %q = %#v", line, got, back, again)
			}
		}
	})
}

func FuzzCSV(f *testing.F) {
	seed(f, csvCases)
	p := CSVParser{Columns: []string{"t", "h", "status"}, Delimiter: ','}
	f.Fuzz(func(t *testing.T, line string) {
		got, err := p.Parse(line)
		if err != nil {
			return
		}
		if len(got) != len(p.Columns) {
			t.Fatalf("Parse(%q) = %v: want %d fields", line, got, len(p.Columns))
		}
		// Writing the record back with encoding/csv and parsing it
		// again gives the same fields.
		rec := make([]string, len(p.Columns))
		for i, c := range p.Columns {
			rec[i] = got[c].String()
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Comma = p.Delimiter
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		back := strings.TrimSuffix(b.String(), "\n")
		again, err := p.Parse(back)
		if err != nil {
			t.Fatalf("Parse(%q) = %v, but its round trip %q: %v", line, got, back, err)
		}
		if !maps.EqualFunc(got, again, gateway.Value.Equal) {
			t.Fatalf("Parse(%q) = %#v, round trip %q = %#v", line, got, back, again)
		}
	})
}

func FuzzRegex(f *testing.F) {
	seed(f, regexCases)
	p, err := NewRegexParser(regexPattern)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got, err := p.Parse(line)
		if err != nil {
			return
		}
		for name, v := range got {
			if name != "t" && name != "h" {
				t.Fatalf("Parse(%q): field %q is not a group of the pattern", line, name)
			}
			if !strings.Contains(line, v.String()) && v.Kind() == gateway.KindString {
				t.Fatalf("Parse(%q): field %q = %q is not from the line", line, name, v)
			}
		}
	})
}
