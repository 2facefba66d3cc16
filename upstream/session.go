package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/topic"
	"github.com/edgegw/gateway/upstream/mqttc"
)

// session runs one connection: connect, subscribe, drain until an error.
// upFor is how long the connection was up (0: it never came up).
func (f *Forwarder) session(ctx context.Context) (upFor time.Duration, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var conns connSet // what this session dialled: closed when it ends
	defer conns.closeAll()
	client, info, err := f.connect(sctx, &conns)
	if err != nil {
		return 0, err
	}
	var upSince time.Time // set once subscribed: the uplink is up
	defer func() {
		if !upSince.IsZero() {
			upFor = time.Since(upSince)
		}
	}()
	// On the way out, after the goroutines below: the will on a clean stop,
	// then DISCONNECT while the connection is still good.
	defer func() {
		if client.Err() == nil {
			f.sayGoodbye(ctx, client)
			_ = client.Disconnect(packet.CodeSuccess) // [MQTT-3.14.4-3] the server discards the will
		}
		_ = client.Close()
	}()
	if c := conns.current(); c != nil && info.KeepAlive > 0 {
		go c.watch(sctx, info.KeepAlive, func(err error) { cancel(err) })
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	wg.Go(func() {
		select {
		case <-client.Done():
			cancel(&linkError{how: "connection lost", err: client.Err()})
		case <-sctx.Done():
		}
	})
	// Before subscribing: a resumed session's queued messages arrive right
	// after CONNACK, before the SUBACKs.
	// 5.0: each rule subscribes with its own Subscription Identifier, so
	// that the copies a server sends for overlapping rules go one to each.
	subIDs := info.SubIDAvailable && f.cfg.ProtocolVersion == int(packet.Version5)
	wg.Go(func() { f.deliver(sctx, client, subIDs) })
	if err := f.subscribe(sctx, client, subIDs); err != nil {
		return 0, err
	}
	if b := f.cfg.Birth; b != nil {
		if err := f.publishNow(sctx, client, b, f.cfg.ConnectTimeout); err != nil {
			return 0, fmt.Errorf("birth message: %w", err)
		}
	}
	upSince = time.Now()
	f.setState(stateUp, "")

	// At most Inflight publishes unacknowledged, or the server's Receive
	// Maximum if lower (brokers such as AWS IoT Core cut a client that has
	// more unacknowledged publishes than they allow).
	f.drain(sctx, cancel, client, min(f.cfg.Inflight, int(info.ReceiveMaximum)))
	return 0, context.Cause(sctx) // upFor is set on the way out
}

// connect dials and sends CONNECT. An attempt that fails or times out is
// over when it returns (its connection is closed with the session), so the
// next attempt with the same client id never races it.
func (f *Forwarder) connect(ctx context.Context, conns *connSet) (*mqttc.Client, mqttc.ConnackInfo, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, f.cfg.ConnectTimeout, errors.New("connect: timeout"))
	defer cancel()
	u, err := url.Parse(f.cfg.URL)
	if err != nil {
		return nil, mqttc.ConnackInfo{}, fmt.Errorf("connect: %w", err) // Validate accepted it: not reached
	}
	conn, err := f.dial(ctx, u)
	if err != nil {
		return nil, mqttc.ConnackInfo{}, fmt.Errorf("connect: %w", err)
	}
	if !conns.add(conn) {
		_ = conn.Close() // the session gave up meanwhile
		return nil, mqttc.ConnackInfo{}, errors.New("connect: attempt abandoned")
	}
	cleanStart, expiry := f.cfg.session()
	o := mqttc.ConnectOptions{
		// Pinned: no fallback to another level after a failed attempt.
		Version:  byte(f.cfg.ProtocolVersion),
		ClientID: f.cfg.ClientID, Username: f.cfg.Username,
		KeepAlive: f.cfg.KeepAlive,
		// The queue, not the session, carries the unacknowledged messages
		// going up. Coming down, a session that outlives the connection
		// makes the upstream broker keep the QoS 1/2 messages (commands)
		// that arrive while the link is down, and send them after a
		// reconnect: with 3.1.1 for ever, with 5.0 for SessionExpiry.
		CleanStart: cleanStart, SessionExpiry: expiry,
		Inflight: f.cfg.Inflight,
		// Capped by the server's Topic Alias Maximum; Check keeps it in
		// 0..65535, and 0 with 3.1.1.
		TopicAliases: uint16(f.cfg.TopicAliases),
	}
	if f.password != "" {
		o.Password = []byte(f.password)
	}
	if w := f.cfg.Will; w != nil {
		o.Will = &mqttc.Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain}
	}
	client, info, err := mqttc.Connect(ctx, conn, o)
	if err != nil {
		return nil, info, fmt.Errorf("connect: %w", err) // Run records a refusal (*mqttc.ConnectError)
	}
	return client, info, nil
}

