package config

import (
	"strings"
	"testing"

	"github.com/edgegw/gateway/topic"
)

// echoes reports whether validating one subscribe and one forward rule
// refuses them as an echo.
func echoes(t *testing.T, s Subscribe, f Forward) bool {
	t.Helper()
	u := Upstream{Forward: []Forward{f}, Subscribe: []Subscribe{s}}
	p := &Problems{file: "config.toml"}
	u.validate(p)
	found := false
	for _, e := range p.errs {
		if strings.Contains(e.Msg, "own messages back") {
			found = true
		}
	}
	return found
}

func TestEchoes(t *testing.T) {
	sub := func(filter string) Subscribe { return Subscribe{Filter: filter} }
	tests := []struct {
		name string
		sub  Subscribe
		fwd  Forward
		want bool
	}{
		// What comes down is never forwarded: only the remote topics count.
		{"commands under the forwarded prefix", Subscribe{Filter: "cmd/pi/#", LocalPrefix: "pi"}, Forward{Filter: "pi/#", RemotePrefix: "sites/pi"}, false},
		{"commands on a forwarded topic", Subscribe{Filter: "cloud/pi/boiler/setpoint/set", LocalTopic: "pi/boiler/setpoint/set"}, Forward{Filter: "pi/#"}, false},
		{"the example", Subscribe{Filter: "sites/boiler-room/commands/#", LocalPrefix: "cloud"}, Forward{Filter: "pi-boiler-room/#", RemotePrefix: "sites/boiler-room"}, false},

		// remote_prefix: prefix/ and the whole local topic.
		{"prefix", sub("sites/pi/+/+/set"), Forward{Filter: "pi/#", RemotePrefix: "sites"}, true},
		{"prefix all", sub("#"), Forward{Filter: "pi/#", RemotePrefix: "sites"}, true},
		{"prefix parent level", sub("sites/pi"), Forward{Filter: "pi/#", RemotePrefix: "sites"}, true},
		{"prefix alone", sub("sites"), Forward{Filter: "pi/#", RemotePrefix: "sites"}, false},
		{"prefix not stripped", sub("sites/boiler/#"), Forward{Filter: "pi/#", RemotePrefix: "sites"}, false},
		{"prefix local filter", sub("pi/#"), Forward{Filter: "pi/#", RemotePrefix: "sites"}, false},
		{"prefix other level", sub("sites/+/cmd/#"), Forward{Filter: "pi/temp", RemotePrefix: "sites"}, false},
		{"prefix deep", sub("a/b/+/temp"), Forward{Filter: "pi/temp", RemotePrefix: "a/b"}, true},
		{"prefix #", sub("sites/+"), Forward{Filter: "#", RemotePrefix: "sites"}, true},
		{"prefix # one level at least", sub("sites"), Forward{Filter: "#", RemotePrefix: "sites"}, false},
		{"prefix trailing /", sub("sites/pi"), Forward{Filter: "pi/#", RemotePrefix: "sites/"}, true},
		{"prefix trailing /, no empty level", sub("sites//pi"), Forward{Filter: "pi/#", RemotePrefix: "sites/"}, false},
		{"prefix empty level", sub("sites//pi/#"), Forward{Filter: "/pi/#", RemotePrefix: "sites"}, true},
		{"prefix $ vs #", sub("#"), Forward{Filter: "#", RemotePrefix: "$aws/things/gw"}, false},
		{"prefix $ vs +", sub("+/things/#"), Forward{Filter: "#", RemotePrefix: "$aws/things/gw"}, false},
		{"prefix $ vs $", sub("$aws/things/+/#"), Forward{Filter: "#", RemotePrefix: "$aws/things/gw"}, true},

		// remote_topic: {topic} replaced by the local topic.
		{"fixed", sub("gw/+"), Forward{Filter: "pi/#", RemoteTopic: "gw/up"}, true},
		{"fixed parent level", sub("gw"), Forward{Filter: "pi/#", RemoteTopic: "gw/up"}, false},
		{"fixed other", sub("gw/down"), Forward{Filter: "pi/#", RemoteTopic: "gw/up"}, false},
		{"topic # in the middle", sub("dev/+/+/up"), Forward{Filter: "pi/#", RemoteTopic: "dev/{topic}/up"}, true},
		{"topic # in the middle, none", sub("dev/pi/up"), Forward{Filter: "pi/#", RemoteTopic: "dev/{topic}/up"}, true},
		{"topic # in the middle, deep", sub("dev/pi/a/b/c/up"), Forward{Filter: "pi/#", RemoteTopic: "dev/{topic}/up"}, true},
		{"topic other end", sub("dev/+/down"), Forward{Filter: "pi/#", RemoteTopic: "dev/{topic}/up"}, false},
		{"topic no end", sub("dev/pi"), Forward{Filter: "pi/#", RemoteTopic: "dev/{topic}/up"}, false},
		{"topic alone", sub("+/+"), Forward{Filter: "+/set", RemoteTopic: "{topic}"}, true},
		{"topic alone $", sub("$SYS/#"), Forward{Filter: "+/set", RemoteTopic: "{topic}"}, false},
		{"topic twice", sub("a/a"), Forward{Filter: "a", RemoteTopic: "{topic}/{topic}"}, true},
		{"topic twice, other", sub("a/b"), Forward{Filter: "a", RemoteTopic: "{topic}/{topic}"}, false},
		{"glued start", sub("gw-a/#"), Forward{Filter: "#", RemoteTopic: "gw-{topic}"}, true},
		{"glued start, prefix level", sub("gw/#"), Forward{Filter: "#", RemoteTopic: "gw-{topic}"}, false},
		{"glued start, one level", sub("+"), Forward{Filter: "#", RemoteTopic: "gw-{topic}"}, true},
		{"glued both, meeting ends", sub("abba"), Forward{Filter: "+", RemoteTopic: "ab{topic}ba"}, true},
		{"glued both, overlapping ends", sub("aba"), Forward{Filter: "+", RemoteTopic: "ab{topic}ba"}, false},
		{"glued end, wrong end", sub("a/b"), Forward{Filter: "a/#", RemoteTopic: "{topic}-up"}, false},
		{"glued $", sub("#"), Forward{Filter: "#", RemoteTopic: "${topic}"}, false},

		// Neither: the local topic itself.
		{"none", sub("pi/+/set"), Forward{Filter: "pi/#"}, true},
		{"none all", sub("#"), Forward{Filter: "pi/#"}, true},
		{"none parent level", sub("pi"), Forward{Filter: "pi/#"}, true},
		{"none other", sub("cmd/#"), Forward{Filter: "pi/#"}, false},
		{"none + vs #", sub("a/+"), Forward{Filter: "a/#"}, true},
		{"none + vs parent", sub("a/+"), Forward{Filter: "a"}, false},
		{"none +/+ vs +", sub("a/+/+"), Forward{Filter: "a/+"}, false},
		{"none # vs $", sub("#"), Forward{Filter: "$x/#"}, false},
		{"none $ vs +", sub("$SYS/#"), Forward{Filter: "+/broker/#"}, false},
		{"none $ vs $", sub("$SYS/#"), Forward{Filter: "$SYS/broker/+"}, true},

		// Rules with other problems are left to those; a subscribe rule is
		// checked unless its filter has one.
		{"bad subscribe filter", sub("a/#/b"), Forward{Filter: "#"}, false},
		{"bad forward filter", sub("#"), Forward{Filter: "#/a"}, false},
		{"forward both mappings", sub("#"), Forward{Filter: "a", RemotePrefix: "x", RemoteTopic: "x"}, false},
		{"wildcard in remote_prefix", sub("#"), Forward{Filter: "a", RemotePrefix: "x/+"}, false},
		{"wildcard in remote_topic", sub("#"), Forward{Filter: "a", RemoteTopic: "x/#"}, false},
		{"subscribe both mappings", Subscribe{Filter: "a", LocalPrefix: "x", LocalTopic: "x"}, Forward{Filter: "a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := echoes(t, tt.sub, tt.fwd); got != tt.want {
				t.Errorf("subscribe %+v, forward %+v: echo %v, want %v", tt.sub, tt.fwd, got, tt.want)
			}
		})
	}
}

