// Package broker is the gateway's MQTT 5.0 and 3.1.1 broker: listeners (TCP, TLS,
// WebSocket), sessions, QoS 0/1/2 delivery, retained and will messages,
// authentication and ACLs, $SYS statistics, and persistence of persistent
// sessions and retained messages in SQLite.
//
// The wire format lives in broker/packet, topic matching in the module's topic package,
// credentials and ACLs in broker/auth and the database in broker/store.
// In-process code publishes with Publish (a gateway.Sink) and subscribes with
// Subscribe, without a socket.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/store"
	"github.com/edgegw/gateway/topic"
)

// Version is reported in $SYS/broker/version.
const Version = "edgegw-broker 0.1 (MQTT 5.0, 3.1.1)"

// Broker is an MQTT broker. Create it with New, start it with Start (or
// Run), stop it with Close. Its methods are safe for concurrent use.
type Broker struct {
	cfg   Config
	log   *slog.Logger
	authn auth.Authenticator // nil: user names are not checked
	authz auth.Authorizer    // nil: every topic is allowed
	store *store.Store       // nil: nothing persists
	// clientPublish, when set, sees each message a network client
	// publishes (see SetClientPublishHook).
	clientPublish PublishHook

	mu       sync.Mutex // guards sessions
	sessions map[string]*session

	subMu sync.RWMutex
	subs  topic.Tree[subscriber, subOpts]
	// shared are the shared subscriptions by "$share/name/filter".
	shared map[string]*shareGroup

	retMu    sync.RWMutex
	retained map[string]*message
	retSeq   atomic.Uint64 // numbers retained messages as they are set, for the retained worker

	stats counters
	start time.Time

	// Session expiry: the clock and the sweep interval, which tests
	// replace before Start.
	now        func() time.Time
	sweepEvery time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lnMu      sync.Mutex
	started   bool
	closed    bool
	listeners []io.Closer
	addrs     []net.Addr
	conns     map[*conn]struct{}
	nconns    atomic.Int64

	// Wills waiting for their Will Delay Interval, by client id (see
	// delayWill); willsClosed once Close took them.
	willMu      sync.Mutex
	wills       map[string]*will
	willsClosed bool
	restored    []*will // stored by the last run, for Start (loadWills)

	nover atomic.Int64 // sessions over their queue limit (session.over)
	// memUsed is the bytes (topic and payload) of the queued and retained
	// messages, held under max_memory; memFull is set from the first drop
	// at max_memory until usage is well below it again (logged once each).
	memUsed atomic.Int64
	memFull atomic.Bool
}

// message is an application message as routed: shared, never modified.
type message struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
	// MQTT 5.0: props are the message's properties passed on unchanged,
	// encoded as they came (packet.Publish.MessageProps; nil for none),
	// expires when its Message Expiry Interval ends (zero: never), origin
	// the client id that published it (No Local).
	props   []byte
	expires time.Time
	origin  string
	rseq    uint64 // when it became the retained message of its topic (see setRetained); 0 restored
}

func (m *message) size() int { return len(m.topic) + len(m.payload) }

// subscriber receives routed messages: a session, a shared subscription
// or an in-process subscription. deliver must not block; it reports
// whether it wrote the message to the store, and the session that took it
// over its queue limit, for the publisher to wait for (nil: none; see
// session.deliver).
type subscriber interface {
	deliver(m *message, o sendOpts) (stored bool, full *session)
}

var _ gateway.Sink = (*Broker)(nil)

// New checks cfg, loads the password and ACL files and opens the
// persistence database (restoring retained messages and persistent
// sessions). It does not listen yet: call Start or Run.
func New(cfg Config, log *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	cfg.applyDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Broker{
		cfg:      cfg,
		log:      log,
		sessions: map[string]*session{},
		retained: map[string]*message{},
		conns:    map[*conn]struct{}{},
		wills:    map[string]*will{},
		shared:   map[string]*shareGroup{},
		start:    time.Now(),
		now:      time.Now,
	}
	b.sweepEvery = sweepInterval(cfg.SessionExpiry)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if cfg.PasswordFile != "" {
		pf, err := auth.LoadPasswordFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("new broker: %w", err)
		}
		b.authn = pf
	}
	if cfg.ACLFile != "" {
		acl, err := auth.LoadACLFile(cfg.ACLFile)
		if err != nil {
			return nil, fmt.Errorf("new broker: %w", err)
		}
		b.authz = acl
	}
	if cfg.PersistencePath != "" {
		st, err := store.Open(cfg.PersistencePath)
		if err != nil {
			return nil, fmt.Errorf("new broker: %w", err)
		}
		st.SetLogger(log.With("component", "broker-store"))
		b.store = st
		if err := b.restore(); err != nil {
			st.Close() // the restore error is the one to report
			return nil, fmt.Errorf("new broker: %w", err)
		}
	}
	return b, nil
}

