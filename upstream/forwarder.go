package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway"
)

// Queue is the durable queue the forwarder drains (package buffer's Buffer).
// Its methods are called from the forwarder's goroutines concurrently.
type Queue interface {
	// Next returns up to n queued messages with ids greater than after, in
	// id order, waiting until there is at least one; cancelling ctx returns
	// its error.
	Next(ctx context.Context, after int64, n int) ([]int64, []gateway.Message, error)
	// Ack removes messages the upstream acknowledged.
	Ack(ids ...int64) error
	// SetUplink records the uplink state ("up", "down") and the last error
	// for stats.
	SetUplink(state, lastErr string) error
	// SetNextAttempt records when the next connection attempt is due (zero:
	// none is waiting, a connection is up or being attempted) for stats.
	SetNextAttempt(at time.Time) error
}

// SubscriptionStore keeps the upstream filters subscribed last across
// restarts (package buffer's Buffer is one). A queue that implements it lets
// the forwarder UNSUBSCRIBE the filters of subscribe rules a new
// configuration dropped: with a persistent session the upstream broker would
// otherwise keep sending (and queueing) their messages. Both methods are
// called from the forwarder's session goroutine only.
type SubscriptionStore interface {
	// Subscribed returns the filters recorded last (none: nil).
	Subscribed() ([]string, error)
	// SetSubscribed records filters durably before it returns.
	SetSubscribed(filters []string) error
}

// Uplink states reported to the queue.
const (
	stateUp   = "up"
	stateDown = "down"
)

// Forwarder bridges the queue to the upstream broker and upstream
// subscriptions to a local sink.
type Forwarder struct {
	cfg      Config
	q        Queue
	local    gateway.Sink
	log      *slog.Logger
	password string
	tls      *tls.Config

	mu          sync.Mutex
	state       string
	lastErr     string
	nextAttempt time.Time
	sent        int64
	acked       int64
	received    int64
	ref         refusals // what the upstream refused (refusal.go)
}

// New checks cfg, reads the password file and TLS material, and returns a
// forwarder draining q; messages from upstream subscriptions go to local
// (which may be nil when cfg has no subscribe rules).
func New(cfg Config, q Queue, local gateway.Sink, log *slog.Logger) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Subscribe) > 0 && local == nil {
		return nil, errors.New("upstream: subscribe rules need a local sink")
	}
	cfg = cfg.withDefaults()
	f := &Forwarder{cfg: cfg, q: q, local: local, log: log.With("component", "upstream", "url", cfg.URL),
		password: cfg.Password.Reveal()}
	if cfg.PasswordFile != "" {
		pw, err := readPassword(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("upstream password_file: %w", err)
		}
		f.password = pw
	}
	var err error
	if f.tls, err = tlsConfig(cfg); err != nil {
		return nil, err
	}
	f.storeDetail() // the protocol, for buffer stats
	return f, nil
}

// Status is the forwarder's live state.
type Status struct {
	State       string    `json:"state"` // up, down, or "" before the first attempt
	LastErr     string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // while down: when the next connection attempt starts
	Sent        int64     `json:"sent"`                  // publishes sent upstream (including resends)
	Acked       int64     `json:"acked"`                 // acknowledged by the upstream
	Received    int64     `json:"received"`              // messages from upstream subscriptions delivered locally

	// The protocol and what the upstream refused (upstream/refusal.go).
	Protocol       string `json:"protocol"`                   // "3.1.1" or "5.0"
	Refused        int64  `json:"refused"`                    // publishes refused with an MQTT 5.0 reason code
	Expired        int64  `json:"expired"`                    // queued messages dropped unsent: message_expiry passed
	LastReasonCode byte   `json:"last_reason_code,omitempty"` // of the last refused PUBLISH or CONNACK
	LastReason     string `json:"last_reason,omitempty"`      // e.g. "PUBACK 0x97 Quota exceeded"
}

// Status returns the live state.
func (f *Forwarder) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Status{State: f.state, LastErr: f.lastErr, NextAttempt: f.nextAttempt, Sent: f.sent, Acked: f.acked, Received: f.received,
		Protocol: protocolName(f.cfg.ProtocolVersion)}
	f.ref.fill(&s)
	return s
}

