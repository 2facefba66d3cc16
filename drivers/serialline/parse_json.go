package serialline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/edgegw/gateway"
)

// JSONParser parses lines holding one JSON object. Nested objects give the
// fields "outer.inner", arrays "name.0", "name.1"; numbers become floats,
// booleans booleans, strings strings and null a value of KindNone (which a
// point reports as a bad reading).
type JSONParser struct{}

var _ Parser = JSONParser{}

// Parse implements Parser.
func (JSONParser) Parse(line string) (Fields, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("json: data after the object: want one object per line")
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("json: got %s: want an object {...}", jsonKind(top))
	}
	f := make(Fields, len(obj))
	flattenJSON(f, "", obj)
	return f, nil
}

func flattenJSON(f Fields, prefix string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			flattenJSON(f, joinKey(prefix, k), e)
		}
	case []any:
		for i, e := range v {
			flattenJSON(f, joinKey(prefix, strconv.Itoa(i)), e)
		}
	case json.Number:
		if x, err := strconv.ParseFloat(string(v), 64); err == nil {
			f[prefix] = gateway.Float(x)
		} else {
			// Out of float64 range: keep the text, a numeric point reports it.
			f[prefix] = gateway.String(string(v))
		}
	case bool:
		f[prefix] = gateway.Bool(v)
	case string:
		f[prefix] = gateway.String(v)
	case nil:
		f[prefix] = gateway.Value{}
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "null"
}