// subscribe subscribes the subscribe rules (5.0: with No Local, so that a
// filter overlapping a forward rule does not echo our own messages
// [MQTT-3.8.3-3], and Retain As Published) and unsubscribes the filters of
// rules an earlier configuration had.
func (f *Forwarder) subscribe(ctx context.Context, client *mqttc.Client, subIDs bool) error {
	subs, _ := f.q.(SubscriptionStore)
	var stale []string // subscribed by an earlier config, not by this one
	if subs != nil {
		var err error
		if stale, err = f.staleFilters(subs); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, f.cfg.ConnectTimeout, errors.New("timeout"))
	defer cancel()
	v5 := f.cfg.ProtocolVersion == int(packet.Version5)
	if len(f.cfg.Subscribe) > 0 {
		var want []packet.Subscription
		for _, r := range f.cfg.Subscribe {
			want = append(want, packet.Subscription{Filter: r.Filter, QoS: qosOf(r.QoS), NoLocal: v5, RetainAsPublished: v5})
		}
		var codes []packet.Code
		if subIDs {
			// One SUBSCRIBE a rule: the identifier is the packet's
			// (section 3.8.2.1.2), rule i's is i+1. Subscribing a filter
			// again replaces its identifier [MQTT-3.8.4-3].
			for i := range want {
				c, err := client.SubscribeWith(ctx, &packet.Properties{SubscriptionIDs: []uint32{uint32(i + 1)}}, want[i])
				if err != nil {
					return fmt.Errorf("subscribe %q: %w", want[i].Filter, err)
				}
				codes = append(codes, c...)
			}
		} else {
			var err error
			if codes, err = client.Subscribe(ctx, want...); err != nil {
				return fmt.Errorf("subscribe %q: %w", f.filters(), err)
			}
		}
		for i, c := range codes {
			if c.IsError() { // [MQTT-3.9.3] 0x80 (3.1.1), a reason code of 0x80 or above (5.0)
				return fmt.Errorf("subscribe %q: refused by the server: 0x%02x %s", want[i].Filter, byte(c), c.Name())
			}
		}
	}
	if len(stale) > 0 {
		// [MQTT-3.10.4-1] the server stops adding messages for the filters.
		if _, err := client.Unsubscribe(ctx, stale...); err != nil {
			return fmt.Errorf("unsubscribe %q: %w", stale, err)
		}
		f.log.Info("unsubscribed upstream filters no subscribe rule has any more", "filters", stale)
	}
	if subs != nil {
		if err := subs.SetSubscribed(f.filters()); err != nil {
			return fmt.Errorf("record subscriptions: %w", err)
		}
	}
	return nil
}