// Run connects, drains the queue and reconnects with exponential backoff and
// jitter until ctx is cancelled; then it disconnects and returns nil. Stop it
// (cancel ctx and wait for Run) before closing the queue; if the queue is
// closed first, Run returns an error wrapping gateway.ErrClosed.
//
// The wait before a reconnect starts at ReconnectMin and doubles up to
// ReconnectMax while attempts fail or connections drop soon after they came
// up; a connection that stayed up StableAfter resets it to ReconnectMin.
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := f.cfg.ReconnectMin
	for {
		f.setNext(time.Time{})
		upFor, err := f.session(ctx)
		if ctx.Err() != nil {
			f.setState(stateDown, "stopped")
			return nil
		}
		if errors.Is(err, gateway.ErrClosed) {
			return fmt.Errorf("upstream: %w", err) // the queue is gone: nothing left to forward
		}
		if upFor >= f.cfg.StableAfter {
			backoff = f.cfg.ReconnectMin
		}
		// Full jitter on the upper half: spreads many gateways reconnecting at once.
		d := backoff/2 + rand.N(backoff/2+1)
		f.setNext(time.Now().Add(d))
		f.setState(stateDown, err.Error())
		f.log.Debug("uplink reconnect", "in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			f.setNext(time.Time{})
			f.setState(stateDown, "stopped")
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, f.cfg.ReconnectMax)
	}
}

// setNext records when the next attempt is due (zero: none waiting).
func (f *Forwarder) setNext(at time.Time) {
	f.mu.Lock()
	changed := !f.nextAttempt.Equal(at)
	f.nextAttempt = at
	f.mu.Unlock()
	if changed {
		if err := f.q.SetNextAttempt(at); err != nil && !errors.Is(err, gateway.ErrClosed) {
			f.log.Warn("record next uplink attempt", "err", err)
		}
	}
}

// setState records and logs an uplink state change once.
func (f *Forwarder) setState(state, lastErr string) {
	f.mu.Lock()
	changed := f.state != state
	errChanged := f.lastErr != lastErr
	f.state, f.lastErr = state, lastErr
	f.mu.Unlock()
	switch {
	case changed && state == stateUp:
		f.log.Info("uplink up")
	case changed && state == stateDown && lastErr != "stopped":
		f.log.Warn("uplink down", "err", lastErr, "next_attempt", f.Status().NextAttempt)
	case errChanged && state == stateDown:
		f.log.Debug("uplink still down", "err", lastErr)
	}
	if changed || errChanged {
		if err := f.q.SetUplink(state, lastErr); err != nil && !errors.Is(err, gateway.ErrClosed) {
			f.log.Warn("record uplink state", "err", err)
		}
	}
}

// inflight is a publish awaiting its acknowledgement.
type inflight struct {
	id  int64
	tok mqtt.Token
}

