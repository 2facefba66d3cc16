package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/edgegw/gateway"

	"github.com/edgegw/gateway/topic"
)

// A forward rule publishes local topics upstream; a subscribe rule brings
// remote topics home. What comes home is published on the local broker and
// never forwarded back up, so a subscribe rule's local topics may match a
// forward filter. But MQTT 3.1.1 has no "no local" subscription option: when
// a subscribe filter matches a remote topic a forward rule publishes to, the
// upstream broker sends the gateway's own messages straight back down to it.
// Every reading would come home as a duplicate, and a command a local client
// publishes on a forwarded topic would be executed twice. checkEchoes
// refuses such a pair of rules. MQTT 5.0 has the option: with
// protocol_version = 5 the subscribe rules subscribe with No Local, so the
// server never sends the gateway its own messages [MQTT-3.8.3-3], and the
// pair is allowed.
//
// What a forward rule publishes to is described by topic patterns. A pattern
// is like a topic filter, except that substituting a filter into "{topic}"
// in the middle of remote_topic can put # anywhere, and glue text to a
// wildcard ("gw-{topic}"), so a + level may carry a fixed start and end.

// checkEchoes reports every pair of a subscribe rule and a forward rule
// where the subscribe filter matches a remote topic the forward rule
// publishes to, at the subscribe rule's filter. Forward rules that already
// have a problem (a bad filter, both mappings set, an unknown key) are left
// out, as are subscribe rules whose filter has one: what they stand for is
// not known.
func (u *Upstream) checkEchoes(p *Problems) {
	if u.V5() {
		return // No Local [MQTT-3.8.3-3]
	}
	base := At("upstream")
	type forward struct {
		path   Path   // of the rule
		remote string // its remote topics, for people
		pats   []pattern
	}
	var fwds []forward
	for i, f := range u.Forward {
		fp := base.Index("forward", i, "")
		// A bad filter, both mappings or a remote topic with wildcards are
		// refused when the rules are compiled (upstream.Config.Check); such
		// a rule has no meaning here.
		if p.has(fp) || topic.ValidFilter(f.Filter) != nil || f.RemotePrefix != "" && f.RemoteTopic != "" ||
			strings.ContainsAny(f.RemotePrefix+f.RemoteTopic, "+#") {
			continue
		}
		fwds = append(fwds, forward{fp, remoteTopic(f, f.Filter), forwardPatterns(f)})
	}
	for i, s := range u.Subscribe {
		key := base.Index("subscribe", i, "").Key("filter")
		if p.has(key) || topic.ValidFilter(s.Filter) != nil {
			continue
		}
		sub := filterPattern(s.Filter)
		for _, f := range fwds {
			if !slices.ContainsFunc(f.pats, func(r pattern) bool { return overlap(sub, r) }) {
				continue
			}
			at := ""
			if n := p.line(f.path.Key("filter")); n > 0 {
				at = " (line " + strconv.Itoa(n) + ")"
			}
			p.Add(key, "%q matches topics that %s%s publishes to (%q): the upstream broker would send the gateway's own messages back to it; narrow one of the two, or set protocol_version = 5 (MQTT 5.0's No Local prevents it)",
				s.Filter, f.path, at, f.remote)
		}
	}
}

// remoteTopic maps a local topic by forward rule f (gateway.MapTopic, as the
// forwarder does): remote_topic with {topic} replaced, or remote_prefix
// joined to the whole local topic, or the local topic itself. Applied to the rule's filter it describes the rule's remote topics
// for people.
func remoteTopic(f Forward, local string) string {
	return gateway.MapTopic(f.RemoteTopic, f.RemotePrefix, local)
}

// levelKind says what a pattern level stands for.
type levelKind uint8

const (
	exact levelKind = iota // one level, equal to text
	one                    // one level, any text starting with pre and ending with suf (+)
	many                   // zero or more levels of any text (#)
)

// level is one level of a pattern.
type level struct {
	kind levelKind
	text string // exact: the level
	pre  string // one: the level starts with pre ...
	suf  string // ... and ends with suf, not overlapping
}

// pattern is a set of topics. # may stand at any position and always
// matches zero or more levels; where a filter's # must match at least one
// (a filter "#" matches no empty topic), the pattern says "+/#". The first
// level is never #: every topic has a first level, and the $ rule applies
// to it.
type pattern struct {
	levels   []level
	noDollar bool // no topic starts with $: the filter began with a wildcard [MQTT-4.7.2-1]
}

// topicLevels returns the exact levels of topic (or topic text) s.
func topicLevels(s string) []level {
	parts := strings.Split(s, "/")
	out := make([]level, len(parts))
	for i, t := range parts {
		out[i] = level{kind: exact, text: t}
	}
	return out
}

