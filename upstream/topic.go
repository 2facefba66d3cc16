package upstream

import (
	"context"
	"strings"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/topic"
)

// remoteTopic maps a local topic by rule r.
func (r ForwardRule) remoteTopic(local string) string {
	return gateway.MapTopic(r.RemoteTopic, r.RemotePrefix, local)
}

// localTopic maps a remote topic by rule r: LocalTopic, or LocalPrefix
// followed by the remote topic without the filter's literal leading levels
// (filter "cloud/gw1/cmd/#", prefix "cmd": "cloud/gw1/cmd/boiler/sp" becomes
// "cmd/boiler/sp").
func (r SubscribeRule) localTopic(remote string) string {
	if r.LocalTopic != "" {
		return strings.ReplaceAll(r.LocalTopic, "{topic}", remote)
	}
	if r.LocalPrefix == "" {
		return remote
	}
	rest := remote
	for _, l := range strings.Split(r.Filter, "/") {
		if l == "+" || l == "#" {
			break
		}
		_, after, ok := strings.Cut(rest, "/")
		if !ok {
			return r.LocalPrefix
		}
		rest = after
	}
	return gateway.MapTopic("", r.LocalPrefix, rest)
}

// RemoteTopic returns the remote topic that r maps to the local topic: the
// inverse of the mapping r applies to what it brings down, so that the
// cloud knows where to send a command for a local command topic. false:
// no remote topic matching r's filter maps to local, or several do (a
// local_topic template without {topic} and a filter with wildcards).
func (r SubscribeRule) RemoteTopic(local string) (string, bool) {
	if local == "" {
		return "", false
	}
	var remote string
	switch {
	case r.LocalTopic != "":
		const ph = "{topic}"
		k := strings.Count(r.LocalTopic, ph)
		if k == 0 {
			// Every matching remote topic lands on the one local topic:
			// only a filter without wildcards names which.
			if local != r.LocalTopic || topic.ValidName(r.Filter) != nil {
				return "", false
			}
			return r.Filter, true
		}
		// local = the template with each {topic} replaced by remote.
		fixed := len(r.LocalTopic) - k*len(ph)
		pre := r.LocalTopic[:strings.Index(r.LocalTopic, ph)]
		if (len(local)-fixed)%k != 0 || len(local) < fixed {
			return "", false
		}
		n := (len(local) - fixed) / k
		if len(pre)+n > len(local) {
			return "", false
		}
		remote = local[len(pre) : len(pre)+n]
	case r.LocalPrefix == "":
		remote = local
	default:
		rest, ok := strings.CutPrefix(local, strings.TrimSuffix(r.LocalPrefix, "/")+"/")
		if !ok {
			return "", false
		}
		var lead []string
		for _, l := range strings.Split(r.Filter, "/") {
			if l == "+" || l == "#" {
				break
			}
			lead = append(lead, l)
		}
		remote = strings.Join(append(lead, rest), "/")
	}
	// Checked by mapping it back: the same local topic, from a topic the
	// filter subscribes.
	if remote == "" || !topic.Match(r.Filter, remote) || r.localTopic(remote) != local {
		return "", false
	}
	return remote, true
}

// filterSink is the Sink Filter returns.
type filterSink struct {
	rules []ForwardRule
	next  gateway.Sink
}

var _ gateway.Sink = filterSink{}

// Filter returns a Sink that passes to next (the durable queue) only the
// messages matching a forward rule (the first that matches), with the rule's
// QoS; other messages are accepted and not forwarded. With no rules nothing
// is forwarded. The queue keeps the local topic (what `gateway buffer list`
// shows and drops are counted by); the forwarder maps it to the remote topic
// when it publishes.
func Filter(rules []ForwardRule, next gateway.Sink) gateway.Sink {
	return filterSink{rules: rules, next: next}
}

// Publish forwards m if a rule matches it.
func (f filterSink) Publish(ctx context.Context, m gateway.Message) error {
	if qos, ok := Forwarded(f.rules, m.Topic); ok {
		m.QoS = qos
		return f.next.Publish(ctx, m)
	}
	return nil
}

// Forwarded reports whether a forward rule matches the local topic, and the
// upstream QoS of the first that does: what Filter applies, for callers that
// append to the queue themselves.
func Forwarded(rules []ForwardRule, topic string) (qos byte, ok bool) {
	r, ok := matchRule(rules, topic)
	if !ok {
		return 0, false
	}
	return qosOf(r.QoS), true
}

// matchRule returns the first rule whose filter matches topic.
func matchRule(rules []ForwardRule, name string) (ForwardRule, bool) {
	for _, r := range rules {
		if topic.Match(r.Filter, name) {
			return r, true
		}
	}
	return ForwardRule{}, false
}

// remoteTopic maps a queued (local) topic to the upstream topic by the first
// matching rule. A topic no rule matches any more (the rules changed since it
// was queued) is sent unchanged rather than dropped: it was accepted for
// forwarding.
func remoteTopic(rules []ForwardRule, local string) (string, bool) {
	if r, ok := matchRule(rules, local); ok {
		return r.remoteTopic(local), true
	}
	return local, false
}