// SetAuthenticator replaces the password-file authenticator (nil: accept
// every user name). Call it before Start.
func (b *Broker) SetAuthenticator(a auth.Authenticator) { b.authn = a }

// PublishHook sees a message a network client published. It runs on the
// client's connection goroutine: it must not block, and must not modify or
// keep m.Payload (copy it).
//
// Returning true takes the message into the hook's own safekeeping (the
// gateway appends it to the upstream buffer): the broker then holds the
// client's acknowledgement (PUBACK for QoS 1, PUBREC for QoS 2) until done
// is called, so that the client counts the message as delivered only once
// it is stored. done(nil) sends the acknowledgement; done(err) logs err and
// closes the client's connection without it, so the client publishes again
// after reconnecting ([MQTT-4.4.0-1] for a session it resumes). done must
// be called exactly once, from any goroutine, possibly before the hook
// returns; for QoS 0 it does nothing. The message is routed to local
// subscribers at once either way. Returning false leaves the message alone
// and done unused.
type PublishHook func(m gateway.Message, done func(error)) (hold bool)

// SetClientPublishHook sets fn to be called with every message a network
// client publishes and the ACL allows (once per QoS 2 packet id), and with
// every will message the broker publishes for a client (done does nothing
// then), before it is routed; in-process Publish calls do not reach it. The gateway uses it to
// hand local clients' messages on forwarded topics to the upstream buffer.
// Call it before Start.
func (b *Broker) SetClientPublishHook(fn PublishHook) { b.clientPublish = fn }

// SetAuthorizer replaces the ACL-file authorizer (nil: allow everything).
// Call it before Start.
func (b *Broker) SetAuthorizer(a auth.Authorizer) { b.authz = a }

func (b *Broker) restore() error {
	ret, err := b.store.Retained()
	if err != nil {
		return err
	}
	for _, m := range ret {
		rm := b.fromStored(m)
		rm.retain = true
		b.retained[m.Topic] = rm
		b.memUsed.Add(int64(rm.size()))
	}
	sessions, err := b.store.Sessions()
	if err != nil {
		return err
	}
	for _, ss := range sessions {
		s := b.newSession(ss.ClientID, true)
		s.user, s.userKnown = ss.User, ss.UserKnown
		if ss.ExpiryKnown { // else a 3.1.1 session from before: session_expiry
			s.expiry = neverExpires
			if ss.Expiry >= 0 {
				s.expiry = time.Duration(ss.Expiry) * time.Millisecond
			}
		}
		// The broker was not running: count the session as offline since
		// now, not since it last had a connection (not stored).
		s.offline = b.start
		for f, q := range ss.Subs {
			o := optsFromStore(q)
			o.id = ss.SubIDs[f]
			s.subs[f] = o
			b.addSubLocked(f, s, o)
		}
		for _, q := range ss.Queue {
			m := b.fromStored(q.Msg)
			// The Subscription Identifiers are not stored with the message:
			// those of the session's matching subscriptions.
			p := &pending{msg: m, qos: q.QoS, seq: q.Seq, subIDs: s.subIDsFor(m.topic)}
			if q.Group != "" {
				p.group = b.shared[q.Group] // nil when nobody is subscribed to it any more
				p.subIDs = nil
				if o, ok := s.subs[q.Group]; ok && o.id != 0 {
					p.subIDs = []uint32{o.id}
				}
			}
			if q.PacketID != 0 { // a QoS 2 message in flight: resend it (or PUBREL) with its id
				p.id, p.state, p.resend = q.PacketID, stSent, true
				if q.Released {
					p.state = stReleased
				}
				s.inflight = append(s.inflight, p)
				s.nextID = max(s.nextID, q.PacketID)
				continue
			}
			// Queued under the ACL of the last run: read access is checked
			// again when it is sent (an in-flight QoS 2 message above was
			// sent already and finishes its handshake).
			p.recheck = true
			s.queue = append(s.queue, p)
			s.qbytes += m.size()
			b.memUsed.Add(int64(m.size()))
		}
		b.sessions[ss.ClientID] = s
	}
	if err := b.loadWills(); err != nil {
		return err
	}
	b.log.Info("broker state restored", "retained", len(ret), "sessions", len(sessions), "delayed_wills", len(b.restored))
	return nil
}

