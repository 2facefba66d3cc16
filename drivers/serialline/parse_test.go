package serialline

import (
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/edgegw/gateway"
)

// parseCase is one golden line: the fields it gives, or an error containing
// wantErr.
type parseCase struct {
	name    string
	line    string
	want    Fields
	wantErr string
}

var (
	f  = gateway.Float
	s  = gateway.String
	bl = gateway.Bool
)

var jsonCases = []parseCase{
	{"flat", `{"t":21.5,"h":40}`, Fields{"t": f(21.5), "h": f(40)}, ""},
	{"nested", `{"env":{"t":-3.25,"in":{"h":1e2}}}`, Fields{"env.t": f(-3.25), "env.in.h": f(100)}, ""},
	{"array", `{"a":[1,[2,3],{"b":true}]}`, Fields{"a.0": f(1), "a.1.0": f(2), "a.1.1": f(3), "a.2.b": bl(true)}, ""},
	{"kinds", `{"ok":false,"id":"abc","n":null}`, Fields{"ok": bl(false), "id": s("abc"), "n": {}}, ""},
	{"blanks around", "  {\"t\": 1}\t ", Fields{"t": f(1)}, ""},
	{"empty object", `{}`, Fields{}, ""},
	{"huge number kept as text", `{"x":1e999}`, Fields{"x": s("1e999")}, ""},
	{"numeric string stays a string", `{"x":"21.5"}`, Fields{"x": s("21.5")}, ""},
	{"partial", `{"t":21.`, nil, "json: unexpected EOF"},
	{"two objects", `{"t":1}{"t":2}`, nil, "data after the object"},
	{"trailing garbage", `{"t":1} x`, nil, "data after the object"},
	{"array at top", `[1,2]`, nil, "got an array: want an object"},
	{"number at top", `42`, nil, "got a number"},
	{"garbage", "\x00\xff#@!", nil, "json: invalid character"},
	{"empty", ``, nil, "json: EOF"},
}

var kvCases = []parseCase{
	{"blank separated", "t=21.5 h=40", Fields{"t": f(21.5), "h": f(40)}, ""},
	{"runs of blanks and tabs", "  t=21.5 \t h=40  ", Fields{"t": f(21.5), "h": f(40)}, ""},
	{"kinds", "ok=true on=false id=A7 e=-1.5e3 dot=.5 end=5.", Fields{"ok": bl(true), "on": bl(false), "id": s("A7"), "e": f(-1500), "dot": f(0.5), "end": f(5)}, ""},
	{"not numbers", "a=NaN b=inf c=0x10 d=1_0 e=1e", Fields{"a": s("NaN"), "b": s("inf"), "c": s("0x10"), "d": s("1_0"), "e": s("1e")}, ""},
	{"empty value", "t= h=1", Fields{"t": s(""), "h": f(1)}, ""},
	{"value with separator", "url=a=b", Fields{"url": s("a=b")}, ""},
	{"last wins", "t=1 t=2", Fields{"t": f(2)}, ""},
	{"no separator", "t=21.5 garbage", nil, `pair 2 "garbage": no "="`},
	{"empty key", "=5", nil, "pair 1 \"=5\": empty key"},
	{"blank line", "   ", nil, "no key/value pairs"},
	{"banner", "Arduino ready", nil, `pair 1 "Arduino": no "="`},
}

var kvCommaCases = []parseCase{
	{"comma colon", "t:21.5,h:40", Fields{"t": f(21.5), "h": f(40)}, ""},
	{"blanks around", " t : 21.5 , h: 40 ,", Fields{"t": f(21.5), "h": f(40)}, ""},
	{"value with blank", "name:living room,t:20", Fields{"name": s("living room"), "t": f(20)}, ""},
	{"empty pairs", ",,t:1,,", Fields{"t": f(1)}, ""},
	{"wrong separator", "t=1,h=2", nil, `pair 1 "t=1": no ":"`},
}

