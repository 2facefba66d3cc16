package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/topic"
)

// Publish routes m to the subscribers without a network connection, with
// the retain and QoS semantics of a client's PUBLISH: a retained message
// replaces (or with an empty payload deletes) the topic's retained message,
// and each subscriber gets min(m.QoS, its granted QoS). It returns once m is
// queued for every subscriber (and, at QoS 1 and 2, committed to the
// database where a persistent session or retained message needs it); no
// ACL applies (see Local for that).
//
// A QoS 1 or 2 publish first waits while a connected subscriber it goes to
// has a full queue (flow control, as for network publishers; at most about
// stall_timeout, after which a subscriber that does not acknowledge is
// disconnected). When ctx ends first, it returns ctx's error and m is not
// published.
// It implements gateway.Sink.
func (b *Broker) Publish(ctx context.Context, m gateway.Message) error {
	if err := b.checkPublish(m); err != nil {
		return err
	}
	if err := b.waitRoom(ctx, m); err != nil {
		return err
	}
	mark := b.store.Mark()
	if b.route(newLocalMessage(m)) && m.QoS > 0 {
		if err := b.store.Flush(mark); err != nil { // accepted means committed
			b.stats.notStored.Add(1)
			return fmt.Errorf("broker publish %q: %w", m.Topic, err)
		}
	}
	return nil
}

// waitRoom waits, for a QoS 1 or 2 message, until no connected session
// subscribed to its topic is over its queue limit.
func (b *Broker) waitRoom(ctx context.Context, m gateway.Message) error {
	if m.QoS == 0 {
		return nil
	}
	var w chanWaker
	for b.nover.Load() > 0 {
		s := b.fullTarget(m.Topic)
		if s == nil {
			return nil
		}
		if w == nil {
			w = make(chanWaker, 1)
		}
		if !s.addWaiter(w) {
			continue // it got room meanwhile
		}
		select {
		case <-w:
		case <-ctx.Done():
			return fmt.Errorf("broker publish %q: waiting for room at a slow subscriber: %w", m.Topic, ctx.Err())
		case <-b.ctx.Done():
			return fmt.Errorf("broker publish %q: %w", m.Topic, gateway.ErrClosed)
		}
	}
	return nil
}

// fullTarget returns a session subscribed to name at QoS 1 or 2 that is
// over its queue limit, or nil.
func (b *Broker) fullTarget(name string) *session {
	var full *session
	b.subMu.RLock()
	b.subs.Match(name, func(sub subscriber, o subOpts) {
		if s, ok := sub.(*session); ok && o.qos > 0 && full == nil && s.over.Load() {
			full = s
		}
	})
	b.subMu.RUnlock()
	return full
}

// chanWaker wakes an in-process publish waiting in waitRoom.
type chanWaker chan struct{}

func (w chanWaker) wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// newLocalMessage copies m's payload: the caller may reuse its buffer.
func newLocalMessage(m gateway.Message) *message {
	return &message{topic: m.Topic, payload: append([]byte(nil), m.Payload...), qos: m.QoS, retain: m.Retain}
}

func (b *Broker) checkPublish(m gateway.Message) error {
	if b.ctx.Err() != nil {
		return fmt.Errorf("broker publish: %w", gateway.ErrClosed)
	}
	if err := topic.ValidName(m.Topic); err != nil {
		return fmt.Errorf("broker publish: %w", err)
	}
	if m.QoS > 2 {
		return fmt.Errorf("broker publish %q: qos %d: %w", m.Topic, m.QoS, topic.ErrInvalid)
	}
	return nil
}

// Subscribe calls fn, from one goroutine per subscription and in order, with
// every message published on a topic matching filter, starting with the
// matching retained messages (Retain set). qos caps the QoS reported in the
// messages. fn must not modify the payload (it is shared) and must not
// block for long: when the subscription's queue
// (max_queued_messages) is full, messages are dropped and counted. Calling
// unsubscribe stops the deliveries and waits for a running fn to return (so
// it must not be called from fn). As for Publish, no ACL applies (see
// Local for that): the gateway's own subscriptions (commands, Home
// Assistant, availability) work whatever acl_file grants anonymous clients.
func (b *Broker) Subscribe(filter string, qos byte, fn func(gateway.Message)) (unsubscribe func(), err error) {
	return b.subscribeLocal(nil, filter, qos, fn)
}

// Local is an in-process client with a user identity: the ACL applies to
// its publishes and subscriptions as to a network client with that user name.
type Local struct {
	b    *Broker
	user string
}