// session runs one connection: connect, subscribe, drain until an error.
// upFor is how long the connection was up (0: it never came up).
func (f *Forwarder) session(ctx context.Context) (upFor time.Duration, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deliveries := make(chan mqtt.Message, 256)
	var conns connSet // what this session dialled: closed when it ends
	defer conns.closeAll()
	opts := mqtt.NewClientOptions().
		AddBroker(f.cfg.URL).
		SetClientID(f.cfg.ClientID).
		SetUsername(f.cfg.Username).
		SetPassword(f.password).
		// Pinned: without it paho falls back to MQTT 3.1 after any failed
		// 3.1.1 attempt, network errors included.
		SetProtocolVersion(4).
		// The queue, not the session, carries the unacknowledged messages
		// going up. Coming down, a persistent session makes the upstream
		// broker keep the QoS 1/2 messages (commands) that arrive while the
		// link is down, and send them again after a reconnect.
		SetCleanSession(len(f.cfg.Subscribe) == 0).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(f.cfg.KeepAlive).
		SetConnectTimeout(f.cfg.ConnectTimeout).
		SetOrderMatters(true).
		SetAutoAckDisabled(true). // acknowledge an upstream command only once the local sink has it
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			cancel(&linkError{how: "connection lost", err: err})
		})
	if f.tls != nil {
		opts.SetTLSConfig(f.tls)
	}
	if w := f.cfg.Will; w != nil {
		opts.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retain)
	}
	opts.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		c, err := f.dial(sctx, u)
		if err != nil {
			return nil, err
		}
		if !conns.add(c) {
			_ = c.Close() // the session gave up on this attempt meanwhile
			return nil, errors.New("connection attempt abandoned")
		}
		return c, nil
	})
	// A resumed session may hold messages for a filter no rule subscribes
	// any more (the config changed): acknowledge them, so the upstream
	// does not send them again forever, and say so once.
	var staleOnce sync.Once
	opts.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		staleOnce.Do(func() {
			f.log.Warn("message from upstream matches no subscribe rule (left over from an earlier config?): dropped",
				"topic", m.Topic())
		})
		m.Ack()
	})
	client := mqtt.NewClient(opts)
	// Routes before connecting: a resumed session's queued messages
	// arrive right after CONNACK, before the SUBSCRIBE round trips.
	handlers := make([]mqtt.MessageHandler, len(f.cfg.Subscribe))
	for i, r := range f.cfg.Subscribe {
		rule := r
		handlers[i] = func(_ mqtt.Client, m mqtt.Message) {
			// Called in order on paho's router goroutine; never block it for
			// long, PUBACKs are processed behind it.
			select {
			case deliveries <- ruleMessage{Message: m, rule: rule}:
			case <-sctx.Done():
			}
		}
		client.AddRoute(r.Filter, handlers[i])
	}
	tok := client.Connect()
	if !tok.WaitTimeout(f.cfg.ConnectTimeout + time.Second) {
		// Abandon the attempt for good before the next one starts with the
		// same client id: cancel its dial, close its connection, and wait
		// until paho has given up on it.
		cancel(errors.New("connect: timeout"))
		conns.closeAll()
		if !tok.WaitTimeout(f.cfg.ConnectTimeout) {
			f.log.Warn("abandoned connection attempt still running")
		}
		return 0, errors.New("connect: timeout")
	}
	if err := tok.Error(); err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	var upSince time.Time // set once subscribed: the uplink is up
	defer func() {
		if !upSince.IsZero() {
			upFor = time.Since(upSince)
		}
	}()
	defer client.Disconnect(250)
	defer f.sayGoodbye(ctx, client)
	if c := conns.current(); c != nil && f.cfg.KeepAlive > 0 {
		go c.watch(sctx, f.cfg.KeepAlive, func(err error) { cancel(err) })
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	if len(f.cfg.Subscribe) > 0 {
		wg.Go(func() { f.deliver(sctx, deliveries) })
	}
	subs, _ := f.q.(SubscriptionStore)
	var stale []string // subscribed by an earlier config, not by this one
	if subs != nil {
		if stale, err = f.staleFilters(subs); err != nil {
			return 0, err
		}
	}
	for i, r := range f.cfg.Subscribe {
		st := client.Subscribe(r.Filter, qosOf(r.QoS), handlers[i])
		if !st.WaitTimeout(f.cfg.ConnectTimeout) {
			return 0, fmt.Errorf("subscribe %q: timeout", r.Filter)
		}
		if err := st.Error(); err != nil {
			return 0, fmt.Errorf("subscribe %q: %w", r.Filter, err)
		}
		// [MQTT-3.9.3] return code 0x80: the server refused the subscription.
		if codes := st.(*mqtt.SubscribeToken).Result(); codes[r.Filter] == 0x80 {
			return 0, fmt.Errorf("subscribe %q: refused by the server", r.Filter)
		}
	}
	if len(stale) > 0 {
		// [MQTT-3.10.4-1] the server stops adding messages for the filters.
		ut := client.Unsubscribe(stale...)
		if !ut.WaitTimeout(f.cfg.ConnectTimeout) {
			return 0, fmt.Errorf("unsubscribe %q: timeout", stale)
		}
		if err := ut.Error(); err != nil {
			return 0, fmt.Errorf("unsubscribe %q: %w", stale, err)
		}
		f.log.Info("unsubscribed upstream filters no subscribe rule has any more", "filters", stale)
	}
	if subs != nil {
		if err := subs.SetSubscribed(f.filters()); err != nil {
			return 0, fmt.Errorf("record subscriptions: %w", err)
		}
	}
	if b := f.cfg.Birth; b != nil {
		if err := f.publishNow(client, b, f.cfg.ConnectTimeout); err != nil {
			return 0, fmt.Errorf("birth message: %w", err)
		}
	}
	upSince = time.Now()
	f.setState(stateUp, "")

	// window holds the publishes awaiting acknowledgement, in order; slots
	// bounds them to exactly Inflight (brokers such as AWS IoT Core cut a
	// client that has more unacknowledged publishes than they allow).
	window := make(chan inflight, f.cfg.Inflight)
	slots := make(chan struct{}, f.cfg.Inflight)
	wg.Go(func() { f.collect(sctx, cancel, window, slots) })
	f.publish(sctx, cancel, client, window, slots)
	return 0, context.Cause(sctx) // upFor is set on the way out
}