// filterPattern returns the topics a valid filter matches. "a/#" matches
// "a" too [MQTT-4.7.1-2], so a # after the first level matches zero or more
// levels; a leading # matches one or more.
func filterPattern(f string) pattern {
	var out []level
	for i, l := range strings.Split(f, "/") {
		switch {
		case l == "+":
			out = append(out, level{kind: one})
		case l == "#" && i == 0:
			out = append(out, level{kind: one}, level{kind: many})
		case l == "#":
			out = append(out, level{kind: many})
		default:
			out = append(out, level{kind: exact, text: l})
		}
	}
	return pattern{levels: out, noDollar: strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")}
}

// forwardPatterns returns patterns that together hold every remote topic
// forward rule f publishes to (see remoteTopic). They never miss one, and
// hold a few more only where two wildcards meet in one level
// ("{topic}{topic}"), or where a local topic that cannot start with $ does
// not start the remote topic (only the first level is checked for $).
func forwardPatterns(f Forward) []pattern {
	fp := filterPattern(f.Filter)
	switch {
	case f.RemoteTopic != "":
		return substitute(strings.Split(f.RemoteTopic, "{topic}"), fp)
	case f.RemotePrefix != "":
		// The prefix's text, with "/" when it needs one, then the topic.
		return substitute([]string{gateway.MapTopic("", f.RemotePrefix, ""), ""}, fp)
	default:
		return []pattern{fp}
	}
}

// substitute returns patterns holding every text made of frags with a topic
// of fp between each two (a template split at "{topic}").
func substitute(frags []string, fp pattern) []pattern {
	acc := [][]level{topicLevels(frags[0])}
	for _, frag := range frags[1:] {
		var next [][]level
		for _, a := range acc {
			for _, b := range concat(a, fp.levels) {
				next = append(next, concat(b, topicLevels(frag))...)
			}
		}
		acc = next
	}
	// The topic's first level stays first only when the template starts
	// with it.
	noDollar := frags[0] == "" && fp.noDollar
	out := make([]pattern, len(acc))
	for i, ls := range acc {
		out[i] = pattern{levels: ls, noDollar: noDollar}
	}
	return out
}

// concat returns patterns holding every concatenation of a topic (or text)
// from a with one from b: a's last level and b's first become one level.
func concat(a, b []level) [][]level {
	if x := a[len(a)-1]; x.kind == many {
		// Either # stands for one or more levels, the last of which takes
		// the glue, or for none, and the level before it does.
		head := a[:len(a)-1]
		out := concat(append(slices.Clip(head), level{kind: many}, level{kind: one}), b)
		return append(out, concat(orEmpty(head), b)...)
	}
	if y := b[0]; y.kind == many {
		tail := b[1:]
		out := concat(a, append([]level{{kind: one}, {kind: many}}, tail...))
		return append(out, concat(a, orEmpty(tail))...)
	}
	out := slices.Concat(a[:len(a)-1], []level{glue(a[len(a)-1], b[0])}, b[1:])
	return [][]level{out}
}

// orEmpty returns ls, or for no levels the empty text (one empty level),
// which glues to the next level without changing it.
func orEmpty(ls []level) []level {
	if len(ls) == 0 {
		return []level{{kind: exact}}
	}
	return ls
}

// glue returns the level made of level x directly followed by level y
// (neither is #).
func glue(x, y level) level {
	switch {
	case x.kind == exact && y.kind == exact:
		return level{kind: exact, text: x.text + y.text}
	case x.kind == exact:
		return level{kind: one, pre: x.text + y.pre, suf: y.suf}
	case y.kind == exact:
		return level{kind: one, pre: x.pre, suf: x.suf + y.text}
	default:
		// Two wildcards in one level: keep the outer ends, which holds
		// every such level and a few more.
		return level{kind: one, pre: x.pre, suf: y.suf}
	}
}

// overlap reports whether patterns a and b have a topic in common.
func overlap(a, b pattern) bool {
	al, bl := a.levels, b.levels
	noDollar := a.noDollar || b.noDollar
	// reach[i][j]: some sequence of levels matches both al[:i] and bl[:j].
	reach := make([][]bool, len(al)+1)
	for i := range reach {
		reach[i] = make([]bool, len(bl)+1)
	}
	reach[0][0] = true
	for i := 0; i <= len(al); i++ {
		for j := 0; j <= len(bl); j++ {
			if !reach[i][j] {
				continue
			}
			aMany := i < len(al) && al[i].kind == many
			bMany := j < len(bl) && bl[j].kind == many
			if aMany {
				reach[i+1][j] = true // # ends here
			}
			if bMany {
				reach[i][j+1] = true
			}
			if i == len(al) || j == len(bl) {
				continue
			}
			switch {
			case aMany && !bMany:
				reach[i][j+1] = true // # takes b's level and goes on
			case bMany && !aMany:
				reach[i+1][j] = true
			case !aMany && !bMany:
				// Patterns never start with #, so (0, 0) is the first level,
				// where the $ rule applies.
				if meet(al[i], bl[j], noDollar && i == 0 && j == 0) {
					reach[i+1][j+1] = true
				}
			}
		}
	}
	return reach[len(al)][len(bl)]
}

// meet reports whether some level matches both x and y (neither is #);
// with noDollar it must not start with $.
func meet(x, y level, noDollar bool) bool {
	if x.kind == one && y.kind == exact {
		x, y = y, x
	}
	switch {
	case x.kind == exact && y.kind == exact:
		return x.text == y.text && !(noDollar && strings.HasPrefix(x.text, "$"))
	case x.kind == exact:
		return len(x.text) >= len(y.pre)+len(y.suf) && strings.HasPrefix(x.text, y.pre) &&
			strings.HasSuffix(x.text, y.suf) && !(noDollar && strings.HasPrefix(x.text, "$"))
	default:
		// The longer start followed by the longer end fits both, when one
		// start extends the other and one end the other.
		pre, suf := longer(x.pre, y.pre), longer(x.suf, y.suf)
		return strings.HasPrefix(pre, x.pre) && strings.HasPrefix(pre, y.pre) &&
			strings.HasSuffix(suf, x.suf) && strings.HasSuffix(suf, y.suf) &&
			!(noDollar && strings.HasPrefix(pre, "$")) // an empty start can begin with anything else
	}
}

func longer(a, b string) string {
	if len(b) > len(a) {
		return b
	}
	return a
}