// Start binds every configured listener and serves them in the background.
// It returns once all are bound (or with the first error, after closing the
// ones already bound).
func (b *Broker) Start(ctx context.Context) error {
	b.lnMu.Lock()
	defer b.lnMu.Unlock()
	if b.closed {
		return gateway.ErrClosed
	}
	if b.started {
		return errors.New("start broker: already started")
	}
	b.started = true
	b.restoreWills() // before a client can resume its session
	for _, l := range b.cfg.Listeners {
		if err := b.listen(ctx, l); err != nil {
			for _, ln := range b.listeners {
				ln.Close() // the listen error is the one to report
			}
			b.listeners, b.addrs = nil, nil
			return fmt.Errorf("start broker: %w", err)
		}
	}
	if b.cfg.SysInterval > 0 {
		b.wg.Add(1)
		go b.sysLoop()
	}
	// Always: MQTT 5.0 clients set their own session expiry.
	b.wg.Add(1)
	go b.sweepLoop()
	return nil
}

// Run starts the broker, serves until ctx is cancelled, then closes it.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-b.ctx.Done():
	}
	return b.Close()
}

// Addrs returns the addresses the listeners are bound to, in the order of
// Config.Listeners (useful with port 0).
func (b *Broker) Addrs() []net.Addr {
	b.lnMu.Lock()
	defer b.lnMu.Unlock()
	return append([]net.Addr(nil), b.addrs...)
}

// Close stops the listeners, closes every client connection, stops
// in-process subscriptions, and commits and closes the database. It
// returns the first error.
//
// The will of a connection Close ends is published, as for any connection
// closed without DISCONNECT [MQTT-3.1.2-8], before the database closes: a
// retained will is stored with the retained messages, a QoS 1 or 2 will in
// the queues of persistent sessions (online subscribers may not get it).
// An MQTT 5.0 will with a Will Delay Interval whose session is persistent
// is stored instead, when the broker has a database, as is one whose delay
// is running: the next start publishes it when the delay ends, unless the
// client resumes its session first [MQTT-3.1.3-9]. Without a database,
// delayed wills are published now, as Mosquitto does on shutdown.
func (b *Broker) Close() error {
	b.lnMu.Lock()
	if b.closed {
		b.lnMu.Unlock()
		return nil
	}
	b.closed = true
	var errs []error
	for _, ln := range b.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for c := range b.conns {
		c.shutdown()
	}
	b.lnMu.Unlock()
	b.cancel()
	delayed := b.closeWills()
	b.wg.Wait()
	for _, w := range delayed {
		b.publishWill(w) // not stored: the broker going away ends the delay, as it ends connections
	}
	if b.store != nil {
		if err := b.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close broker: %w", err)
	}
	return nil
}

// addConn registers a connection and counts it in b.wg until removeConn; it reports false when the broker is
// closed or at max_connections.
func (b *Broker) addConn(c *conn) bool {
	b.lnMu.Lock()
	defer b.lnMu.Unlock()
	if b.closed {
		return false
	}
	if b.cfg.MaxConnections > 0 && int(b.nconns.Load()) >= b.cfg.MaxConnections {
		return false
	}
	b.conns[c] = struct{}{}
	b.nconns.Add(1)
	b.wg.Add(1) // under lnMu, so never after Close started waiting
	return true
}

func (b *Broker) removeConn(c *conn) {
	b.lnMu.Lock()
	defer b.lnMu.Unlock()
	if _, ok := b.conns[c]; ok {
		delete(b.conns, c)
		b.nconns.Add(-1)
		b.wg.Done()
	}
}

func (b *Broker) allow(user, clientID, t string, a auth.Access) bool {
	return b.authz == nil || b.authz.Allow(user, clientID, t, a)
}