var _ gateway.Sink = (*Local)(nil)

// Local returns an in-process client acting as user.
func (b *Broker) Local(user string) *Local { return &Local{b: b, user: user} }

// Publish is Broker.Publish subject to the ACL: a denied publish is dropped,
// logged and reported as an error.
func (l *Local) Publish(ctx context.Context, m gateway.Message) error {
	if err := l.b.checkPublish(m); err != nil {
		return err
	}
	if !l.b.allow(l.user, "", m.Topic, auth.Write) {
		l.b.log.Warn("publish denied", "user", l.user, "topic", m.Topic)
		l.b.stats.denied.Add(1)
		return fmt.Errorf("broker publish %q as %q: %w", m.Topic, l.user, ErrNotAuthorized)
	}
	if err := l.b.waitRoom(ctx, m); err != nil {
		return err
	}
	mark := l.b.store.Mark()
	if l.b.route(newLocalMessage(m)) && m.QoS > 0 {
		if err := l.b.store.Flush(mark); err != nil {
			l.b.stats.notStored.Add(1)
			return fmt.Errorf("broker publish %q as %q: %w", m.Topic, l.user, err)
		}
	}
	return nil
}

// Subscribe is Broker.Subscribe subject to the ACL, as for a network
// client: the user must be allowed to read filter, and each message is
// checked again with its topic name before fn sees it, so a deny rule
// inside a granted wildcard holds those messages back (dropped without a
// log line and counted in DeliveriesDenied, as for a network subscriber:
// see session.mayReadLocked).
func (l *Local) Subscribe(filter string, qos byte, fn func(gateway.Message)) (unsubscribe func(), err error) {
	return l.b.subscribeLocal(l, filter, qos, fn)
}

type delivery struct {
	m      *message
	qos    byte
	retain bool
}

// localSub is an in-process subscription.
type localSub struct {
	b       *Broker
	as      *Local // whose read access each message needs; nil: no ACL (Broker.Subscribe)
	ch      chan delivery
	mu      sync.Mutex
	stopped bool
}

var _ subscriber = (*localSub)(nil)

func (l *localSub) deliver(m *message, o sendOpts) (stored bool, full *session) {
	if l.as != nil && !l.b.allow(l.as.user, "", m.topic, auth.Read) {
		l.b.stats.readDenied.Add(1)
		return false, nil // checked at each delivery, as session.deliver does
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false, nil
	}
	select {
	case l.ch <- delivery{m, o.qos, o.retain}:
	default:
		l.b.stats.dropped.Add(1)
	}
	return false, nil
}

// subscribeLocal subscribes fn to filter as the in-process client as or,
// when as is nil, without an ACL.
func (b *Broker) subscribeLocal(as *Local, filter string, qos byte, fn func(gateway.Message)) (func(), error) {
	if err := topic.ValidFilter(filter); err != nil {
		return nil, fmt.Errorf("broker subscribe: %w", err)
	}
	if qos > 2 {
		return nil, fmt.Errorf("broker subscribe %q: qos %d: %w", filter, qos, topic.ErrInvalid)
	}
	if as != nil && !b.allow(as.user, "", filter, auth.Read) {
		return nil, fmt.Errorf("broker subscribe %q as %q: %w", filter, as.user, ErrNotAuthorized)
	}
	if b.ctx.Err() != nil {
		return nil, fmt.Errorf("broker subscribe: %w", gateway.ErrClosed)
	}
	l := &localSub{b: b, as: as, ch: make(chan delivery, b.cfg.MaxQueuedMessages)}
	quit := make(chan struct{})
	done := make(chan struct{})
	b.subMu.Lock()
	b.subs.Add(filter, l, subOpts{qos: qos})
	b.subMu.Unlock()
	b.retainedFor(filter, func(m *message) bool {
		l.deliver(m, sendOpts{qos: min(m.qos, qos), retain: true, onSub: true})
		return true
	})
	go func() {
		defer close(done)
		for {
			select {
			case d := <-l.ch:
				b.stats.msgsOut.Add(1)
				fn(gateway.Message{Topic: d.m.topic, Payload: d.m.payload, QoS: d.qos, Retain: d.retain, Time: time.Now()})
			case <-quit:
				return
			case <-b.ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.subMu.Lock()
			b.subs.Remove(filter, l)
			b.subMu.Unlock()
			l.mu.Lock()
			l.stopped = true
			l.mu.Unlock()
			close(quit)
			<-done
		})
	}, nil
}