// publishNow publishes m and waits for its acknowledgement.
func (f *Forwarder) publishNow(client mqtt.Client, m *gateway.Message, timeout time.Duration) error {
	tok := client.Publish(m.Topic, m.QoS, m.Retain, m.Payload)
	if !tok.WaitTimeout(timeout) {
		return fmt.Errorf("publish %s: timeout", m.Topic)
	}
	return tok.Error()
}

// goodbyeTimeout bounds the wait for the will's acknowledgement on a clean stop.
const goodbyeTimeout = 2 * time.Second

// sayGoodbye publishes the will before a clean disconnect (ctx cancelled:
// the gateway stops), as the DISCONNECT that follows discards it.
func (f *Forwarder) sayGoodbye(ctx context.Context, client mqtt.Client) {
	if f.cfg.Will == nil || ctx.Err() == nil || !client.IsConnectionOpen() {
		return
	}
	if err := f.publishNow(client, f.cfg.Will, goodbyeTimeout); err != nil {
		f.log.Warn("will not published before disconnecting", "topic", f.cfg.Will.Topic, "err", err)
	}
}

// filters returns the filters of the subscribe rules.
func (f *Forwarder) filters() []string {
	var out []string
	for _, r := range f.cfg.Subscribe {
		out = append(out, r.Filter)
	}
	return out
}

// staleFilters returns the recorded filters that no subscribe rule has any
// more. Before the session subscribes, it records the union of both sets, so
// that a crash between SUBSCRIBE and the final record still leaves every
// subscribed filter known. With no subscribe rules the session is clean: the
// server forgot every subscription, there is nothing to unsubscribe.
func (f *Forwarder) staleFilters(subs SubscriptionStore) ([]string, error) {
	old, err := subs.Subscribed()
	if err != nil {
		return nil, fmt.Errorf("read recorded subscriptions: %w", err)
	}
	cur := f.filters()
	if len(cur) == 0 {
		return nil, nil
	}
	var stale []string
	for _, o := range old {
		if !slices.Contains(cur, o) {
			stale = append(stale, o)
		}
	}
	if err := subs.SetSubscribed(append(slices.Clone(cur), stale...)); err != nil {
		return nil, fmt.Errorf("record subscriptions: %w", err)
	}
	return stale, nil
}

