package topic

import (
	"errors"
	"slices"
	"testing"
)

func TestValidFilter(t *testing.T) {
	cases := []struct {
		filter string
		ok     bool
	}{
		{"#", true}, {"+", true}, {"a/+/b", true}, {"a/#", true}, {"+/+", true},
		{"/", true}, {"a//b", true}, {"/+", true}, {"$SYS/#", true},
		{"", false},       // [MQTT-4.7.3-1]
		{"a/#/b", false},  // [MQTT-4.7.1-2] '#' last
		{"a#", false},     // [MQTT-4.7.1-2] '#' alone in its level
		{"a/b#", false},   // [MQTT-4.7.1-2]
		{"a+/b", false},   // [MQTT-4.7.1-3] '+' alone in its level
		{"a/+b", false},   // [MQTT-4.7.1-3]
		{"a\x00b", false}, // [MQTT-1.5.3-2]
	}
	for _, tc := range cases {
		err := ValidFilter(tc.filter)
		if got := err == nil; got != tc.ok {
			t.Errorf("ValidFilter(%q) = %v, want ok=%v", tc.filter, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidFilter(%q) = %v, want ErrInvalid", tc.filter, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"a", "/", "a/b", "$SYS/x", " "} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "a/+", "#", "a/#"} { // [MQTT-4.7.3-1] [MQTT-3.3.2-2]
		if err := ValidName(name); err == nil {
			t.Errorf("ValidName(%q) = nil, want error", name)
		}
	}
}

var matchCases = []struct {
	filter, topic string
	want          bool
}{
	// Section 4.7.1.2 non-normative examples.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true}, // [MQTT-4.7.1-2] parent level
	{"#", "a/b/c", true},
	// Section 4.7.1.3 examples.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+", "a", true},
	{"a/b", "a/b", true},
	{"a/b", "a/c", false},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	// [MQTT-4.7.2-1] '$' topics and leading wildcards.
	{"#", "$SYS/uptime", false},
	{"+/uptime", "$SYS/uptime", false},
	{"$SYS/#", "$SYS/uptime", true},
	{"$SYS/+", "$SYS/uptime", true},
	{"a/#", "a/$x", true},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		if got := Match(tc.filter, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestTreeMatchAgreesWithMatch(t *testing.T) {
	var tr Tree[string, int]
	for i, tc := range matchCases {
		tr.Add(tc.filter, tc.filter, i)
	}
	topics := map[string]bool{}
	for _, tc := range matchCases {
		topics[tc.topic] = true
	}
	for topic := range topics {
		var got []string
		tr.Match(topic, func(k string, _ int) { got = append(got, k) })
		slices.Sort(got)
		var want []string
		for _, tc := range matchCases {
			if Match(tc.filter, topic) && !slices.Contains(want, tc.filter) {
				want = append(want, tc.filter)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Tree.Match(%q) = %q, want %q", topic, got, want)
		}
	}
}

func TestTreeAddRemove(t *testing.T) {
	var tr Tree[string, byte]
	if tr.Add("a/+", "c1", 1) {
		t.Error("first Add reported a replacement")
	}
	if !tr.Add("a/+", "c1", 2) {
		t.Error("second Add did not report a replacement")
	}
	tr.Add("a/#", "c2", 0)
	tr.Add("/x", "c3", 0)
	if got := tr.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
	if v, ok := tr.Get("a/+", "c1"); !ok || v != 2 {
		t.Errorf("Get(a/+, c1) = %d, %v; want 2, true", v, ok)
	}
	var walked []string
	tr.Walk(func(f, k string, _ byte) { walked = append(walked, f+"="+k) })
	slices.Sort(walked)
	if want := []string{"/x=c3", "a/#=c2", "a/+=c1"}; !slices.Equal(walked, want) {
		t.Errorf("Walk = %q, want %q", walked, want)
	}
	if !tr.Remove("a/+", "c1") || tr.Remove("a/+", "c1") {
		t.Error("Remove did not report once")
	}
	if tr.Remove("x/y/z", "c1") {
		t.Error("Remove of absent filter reported true")
	}
	n := 0
	tr.Match("a/b", func(string, byte) { n++ })
	if n != 1 {
		t.Errorf("after Remove, %d matches, want 1", n)
	}
	tr.Remove("a/#", "c2")
	tr.Remove("/x", "c3")
	if tr.Len() != 0 || len(tr.root.children) != 0 {
		t.Errorf("tree not empty after removing everything: len %d, children %d", tr.Len(), len(tr.root.children))
	}
}

func TestCovers(t *testing.T) {
	cases := []struct {
		outer, inner string
		want         bool
	}{
		{"#", "a/b", true},
		{"#", "#", true},
		{"a/#", "a/+/c", true},
		{"a/#", "a", true},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/b", "a/+", false},
		{"a/b", "a/b", true},
		{"a/+", "a/b/c", false},
		{"#", "$SYS/#", false}, // [MQTT-4.7.2-1]
		{"$SYS/#", "$SYS/broker/+", true},
	}
	for _, tc := range cases {
		if got := Covers(tc.outer, tc.inner); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.outer, tc.inner, got, tc.want)
		}
	}
}

func BenchmarkTreeMatch(b *testing.B) {
	var tr Tree[int, byte]
	for i := range 10000 {
		tr.Add("site/"+string(rune('a'+i%26))+"/dev"+string(rune('0'+i%10))+"/+", i, 1)
	}
	tr.Add("site/#", -1, 0)
	for b.Loop() {
		tr.Match("site/c/dev3/temp", func(int, byte) {})
	}
}

// FuzzMatch checks that the tree and Match agree, and that the validators
// never panic.
func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.filter, tc.topic)
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		if ValidFilter(filter) != nil || ValidName(name) != nil {
			return
		}
		var tr Tree[int, byte]
		tr.Add(filter, 1, 0)
		got := false
		tr.Match(name, func(int, byte) { got = true })
		if want := Match(filter, name); got != want {
			t.Fatalf("filter %q topic %q: tree %v, Match %v", filter, name, got, want)
		}
		if Match(filter, name) && !Covers(filter, name) {
			t.Fatalf("filter %q matches %q but does not cover it", filter, name)
		}
		if !tr.Remove(filter, 1) || tr.Len() != 0 {
			t.Fatalf("remove %q failed", filter)
		}
	})
}
