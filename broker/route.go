package broker

import (
	"strings"
	"sync"
)

func isSys(topic string) bool { return strings.HasPrefix(topic, "$SYS/") }

type target struct {
	s   subscriber
	qos byte
}

var targetPool = sync.Pool{New: func() any { s := make([]target, 0, 16); return &s }}

// route delivers m to every matching subscription and, when m.retain is set,
// updates the retained messages first. It reports whether it queued writes
// to the store (the caller flushes them before acknowledging a QoS 1 or 2
// PUBLISH, so an acknowledged message survives a crash).
func (b *Broker) route(m *message) (stored bool) {
	b.stats.msgsIn.Add(1)
	if m.retain {
		stored = b.setRetained(m)
	}
	tp := targetPool.Get().(*[]target)
	ts := (*tp)[:0]
	b.subMu.RLock()
	b.subs.Match(m.topic, func(s subscriber, q byte) {
		// Overlapping subscriptions of one client: deliver once, at the
		// highest granted QoS (allowed by [MQTT-3.3.5-1]).
		for i := range ts {
			if ts[i].s == s {
				ts[i].qos = max(ts[i].qos, q)
				return
			}
		}
		ts = append(ts, target{s, q})
	})
	b.subMu.RUnlock()
	for _, t := range ts {
		// [MQTT-3.3.5-1] the QoS is the minimum of the published and the
		// granted QoS; [MQTT-3.3.1-9] the retain flag is cleared on messages
		// sent to established subscriptions.
		if t.s.deliver(m, min(t.qos, m.qos), false) {
			stored = true
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
	if len(m.payload) == 0 {
		if _, ok := b.retained[m.topic]; ok {
			delete(b.retained, m.topic)
			if persist {
				b.store.DeleteRetained(m.topic)
				return true
			}
		}
		return false
	}
	b.retained[m.topic] = m
	if persist {
		b.store.SetRetained(toStored(m))
	}
	return persist
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
	for _, m := range ms {
		if !fn(m) {
			return
		}
	}
}