// publish reads the queue from the start (everything unacknowledged is sent
// again after a reconnect) and publishes with at most Inflight unacknowledged.
func (f *Forwarder) publish(ctx context.Context, cancel context.CancelCauseFunc, client mqtt.Client, window chan<- inflight, slots chan<- struct{}) {
	type batch struct {
		ids  []int64
		msgs []gateway.Message
	}
	// The reader keeps the next batch ready so that reading the queue is
	// not in the path between two publishes.
	batches := make(chan batch, 1)
	var reader sync.WaitGroup
	defer reader.Wait()
	reader.Go(func() {
		defer close(batches)
		var after int64
		n := max(f.cfg.Inflight, 256)
		for {
			ids, msgs, err := f.q.Next(ctx, after, n)
			if err != nil {
				if ctx.Err() == nil {
					cancel(fmt.Errorf("read queue: %w", err))
				}
				return
			}
			after = ids[len(ids)-1]
			select {
			case batches <- batch{ids, msgs}:
			case <-ctx.Done():
				return
			}
		}
	})
	var pace pacer
	pace.interval = rateInterval(f.cfg.MaxRate)
	warned := false
	for b := range batches {
		for i, m := range b.msgs {
			if err := pace.wait(ctx); err != nil {
				return
			}
			topic, ok := remoteTopic(f.cfg.Forward, m.Topic)
			if !ok && !warned {
				warned = true // once per connection
				f.log.Warn("queued message matches no forward rule (the rules changed?): sent with its local topic", "topic", m.Topic)
			}
			select {
			case slots <- struct{}{}: // a free place in the window
			case <-ctx.Done():
				return
			}
			tok := client.Publish(topic, m.QoS, m.Retain, m.Payload)
			window <- inflight{id: b.ids[i], tok: tok} // never blocks: slots bounds it
		}
		f.mu.Lock()
		f.sent += int64(len(b.ids))
		f.mu.Unlock()
	}
}

// collect waits for acknowledgements in publish order and acks the queue.
// MQTT delivers the acknowledgements of one connection in order for the
// same QoS ([MQTT-4.6.0-2], [MQTT-4.6.0-3]).
func (f *Forwarder) collect(ctx context.Context, cancel context.CancelCauseFunc, window <-chan inflight, slots <-chan struct{}) {
	const ackBatch = 256
	acked := make([]int64, 0, ackBatch)
	flush := func() bool {
		if len(acked) == 0 {
			return true
		}
		if err := f.q.Ack(acked...); err != nil {
			cancel(fmt.Errorf("ack queue: %w", err))
			return false
		}
		f.mu.Lock()
		f.acked += int64(len(acked))
		f.mu.Unlock()
		acked = acked[:0]
		return true
	}
	defer flush() // what was acknowledged before the session ended
	for {
		var in inflight
		select {
		case in = <-window:
		default:
			// Nothing more in flight right now: hand over what we have.
			if !flush() {
				return
			}
			select {
			case in = <-window:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-in.tok.Done():
		case <-ctx.Done():
			return
		}
		if err := in.tok.Error(); err != nil {
			cancel(&linkError{how: "publish failed", err: err})
			return
		}
		<-slots // its place in the window is free
		acked = append(acked, in.id)
		if len(acked) == ackBatch && !flush() {
			return
		}
	}
}

// ruleMessage is an upstream message with the rule that subscribed it.
type ruleMessage struct {
	mqtt.Message
	rule SubscribeRule
}

// deliver publishes upstream messages to the local sink in arrival order and
// acknowledges each upstream only once the sink accepted it.
func (f *Forwarder) deliver(ctx context.Context, in <-chan mqtt.Message) {
	for {
		var m mqtt.Message
		select {
		case m = <-in:
		case <-ctx.Done():
			return
		}
		rm := m.(ruleMessage)
		lm := gateway.Message{
			Topic:   rm.rule.localTopic(m.Topic()),
			Payload: m.Payload(),
			QoS:     m.Qos(),
			Retain:  m.Retained(),
			Time:    time.Now(),
		}
		if err := f.local.Publish(ctx, lm); err != nil {
			// Not acknowledged: the upstream broker sends it again after a reconnect.
			f.log.Warn("deliver upstream message locally", "topic", lm.Topic, "err", err)
			continue
		}
		m.Ack()
		f.mu.Lock()
		f.received++
		f.mu.Unlock()
	}
}

// pacer spaces publishes to honour max_rate.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func rateInterval(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

func (p *pacer) wait(ctx context.Context) error {
	if p.interval == 0 {
		return ctx.Err()
	}
	now := time.Now()
	if p.next.After(now) {
		t := time.NewTimer(p.next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		now = p.next
	}
	p.next = now.Add(p.interval)
	return nil
}
