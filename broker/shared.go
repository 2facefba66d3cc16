package broker

import (
	"strings"
	"sync"

	"github.com/edgegw/gateway/broker/packet"
)

// shareGroup is a shared subscription "$share/{name}/{filter}" (MQTT 5.0
// section 4.8.2): one subscriber in the topic tree for all its member
// sessions, each message going to one of them [MQTT-4.8.2-2]. The members
// take turns, as in Mosquitto's round robin, skipping those that cannot
// take a message now (see deliver).
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

// deliver gives m to one member. The turn goes round the members, and
// from the member whose turn it is the first that is connected and has
// room in its queue takes the message; failing that the first connected
// one, which admits a QoS 1 or 2 message over its limit and makes the
// publisher wait (flow control, as for any subscriber: see
// session.deliver) rather than lose it; only when no member is connected
// an offline one, with room if one has. Mosquitto hands each message to
// the next member in turn, connected or not, full or not
// (subs__shared_process), and leaves what an offline member was given in
// its session; section 4.8.2 leaves the choice to the server, and the
// broker keeps the group's messages moving instead: what an offline
// member holds goes to a connected one (rebalance).
func (g *shareGroup) deliver(m *message, o sendOpts) (stored bool, full *session) {
	g.mu.Lock()
	members := g.members
	n := len(members)
	if n == 0 {
		g.mu.Unlock()
		return false, nil
	}
	start := g.next % n
	g.next = (start + 1) % n
	g.mu.Unlock()
	pick, best, denied := members[start], rankGone, false
	for i := range n {
		c := members[(start+i)%n]
		r := c.s.shareRank(m.topic)
		denied = denied || r == rankDenied
		if r > best {
			pick, best = c, r
			if r == rankOnlineRoom {
				break
			}
		}
	}
	if best <= rankGone {
		if denied {
			pick.s.b.stats.readDenied.Add(1) // held back from the group, once
		}
		return false, nil // no member may take it
	}
	so := sendOpts{qos: min(m.qos, pick.o.qos), retain: pick.o.rap && m.retain, group: g}
	if pick.o.id != 0 {
		so.subIDs = []uint32{pick.o.id}
	}
	return pick.s.deliver(m, so)
}

// How fit a member is to take a shared message, in the order deliver
// prefers them.
const (
	rankDenied      = iota - 2 // may not read the topic: takes nothing
	rankGone                   // dropped: takes nothing
	rankOffline                // no connection, queue full
	rankOfflineRoom            // no connection, room in its queue
	rankOnline                 // connected, queue full (flow control)
	rankOnlineRoom             // connected with room
)

// shareRank returns how fit s is to take a message on topic of a shared
// group (topic "": any message, for rebalance). A member the ACL does not
// let read topic takes nothing, so that another member gets it rather than
// the group losing it (session.deliver would drop it).
func (s *session) shareRank(topic string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := rankOffline
	switch {
	case s.gone:
		return rankGone
	case topic != "" && !s.mayReadLocked(topic):
		return rankDenied
	case s.conn != nil && s.roomLocked() && !s.over.Load():
		r = rankOnlineRoom
	case s.conn != nil:
		r = rankOnline
	case s.roomLocked():
		r = rankOfflineRoom
	}
	return r
}

// takeSharedLocked removes from s the messages of the shared groups for
// which take is true that another member may take instead (section
// 4.8.2): queued ones, not sent yet, and QoS 1 ones sent and not
// acknowledged, which the spec lets go to another member as soon as the
// connection is lost. A QoS 2 message once sent stays: only this client
// may complete its delivery, when it reconnects [MQTT-4.8.2-4], and if its
// session ends first it goes to no other member [MQTT-4.8.2-5]. The rows
// stay in the store until the messages are delivered again
// (redeliverShared). The caller holds s.mu.
func (s *session) takeSharedLocked(take func(*shareGroup) bool) []*pending {
	b := s.b
	var moved []*pending
	keep := s.inflight[:0]
	for _, p := range s.inflight {
		if p.group != nil && p.qos == 1 && take(p.group) {
			moved = append(moved, p)
			continue
		}
		keep = append(keep, p)
	}
	clear(s.inflight[len(keep):])
	s.inflight = keep
	queued := s.queue[s.qhead:]
	kept := queued[:0]
	for _, p := range queued {
		if p.group != nil && take(p.group) {
			moved = append(moved, p)
			s.qbytes -= p.msg.size()
			b.memUsed.Add(-int64(p.msg.size()))
			continue
		}
		kept = append(kept, p)
	}
	clear(queued[len(kept):])
	s.queue = s.queue[:s.qhead+len(kept)]
	return moved
}

// redeliverShared gives the messages taken from s (takeSharedLocked) to
// their groups again, then deletes them from s's stored queue. A message
// whose group is gone (its last member unsubscribed) is dropped. Nobody
// waits for these: a member over its limit just takes them.
func (b *Broker) redeliverShared(s *session, moved []*pending) {
	if len(moved) == 0 {
		return
	}
	b.subMu.RLock()
	for _, p := range moved {
		if b.shared[p.group.full] == p.group {
			p.group.deliver(p.msg, sendOpts{})
		}
	}
	b.subMu.RUnlock()
	if b.store != nil && s.persistent {
		for _, p := range moved {
			if p.seq != 0 {
				b.store.Dequeue(s.id, p.seq)
			}
		}
	}
}

// rebalance moves the messages of g held by its offline members to its
// connected ones, when it has any: an offline member does not keep the
// group's messages while another could take them. It runs when a member
// goes offline, connects, or subscribes.
func (b *Broker) rebalance(g *shareGroup) {
	g.mu.Lock()
	members := g.members
	g.mu.Unlock()
	var offline []*session
	online := false
	for _, m := range members {
		switch m.s.shareRank("") {
		case rankOnline, rankOnlineRoom:
			online = true
		case rankOffline, rankOfflineRoom:
			offline = append(offline, m.s)
		}
	}
	if !online {
		return
	}
	mine := func(pg *shareGroup) bool { return pg == g }
	for _, s := range offline {
		var moved []*pending
		s.mu.Lock()
		if s.conn == nil && !s.gone { // it may have come back meanwhile
			moved = s.takeSharedLocked(mine)
		}
		s.mu.Unlock()
		b.redeliverShared(s, moved)
	}
}

// rebalanceSession runs rebalance for each shared group s belongs to.
func (b *Broker) rebalanceSession(s *session) {
	s.mu.Lock()
	var filters []string
	for f := range s.subs {
		if strings.HasPrefix(f, packet.SharePrefix) {
			filters = append(filters, f)
		}
	}
	s.mu.Unlock()
	if len(filters) == 0 {
		return
	}
	var groups []*shareGroup
	b.subMu.RLock()
	for _, f := range filters {
		if g := b.shared[f]; g != nil {
			groups = append(groups, g)
		}
	}
	b.subMu.RUnlock()
	for _, g := range groups {
		b.rebalance(g)
	}
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
