package broker

import (
	"strings"
	"sync"
)

func isSys(topic string) bool { return strings.HasPrefix(topic, "$SYS/") }

type target struct {
	s      subscriber
	qos    byte
	rap    bool
	subIDs []uint32
}

var targetPool = sync.Pool{New: func() any { s := make([]target, 0, 16); return &s }}

// route delivers m to every matching subscription and, when m.retain is set,
// updates the retained messages first. It reports whether it queued writes
// to the store (the caller flushes them before acknowledging a QoS 1 or 2
// PUBLISH, so an acknowledged message survives a crash).
func (b *Broker) route(m *message) (stored bool) { return b.routeFull(m, nil, nil) }

// routeFull is route, appending to *full (when not nil) the sessions that
// took m over their queue limit: the publisher must wait for them (see
// session.deliver), and setting *matched (when not nil) to the number of
// subscribers whose subscriptions matched.
func (b *Broker) routeFull(m *message, full *[]*session, matched *int) (stored bool) {
	b.stats.msgsIn.Add(1)
	if m.retain {
		stored = b.setRetained(m)
	}
	tp := targetPool.Get().(*[]target)
	ts := (*tp)[:0]
	b.subMu.RLock()
	b.subs.Match(m.topic, func(s subscriber, o subOpts) {
		if o.noLocal && m.origin != "" {
			if ss, ok := s.(*session); ok && ss.id == m.origin {
				return // [MQTT-3.8.3-3]
			}
		}
		// Overlapping subscriptions of one client: deliver once, at the
		// highest granted QoS (allowed by [MQTT-3.3.5-1]), with every
		// matching Subscription Identifier [MQTT-3.3.4-4]; as Mosquitto,
		// the retain flag is kept if one of them asks for it.
		for i := range ts {
			if ts[i].s == s {
				ts[i].qos = max(ts[i].qos, o.qos)
				ts[i].rap = ts[i].rap || o.rap
				if o.id != 0 {
					ts[i].subIDs = append(ts[i].subIDs, o.id)
				}
				return
			}
		}
		t := target{s: s, qos: o.qos, rap: o.rap}
		if o.id != 0 {
			t.subIDs = []uint32{o.id}
		}
		ts = append(ts, t)
	})
	b.subMu.RUnlock()
	if matched != nil {
		*matched = len(ts)
	}
	for _, t := range ts {
		// [MQTT-3.3.5-1] the QoS is the minimum of the published and the
		// granted QoS; [MQTT-3.3.1-9] the retain flag is cleared on messages
		// sent to established subscriptions.
		// [MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published.
		st, over := t.s.deliver(m, sendOpts{qos: min(t.qos, m.qos), retain: t.rap && m.retain, subIDs: t.subIDs})
		if st {
			stored = true
		}
		if over != nil && full != nil {
			*full = append(*full, over)
		}
	}
	clear(ts)
	*tp = ts[:0]
	targetPool.Put(tp)
	return stored
}

// setRetained stores m as its topic's retained message, or deletes it when
// the payload is empty [MQTT-3.3.1-10] [MQTT-3.3.1-11]; a QoS 0 message
// replaces the retained one too [MQTT-3.3.1-7].
func (b *Broker) setRetained(m *message) (stored bool) {
	b.retMu.Lock()
	defer b.retMu.Unlock()
	persist := b.store != nil && !isSys(m.topic) // $SYS is rewritten every interval: spare the disk
	old := b.retained[m.topic]
	if len(m.payload) == 0 || old.sizeOrZero() < m.size() && b.overMemory(m.size()-old.sizeOrZero()) {
		if len(m.payload) != 0 {
			// At max_memory a retained message that needs more memory is
			// not kept; the topic's previous one is deleted rather than
			// served stale. It is still routed to the subscribers.
			b.memoryDrop()
			b.stats.dropped.Add(1)
		}
		if old != nil {
			delete(b.retained, m.topic)
			b.memUsed.Add(-int64(old.size()))
			if persist {
				b.store.DeleteRetained(m.topic)
				return true
			}
		}
		return false
	}
	m.rseq = b.retSeq.Add(1) // before m is shared: route delivers it after this
	b.retained[m.topic] = m
	b.memUsed.Add(int64(m.size() - old.sizeOrZero()))
	if persist {
		b.store.SetRetained(toStored(m))
	}
	return persist
}

// isRetained reports whether m is still its topic's retained message.
func (b *Broker) isRetained(m *message) bool {
	b.retMu.RLock()
	defer b.retMu.RUnlock()
	return b.retained[m.topic] == m
}

// retainedFor calls fn with every retained message matching filter, until
// fn returns false.
func (b *Broker) retainedFor(filter string, fn func(*message) bool) {
	b.retMu.RLock()
	var ms []*message
	if !hasWildcard(filter) {
		if m := b.retained[filter]; m != nil {
			ms = append(ms, m)
		}
	} else {
		for t, m := range b.retained {
			if matchFilter(filter, t) {
				ms = append(ms, m)
			}
		}
	}
	b.retMu.RUnlock()
	now := b.now()
	for _, m := range ms {
		if m.expired(now) {
			continue // [MQTT-3.3.2-5] not sent after its Message Expiry Interval
		}
		if !fn(m) {
			return
		}
	}
}

// sizeOrZero is size, or 0 for no message.
func (m *message) sizeOrZero() int {
	if m == nil {
		return 0
	}
	return m.size()
}
