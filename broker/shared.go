package broker

import (
	"sync"

	"github.com/edgegw/gateway/broker/packet"
)

// shareGroup is a shared subscription "$share/{name}/{filter}" (MQTT 5.0
// section 4.8.2): one subscriber in the topic tree for all its member
// sessions, each message going to one of them [MQTT-4.8.2-2]. The members
// take turns, connected ones first, as Mosquitto's round robin.
type shareGroup struct {
	full   string // "$share/name/filter", the key in Broker.shared and the sessions' subs
	filter string

	// mu guards members (replaced, never modified in place, so that
	// deliver works on a snapshot; changed under Broker.subMu too) and
	// next, the turn.
	mu      sync.Mutex
	members []shareMember
	next    int
}

type shareMember struct {
	s *session
	o subOpts
}

var _ subscriber = (*shareGroup)(nil)

// deliver gives m to one member. A QoS 1 or 2 message queued for a member
// whose session ends before it was acknowledged goes to another member
// (see dropSessionLocked). Flow control does not make the publisher wait for a shared
// subscriber (full is never reported); the member's queue limits apply.
func (g *shareGroup) deliver(m *message, o sendOpts) (stored, full bool) {
	g.mu.Lock()
	members := g.members
	n := len(members)
	if n == 0 {
		g.mu.Unlock()
		return false, false
	}
	start := g.next % n
	g.next = (start + 1) % n
	g.mu.Unlock()
	pick := members[start]
	for i := range n { // connected members first
		c := members[(start+i)%n]
		c.s.mu.Lock()
		online := c.s.conn != nil && !c.s.gone
		c.s.mu.Unlock()
		if online {
			pick = c
			break
		}
	}
	so := sendOpts{qos: min(m.qos, pick.o.qos), retain: pick.o.rap && m.retain, group: g}
	if pick.o.id != 0 {
		so.subIDs = []uint32{pick.o.id}
	}
	stored, _ = pick.s.deliver(m, so)
	return stored, false
}

// addSubLocked adds or replaces s's subscription to filter, shared or not.
// The caller holds b.subMu.
func (b *Broker) addSubLocked(filter string, s *session, o subOpts) {
	_, inner, shared, err := packet.ParseShared(filter)
	if !shared || err != nil {
		b.subs.Add(filter, s, o)
		return
	}
	g := b.shared[filter]
	if g == nil {
		g = &shareGroup{full: filter, filter: inner}
		b.shared[filter] = g
		b.subs.Add(inner, g, subOpts{qos: 2})
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := make([]shareMember, 0, len(g.members)+1)
	for _, m := range g.members {
		if m.s != s {
			ms = append(ms, m)
		}
	}
	g.members = append(ms, shareMember{s, o})
}

// removeSubLocked removes s's subscription to filter. The caller holds
// b.subMu.
func (b *Broker) removeSubLocked(filter string, s *session) {
	g := b.shared[filter]
	if g == nil {
		b.subs.Remove(filter, s)
		return
	}
	g.mu.Lock()
	ms := make([]shareMember, 0, len(g.members))
	for _, m := range g.members {
		if m.s != s {
			ms = append(ms, m)
		}
	}
	g.members = ms
	g.mu.Unlock()
	if len(ms) == 0 {
		b.subs.Remove(g.filter, g)
		delete(b.shared, filter)
	}
}