var csvCases = []parseCase{
	{"plain", "21.5,40,ok", Fields{"t": f(21.5), "h": f(40), "status": s("ok")}, ""},
	{"blanks", " 21.5 , 40 ,  ok ", Fields{"t": f(21.5), "h": f(40), "status": s("ok")}, ""},
	{"quoted", `1,2,"a, ""b"""`, Fields{"t": f(1), "h": f(2), "status": s(`a, "b"`)}, ""},
	{"bool", "1,2,true", Fields{"t": f(1), "h": f(2), "status": bl(true)}, ""},
	{"empty field", "1,,x", Fields{"t": f(1), "h": s(""), "status": s("x")}, ""},
	{"too few", "21.5,40", nil, "2 columns: want 3 (t,h,status)"},
	{"too many", "1,2,3,4", nil, "4 columns: want 3"},
	{"header", "t,h,status", nil, "header line"},
	{"bad quote", `1,2,"abc`, nil, `extraneous or missing " in quoted-field`},
}

var csvSkipCases = []parseCase{
	{"skipped columns", "x;21.5;y;40", Fields{"t": f(21.5), "h": f(40)}, ""},
	{"header with skips", "a;t;b;h", nil, "header line"},
}

var regexCases = []parseCase{
	{"match", "T=21.5C H=40%", Fields{"t": f(21.5), "h": f(40)}, ""},
	{"optional group absent", "T=21.5C", Fields{"t": f(21.5)}, ""},
	{"embedded", "> T=-2C H=3% <", Fields{"t": f(-2), "h": f(3)}, ""},
	{"no match", "hello", nil, `regex: line "hello" does not match`},
}

const regexPattern = `T=(?P<t>-?[0-9.]+)C(?: H=(?P<h>[0-9.]+)%)?`

func parsers(t testing.TB) []struct {
	name  string
	p     Parser
	cases []parseCase
} {
	re, err := NewRegexParser(regexPattern)
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name  string
		p     Parser
		cases []parseCase
	}{
		{"json", JSONParser{}, jsonCases},
		{"kv", KVParser{PairSeparator: " ", KVSeparator: "="}, kvCases},
		{"kv comma", KVParser{PairSeparator: ",", KVSeparator: ":"}, kvCommaCases},
		{"csv", CSVParser{Columns: []string{"t", "h", "status"}, Delimiter: ','}, csvCases},
		{"csv skip", CSVParser{Columns: []string{"_", "t", "", "h"}, Delimiter: ';'}, csvSkipCases},
		{"regex", re, regexCases},
	}
}

func TestParsers(t *testing.T) {
	for _, ps := range parsers(t) {
		for _, tc := range ps.cases {
			t.Run(ps.name+"/"+tc.name, func(t *testing.T) {
				got, err := ps.p.Parse(tc.line)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.line, err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("Parse(%q): %v", tc.line, err)
				}
				if !maps.EqualFunc(got, tc.want, gateway.Value.Equal) {
					t.Errorf("Parse(%q)\n got %#v\nwant %#v", tc.line, got, tc.want)
				}
			})
		}
	}
}

func TestScalar(t *testing.T) {
	tests := []struct {
		in   string
		want gateway.Value
	}{
		{"0", f(0)}, {"-0", f(math.Copysign(0, -1))}, {"+1", f(1)}, {"1.25", f(1.25)},
		{".5", f(0.5)}, {"5.", f(5)}, {"1e3", f(1000)}, {"1E-2", f(0.01)}, {"2e+2", f(200)},
		{"true", bl(true)}, {"false", bl(false)}, {"True", s("True")},
		{"", s("")}, {".", s(".")}, {"-", s("-")}, {"e5", s("e5")}, {"1e", s("1e")},
		{"1e+", s("1e+")}, {"NaN", s("NaN")}, {"Inf", s("Inf")}, {"0x1p3", s("0x1p3")},
		{"1_000", s("1_000")}, {"1.2.3", s("1.2.3")}, {" 1", s(" 1")}, {"1e400", s("1e400")},
	}
	for _, tc := range tests {
		if got := scalar(tc.in); !got.Equal(tc.want) {
			t.Errorf("scalar(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}