func TestEchoMessage(t *testing.T) {
	src := `[upstream]
url = "mqtt://cloud.example.com:1883"

  [[upstream.forward]]
  filter = "pi/#"
  remote_prefix = "sites"

  [[upstream.subscribe]]
  filter = "sites/pi/+/+/set"
`
	_, err := Parse("config.toml", strings.NewReader(src), nil)
	want := `config.toml:9: upstream.subscribe[0].filter: "sites/pi/+/+/set" matches topics that upstream.forward[0] (line 5) publishes to ("sites/pi/#"): the upstream broker would send the gateway's own messages back to it; narrow one of the two, or set protocol_version = 5 (MQTT 5.0's No Local prevents it)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// topics returns every topic of 1 to 3 levels made of the given levels.
func topics(levels ...string) []string {
	var out []string
	tuples := [][]string{nil}
	for range 3 {
		var next [][]string
		for _, tu := range tuples {
			for _, l := range levels {
				next = append(next, append(tu[:len(tu):len(tu)], l))
			}
		}
		for _, tu := range next {
			if t := strings.Join(tu, "/"); t != "" { // [MQTT-4.7.3-1] a topic has at least one character
				out = append(out, t)
			}
		}
		tuples = next
	}
	return out
}

var (
	testLevels  = []string{"a", "cmd", "$x", ""}
	testFilters = []string{"#", "+", "a", "a/#", "a/+", "+/a", "+/+/#", "cmd/#", "$x/#", "$x/+", "a/+/#", "+/#", "/#", "cmd", "cmd/a/+"}
)

// TestFilterPattern checks the pattern of a filter against
// topic.Match, topic by topic.
func TestFilterPattern(t *testing.T) {
	for _, f := range testFilters {
		fp := filterPattern(f)
		for _, name := range topics(testLevels...) {
			want := topic.Match(f, name)
			if got := overlap(fp, pattern{levels: topicLevels(name)}); got != want {
				t.Errorf("filter %q, topic %q: pattern matches %v, topic.Match %v", f, name, got, want)
			}
		}
	}
}

// TestRemoteTopicMatchesUpstream pins remoteTopic, which the brute-force
// test relies on, to the mapping of upstream/topic.go.
func TestRemoteTopicMatchesUpstream(t *testing.T) {
	tests := []struct {
		f     Forward
		local string
		want  string
	}{
		{Forward{Filter: "#"}, "pi/temp", "pi/temp"},
		{Forward{Filter: "#", RemotePrefix: "sites"}, "pi/temp", "sites/pi/temp"},
		{Forward{Filter: "#", RemotePrefix: "sites/"}, "pi/temp", "sites/pi/temp"},
		{Forward{Filter: "#", RemotePrefix: "sites"}, "/pi", "sites//pi"},
		{Forward{Filter: "#", RemoteTopic: "dev/{topic}/up"}, "pi/temp", "dev/pi/temp/up"},
		{Forward{Filter: "#", RemoteTopic: "{topic}-{topic}"}, "a/b", "a/b-a/b"},
		{Forward{Filter: "#", RemoteTopic: "fixed"}, "pi/temp", "fixed"},
	}
	for _, tt := range tests {
		if got := remoteTopic(tt.f, tt.local); got != tt.want {
			t.Errorf("forward %+v, local %q: remote %q, want %q", tt.f, tt.local, got, tt.want)
		}
	}
}

// TestEchoesFindEveryEcho maps every sample local topic a forward rule
// sends upstream to its remote topic: whenever a subscribe filter matches
// that, the rule pair must be refused.
func TestEchoesFindEveryEcho(t *testing.T) {
	var fwds []Forward
	for _, f := range testFilters {
		fwds = append(fwds, Forward{Filter: f})
		for _, rp := range []string{"sites", "sites/", "a", "a/cmd", "$x"} {
			fwds = append(fwds, Forward{Filter: f, RemotePrefix: rp})
		}
		for _, rt := range []string{"cmd", "{topic}", "cmd/{topic}", "{topic}/a", "a/{topic}/cmd", "x{topic}", "{topic}x", "x{topic}x", "{topic}/{topic}", "${topic}"} {
			fwds = append(fwds, Forward{Filter: f, RemoteTopic: rt})
		}
	}
	locals := topics(testLevels...)
	subs := append(testFilters, "x/#", "+/x", "xa/+", "ax", "+/ax", "$a/#", "cmd/a", "a/cmd/#",
		"sites/#", "sites/+", "sites/a/#", "sites/+/a", "sites//#", "+/+/+/+", "a/a/#", "$x/a/#", "cmd/+/cmd")
	for _, f := range fwds {
		pats := forwardPatterns(f)
		refused := map[string]bool{} // by subscribe filter
		for _, local := range locals {
			if !topic.Match(f.Filter, local) {
				continue
			}
			remote := remoteTopic(f, local)
			held := false
			for _, p := range pats {
				held = held || overlap(p, pattern{levels: topicLevels(remote)})
			}
			if !held {
				t.Errorf("forward %+v: local %q goes up as %q, which its patterns do not hold", f, local, remote)
			}
			for _, s := range subs {
				if !topic.Match(s, remote) {
					continue
				}
				r, ok := refused[s]
				if !ok {
					r = echoes(t, Subscribe{Filter: s}, f)
					refused[s] = r
				}
				if !r {
					t.Errorf("forward %+v, subscribe %q: local %q goes up as %q and comes back down, but no echo was found", f, s, local, remote)
				}
			}
		}
	}
}

// TestEchoSkipsUnknownKeys: with remote_prefix misspelled the rule seems to
// send topics up unchanged; only the misspelling is reported.
func TestEchoSkipsUnknownKeys(t *testing.T) {
	src := `[upstream]
url = "mqtt://cloud.example.com:1883"

  [[upstream.forward]]
  filter = "pi/#"
  remote_prefx = "sites"

  [[upstream.subscribe]]
  filter = "pi/+/set"
`
	_, err := Parse("config.toml", strings.NewReader(src), nil)
	want := `config.toml:6: upstream.forward[0].remote_prefx: unknown key (did you mean "remote_prefix"?)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