// publishNow publishes m (a birth or will: m.Topic is remote) and waits for
// its acknowledgement. Nothing else publishes meanwhile, so the last Ack
// read is its own; Acks of earlier publishes it reads are not handed to the
// queue (those messages are sent again, at-least-once).
func (f *Forwarder) publishNow(ctx context.Context, client *mqttc.Client, m *gateway.Message, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	next := func() (mqttc.Ack, error) {
		select {
		case a := <-client.Acks():
			return a, nil
		case <-client.Done():
			return mqttc.Ack{}, client.Err()
		case <-ctx.Done():
			return mqttc.Ack{}, context.Cause(ctx)
		case <-t.C:
			return mqttc.Ack{}, fmt.Errorf("publish %s: timeout", m.Topic)
		}
	}
	// Sent once per connection: a Topic Alias would not shorten it, and
	// would take one of the few the server allows from the forwarded topics.
	msg := &mqttc.Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, NoTopicAlias: true}
	for {
		_, err := client.Publish(msg)
		if !errors.Is(err, mqttc.ErrWindowFull) {
			if err != nil {
				return fmt.Errorf("publish %s: %w", m.Topic, err)
			}
			break
		}
		if err := client.Flush(); err != nil {
			return err
		}
		if _, err := next(); err != nil {
			return err
		}
	}
	if err := client.Flush(); err != nil {
		return err
	}
	var last mqttc.Ack
	for client.Pending() > 0 {
		a, err := next()
		if err != nil {
			return err
		}
		last = a
	}
	if last.Refused() {
		return fmt.Errorf("publish %s: refused: %s", m.Topic, describe("PUBACK", last.ReasonCode, last.ReasonString))
	}
	return nil
}

// goodbyeTimeout bounds the wait for the will's acknowledgement on a clean stop.
const goodbyeTimeout = 2 * time.Second

// sayGoodbye publishes the will before a clean disconnect (ctx cancelled:
// the gateway stops), as the DISCONNECT that follows discards it.
func (f *Forwarder) sayGoodbye(ctx context.Context, client *mqttc.Client) {
	if f.cfg.Will == nil || ctx.Err() == nil {
		return
	}
	if err := f.publishNow(context.Background(), client, f.cfg.Will, goodbyeTimeout); err != nil {
		f.log.Warn("will not published before disconnecting", "topic", f.cfg.Will.Topic, "err", err)
	}
}

// deliver publishes upstream messages to the local sink in arrival order and
// acknowledges each upstream only once the sink accepted it.
func (f *Forwarder) deliver(ctx context.Context, client *mqttc.Client, subIDs bool) {
	staleWarned := false
	for {
		var m *mqttc.Incoming
		select {
		case m = <-client.Messages():
		case <-ctx.Done():
			return
		}
		var ids []uint32
		if subIDs && m.Properties != nil {
			ids = m.Properties.SubscriptionIDs
		}
		locals := f.localTopics(m.Topic, ids)
		if len(locals) == 0 {
			// A resumed session may hold messages for a filter no rule
			// subscribes any more (the config changed): acknowledge them,
			// so the upstream does not send them again forever, and say so
			// once.
			if !staleWarned {
				staleWarned = true
				f.log.Warn("message from upstream matches no subscribe rule (left over from an earlier config?): dropped",
					"topic", m.Topic)
			}
			_ = m.Ack() // a failed write ends the connection: the client reports it
			continue
		}
		delivered := true
		for _, t := range locals {
			lm := gateway.Message{Topic: t, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Time: time.Now()}
			if err := f.local.Publish(ctx, lm); err != nil {
				// Not acknowledged: the upstream broker sends it again after a reconnect.
				f.log.Warn("deliver upstream message locally", "topic", lm.Topic, "err", err)
				delivered = false
				break
			}
		}
		if !delivered {
			continue
		}
		_ = m.Ack()
		f.mu.Lock()
		f.received++
		f.mu.Unlock()
	}
}

// localTopics returns the local topics of a remote topic: one for each
// subscribe rule whose filter matches it, without repeats. Every matching
// rule delivers it, as a broker delivers a message to every matching
// subscription: a 3.1.1 server sends one copy for overlapping
// subscriptions of one client (Mosquitto does), so the first rule alone
// would drop the others' mappings. A 5.0 server may send a copy per
// subscription instead (Mosquitto does), each with the Subscription
// Identifiers it matched (ids, rule i's is i+1): then only those rules
// deliver it. Ids that name no matching rule (a session queued the message
// under an earlier config) count as none.
func (f *Forwarder) localTopics(remote string, ids []uint32) []string {
	var out []string
	add := func(r SubscribeRule) {
		if !topic.Match(r.Filter, remote) {
			return
		}
		if t := r.localTopic(remote); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, id := range ids {
		if id >= 1 && int(id) <= len(f.cfg.Subscribe) {
			add(f.cfg.Subscribe[id-1])
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, r := range f.cfg.Subscribe {
		add(r)
	}
	return out
}
