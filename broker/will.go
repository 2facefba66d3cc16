package broker

import (
	"log/slog"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/store"
)

// will is a will message waiting to be published: at once, or after the
// MQTT 5.0 Will Delay Interval (section 3.1.3.2.2).
type will struct {
	m        *message
	expiry   uint32 // Message Expiry Interval in seconds, counted from publishing; 0 none
	user     string // the ACL applies as to any publish of the client
	clientID string
	log      *slog.Logger
	timer    *time.Timer // while delayed
	// persist (set by finish): the client's session is persistent, so a
	// delayed will is stored with it and survives a restart of the broker
	// (stored, under willMu, once it is); due is when the Will Delay
	// Interval ends (the session may end earlier).
	persist bool
	stored  bool
	due     time.Time
}

// publishWill publishes w now: through the ACL, the publish hook (nobody
// waits for its acknowledgement) and to the subscribers.
func (b *Broker) publishWill(w *will) {
	m := w.m
	if isSys(m.topic) || !b.allow(w.user, w.clientID, m.topic, auth.Write) {
		w.log.Warn("publish denied", "user", w.user, "topic", m.topic)
		b.stats.denied.Add(1)
		return
	}
	if w.expiry > 0 {
		m.expires = b.now().Add(time.Duration(w.expiry) * time.Second)
	}
	if hook := b.clientPublish; hook != nil {
		hook(gateway.Message{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain, Time: time.Now()}, func(error) {})
	}
	b.route(m)
}

// delayWill publishes w after delay unless the client's session is
// resumed first [MQTT-3.1.3-9]; if the session ends earlier, it is
// published then (willNow). delay is the shorter of the Will Delay
// Interval, which ends at w.due, and the session's expiry.
//
// The will of a persistent session is stored with it, so that a restart
// of the broker does not lose it: the restarted broker publishes it when
// the delay ends (restoreWills). Once Close started, such a will is only
// stored; any other is published at once, as Mosquitto publishes every
// will, delayed or not, when it shuts down (its source notes that the
// delayed ones should rather be persisted, which is what the broker does
// when it has a store).
func (b *Broker) delayWill(w *will, delay time.Duration) {
	b.willMu.Lock()
	if w.persist && b.store != nil {
		b.store.SetWill(toStoredWill(w))
		w.stored = true
	}
	if b.willsClosed {
		b.willMu.Unlock()
		if !w.stored {
			b.publishWill(w)
		}
		return
	}
	b.scheduleWillLocked(w, delay)
	b.willMu.Unlock()
}

// scheduleWillLocked starts the delay of w, replacing a will the client
// left before. The caller holds willMu.
func (b *Broker) scheduleWillLocked(w *will, delay time.Duration) {
	if old := b.wills[w.clientID]; old != nil {
		old.timer.Stop() // replaced: a new connection of the session came and went
	}
	b.wills[w.clientID] = w
	w.timer = time.AfterFunc(delay, func() { b.fireWill(w) })
}

func (b *Broker) fireWill(w *will) {
	b.willMu.Lock()
	if b.willsClosed || b.wills[w.clientID] != w {
		b.willMu.Unlock()
		return
	}
	delete(b.wills, w.clientID)
	b.wg.Add(1) // before Close waits: willsClosed is still false
	b.willMu.Unlock()
	defer b.wg.Done()
	b.publishWill(w)
	if !w.stored {
		return
	}
	// Deleted after publishing: a crash in between publishes it again
	// after the restart rather than never. Not when the client left a
	// newer will meanwhile, which replaced the row.
	b.willMu.Lock()
	if b.wills[w.clientID] == nil {
		b.store.DeleteWill(w.clientID)
	}
	b.willMu.Unlock()
}

// cancelWill drops the delayed will of a session that a new connection
// resumed before the delay passed [MQTT-3.1.3-9].
func (b *Broker) cancelWill(clientID string) {
	b.willMu.Lock()
	defer b.willMu.Unlock()
	if w := b.wills[clientID]; w != nil {
		w.timer.Stop()
		delete(b.wills, clientID)
		if w.stored {
			b.store.DeleteWill(clientID)
		}
	}
}

// willNow publishes the delayed will of a session that ends (expired, or
// started anew with Clean Start) before the delay passed: the will is
// sent when the session ends (section 3.1.3.2.2). It does not block: the
// timer's goroutine publishes.
func (b *Broker) willNow(clientID string) {
	b.willMu.Lock()
	defer b.willMu.Unlock()
	if w := b.wills[clientID]; w != nil {
		w.timer.Reset(0)
	}
}

// closeWills stops the delay of every waiting will and returns those not
// stored, for Close to publish before the store closes, as it does for
// the wills of the connections it ends. The stored ones wait in the store
// for the next start.
func (b *Broker) closeWills() []*will {
	b.willMu.Lock()
	defer b.willMu.Unlock()
	b.willsClosed = true
	var ws []*will
	for id, w := range b.wills {
		if w.timer.Stop() && !w.stored {
			ws = append(ws, w)
		}
		delete(b.wills, id)
	}
	return ws
}

func toStoredWill(w *will) store.Will {
	sm := toStored(w.m)
	sm.Expires = 0
	return store.Will{ClientID: w.clientID, User: w.user, Msg: sm, Expiry: w.expiry, Due: w.due.UnixMilli()}
}

// loadWills reads the delayed wills stored by the broker's last run; Start
// schedules them (restoreWills).
func (b *Broker) loadWills() error {
	ws, err := b.store.Wills()
	if err != nil {
		return err
	}
	for _, sw := range ws {
		m := b.fromStored(sw.Msg)
		m.origin = sw.ClientID
		b.restored = append(b.restored, &will{m: m, expiry: sw.Expiry, user: sw.User, clientID: sw.ClientID,
			log: b.log.With("client", sw.ClientID), persist: true, stored: true, due: time.UnixMilli(sw.Due)})
	}
	return nil
}

// restoreWills starts the delays of the wills stored by the last run: a
// will whose delay ended while the broker was down, or whose session is
// gone, is published at once; one whose client resumes its session in
// time is not [MQTT-3.1.3-9]; one whose session expires first (its expiry
// counted from the start, as for every restored session) is published
// then.
func (b *Broker) restoreWills() {
	delays := make([]time.Duration, len(b.restored))
	b.mu.Lock() // not under willMu: attach takes b.mu, then willMu
	for i, w := range b.restored {
		delay := max(0, time.Until(w.due))
		if s := b.sessions[w.clientID]; s == nil {
			delay = 0
		} else {
			s.mu.Lock()
			if s.expiry != neverExpires {
				delay = min(delay, max(0, s.expiry-time.Since(s.offline)))
			}
			s.mu.Unlock()
		}
		delays[i] = delay
	}
	b.mu.Unlock()
	b.willMu.Lock()
	defer b.willMu.Unlock()
	for i, w := range b.restored {
		b.scheduleWillLocked(w, delays[i])
	}
	b.restored = nil
}
