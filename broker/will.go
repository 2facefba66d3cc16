package broker

import (
	"log/slog"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
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
// published then (willNow). After Close started it publishes at once.
func (b *Broker) delayWill(w *will, delay time.Duration) {
	b.willMu.Lock()
	if b.willsClosed {
		b.willMu.Unlock()
		b.publishWill(w)
		return
	}
	if old := b.wills[w.clientID]; old != nil {
		old.timer.Stop() // replaced: a new connection of the session came and went
	}
	b.wills[w.clientID] = w
	w.timer = time.AfterFunc(delay, func() { b.fireWill(w) })
	b.willMu.Unlock()
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
}

// cancelWill drops the delayed will of a session that a new connection
// resumed before the delay passed [MQTT-3.1.3-9].
func (b *Broker) cancelWill(clientID string) {
	b.willMu.Lock()
	defer b.willMu.Unlock()
	if w := b.wills[clientID]; w != nil {
		w.timer.Stop()
		delete(b.wills, clientID)
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

// closeWills stops the delay of every waiting will and returns them, for
// Close to publish before the store closes, as it does for the wills of
// the connections it ends.
func (b *Broker) closeWills() []*will {
	b.willMu.Lock()
	defer b.willMu.Unlock()
	b.willsClosed = true
	var ws []*will
	for id, w := range b.wills {
		if w.timer.Stop() {
			ws = append(ws, w)
		}
		delete(b.wills, id)
	}
	return ws
}
