package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/upstream/mqttc"
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
	dropped     int64
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
	// Every message the forwarder takes from the queue ends in Acked or
	// Dropped, once: from an empty buffer, its depth + Acked + Dropped +
	// the buffer's own drops (its caps) = the messages it accepted. Both
	// count since start.
	Acked    int64 `json:"acked"`    // delivered: the upstream acknowledged it (or, at QoS 0, it was written)
	Dropped  int64 `json:"dropped"`  // removed from the queue undelivered: expired, too large, or refused for good
	Received int64 `json:"received"` // messages from upstream subscriptions delivered locally

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
	s := Status{State: f.state, LastErr: f.lastErr, NextAttempt: f.nextAttempt, Sent: f.sent, Acked: f.acked, Dropped: f.dropped, Received: f.received,
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
		if ce := (*mqttc.ConnectError)(nil); errors.As(err, &ce) {
			// After the state: whoever sees the refusal sees the uplink down.
			f.refusedConnect(ce.ReasonCode, ce.ReasonString)
		}
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
