package buffer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway"
)

// ErrDiskFull is returned by Publish (and passed to an Append callback) when
// the message could not be committed because the disk (or the database's page
// limit) is full. The message was not accepted.
var ErrDiskFull = errors.New("buffer: disk full")

var _ gateway.Sink = (*Buffer)(nil)

// rec is a message not yet committed, or being committed.
type rec struct {
	id    int64
	at    time.Time     // accepted, by the wall clock
	mono  time.Duration // accepted, by cfg.Clock.Mono (this boot)
	m     gateway.Message
	size  int64
	acked bool        // the upstream acknowledged it
	sent  bool        // sent upstream at QoS 0 (no acknowledgement): deleted once committed
	done  func(error) // Append's callback; nil once answered (or none was given)
}

// reply is a callback to call, with its answer, once b.mu is released.
type reply struct {
	done func(error)
	err  error
}

// answer adds r's callback, if it has not been answered yet, to out; b.mu is
// held. Clearing r.done makes a second answer impossible.
func (r *rec) answer(out []reply, err error) []reply {
	if r.done == nil {
		return out
	}
	out = append(out, reply{r.done, err})
	r.done = nil
	return out
}

// callAll calls the collected callbacks, in order; b.mu must not be held.
func callAll(replies []reply) {
	for _, rp := range replies {
		rp.done(rp.err)
	}
}

// Buffer is the durable store-and-forward queue. All its methods are safe for
// concurrent use.
type Buffer struct {
	cfg Config
	log *slog.Logger
	wdb *sql.DB // the one writing connection, used only by the writer goroutine
	rdb *sql.DB // read-only connections for Next and Stats

	wake   chan struct{} // nudges the writer
	cancel context.CancelFunc
	done   chan struct{} // closed when the writer returned

	mu          sync.Mutex
	closed      bool
	nextID      int64
	pending     []*rec              // accepted, not committed, id order
	committing  []*rec              // in the writer's current transaction
	acked       map[int64]time.Time // committed and acknowledged: delete due
	lastDBID    int64               // highest id committed
	avail       chan struct{}       // closed when a message is appended
	online      bool                // the uplink is up: hold messages for acks
	dbRows      int64               // rows in the queue table
	dbBytes     int64               // their size as counted against MaxBytes
	memRows     int64               // unacknowledged pending and committing records
	memBytes    int64
	mustCommit  bool // a pending record's callback waits for its commit: do not hold
	drops       int64
	dropsBy     map[string]int64
	fullErrors  int64
	commits     int64
	lastAck     time.Time
	ackDirty    bool // lastAck not yet written
	uplink      uplinkState
	uplinkDirty bool
	subscribed  []string     // upstream filters subscribed last (meta)
	subWaiters  []chan error // SetSubscribed calls waiting for the commit of subscribed

	ageChecks atomic.Int64 // MaxAge checks done, for tests
}

type uplinkState struct {
	state, err string
	since      time.Time
	next       time.Time // the next connection attempt (zero: none waiting)
	protocol   string    // "3.1.1" or "5.0"
	refusal    string    // the last refused PUBLISH or CONNACK, e.g. "PUBACK 0x97 Quota exceeded"
}

// Open opens (or creates) the buffer database, checks it (a corrupt one is
// moved aside and a new one started) and starts the writer goroutine. Close
// must be called to stop it.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Buffer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log = log.With("component", "buffer", "path", cfg.Path)
	wdb, err := openWriter(ctx, cfg.Path, log)
	if err != nil {
		return nil, err
	}
	rdb, err := sql.Open("sqlite3", readerDSN(cfg.Path))
	if err != nil {
		_ = wdb.Close() // the open error is what matters
		return nil, fmt.Errorf("open buffer reader %s: %w", cfg.Path, err)
	}
	rdb.SetMaxOpenConns(4)
	b := &Buffer{
		cfg:     cfg,
		log:     log,
		wdb:     wdb,
		rdb:     rdb,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		acked:   make(map[int64]time.Time),
		avail:   make(chan struct{}),
		dropsBy: make(map[string]int64),
	}
	if err := b.load(ctx); err != nil {
		_ = wdb.Close() // the load error is what matters
		_ = rdb.Close()
		return nil, err
	}
	log.Info("buffer open", "depth", b.dbRows, "bytes", b.dbBytes, "drops", b.drops)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	go b.writer(wctx)
	return b, nil
}

// load reads the counters kept in the database.
func (b *Buffer) load(ctx context.Context) error {
	if err := b.loadSize(ctx); err != nil {
		return err
	}
	b.nextID = b.lastDBID + 1
	var lastAck string
	err := b.wdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaLastAck).Scan(&lastAck)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("load last ack: %w", err)
	}
	b.lastAck, _ = time.Parse(time.RFC3339Nano, lastAck) // none or a bad value: never
	var subscribed string
	err = b.wdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaSubscribed).Scan(&subscribed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("load subscribed filters: %w", err)
	}
	if subscribed != "" {
		if err := json.Unmarshal([]byte(subscribed), &b.subscribed); err != nil {
			// Not fatal: at worst a filter dropped from the config stays subscribed.
			b.log.Warn("buffer meta: subscribed filters unreadable: ignored", "err", err)
		}
	}
	rows, err := b.wdb.QueryContext(ctx, `SELECT prefix, n FROM drops`)
	if err != nil {
		return fmt.Errorf("load drop counters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return fmt.Errorf("load drop counters: %w", err)
		}
		b.dropsBy[p] = n
		b.drops += n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load drop counters: %w", err)
	}
	return nil
}

// Append appends m to the queue and returns at once. done (if not nil) is
// called exactly once with the outcome:
//   - nil when m is accepted: committed to the database, or acknowledged by
//     the upstream broker (Ack) before its commit was due;
//   - the commit's error when the commit failed and m was not accepted; it
//     wraps ErrDiskFull when the disk (or the page limit) is full;
//   - an error wrapping gateway.ErrClosed if the buffer was closed before m
//     could be committed (Close commits what is pending, so this is rare).
//
// done runs on the buffer's writer goroutine, or on the goroutine calling Ack
// (m acknowledged before its commit) or Close; callbacks for the messages of
// one commit are called in append order, but callbacks of different commits
// and of Ack may run concurrently and out of append order (a broker that must
// send PUBACKs in order, [MQTT-4.6.0-2], orders them itself). done is called
// without the Buffer's lock held, yet it must not block, since it holds up the
// writer (or Ack, or Close) meanwhile, and must not call back into the Buffer.
//
// After Close, Append returns gateway.ErrClosed and done is not called.
//
// Use Append where an acknowledgement depends on the commit but the caller
// must not wait for it (the broker holding a local client's PUBACK).
func (b *Buffer) Append(m gateway.Message, done func(error)) error {
	r := &rec{
		at:   b.cfg.Clock.Now(),
		mono: b.cfg.Clock.Mono(),
		m:    m,
		size: int64(len(m.Topic)+len(m.Payload)) + RowOverhead,
		done: done,
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("buffer append: %w", gateway.ErrClosed)
	}
	r.id = b.nextID
	b.nextID++
	b.pending = append(b.pending, r)
	b.memRows++
	b.memBytes += r.size
	close(b.avail)
	b.avail = make(chan struct{})
	nudge := !b.online || len(b.pending) == 1 || len(b.pending) >= b.cfg.BatchSize
	b.mu.Unlock()
	if nudge {
		b.nudge()
	}
	return nil
}

// Publish appends m to the queue and returns once it is accepted: committed
// to the database, or acknowledged by the upstream broker before its commit
// was due. A commit that fails returns the error (wrapping ErrDiskFull when
// the disk is full) and m is not accepted. Cancelling ctx abandons the wait;
// m stays queued. After Close it returns gateway.ErrClosed.
//
// Use Publish where an acknowledgement waits for it (a local client's QoS 1
// or 2 publish); while the uplink is up it may wait up to FlushInterval, so a
// caller publishing one message at a time should use Enqueue, or Append to
// be told the outcome without waiting.
func (b *Buffer) Publish(ctx context.Context, m gateway.Message) error {
	done := make(chan error, 1) // never blocks the callback, whether or not anyone waits
	if err := b.Append(m, func(err error) { done <- err }); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("buffer publish: %w", context.Cause(ctx))
	}
}

// Enqueue appends m to the queue without waiting for the commit: for the
// pipeline's own readings, where no acknowledgement depends on it. m is
// committed within FlushInterval (unless the upstream acknowledged it first);
// if that commit fails, the failure is logged and counted (Stats). After
// Close it returns gateway.ErrClosed.
func (b *Buffer) Enqueue(m gateway.Message) error {
	return b.Append(m, nil)
}

// Async returns a Sink whose Publish is Enqueue.
func (b *Buffer) Async() gateway.Sink {
	return gateway.SinkFunc(func(_ context.Context, m gateway.Message) error { return b.Enqueue(m) })
}

// Backlog returns how many appended messages are held in memory, neither
// committed yet (those in the commit under way included) nor acknowledged by
// the upstream, and their size as counted against MaxBytes: what the disk has
// yet to take. A caller may shed load it can afford to lose (QoS 0) while it
// grows.
func (b *Buffer) Backlog() (rows, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.memRows, b.memBytes
}

func (b *Buffer) nudge() {
	select {
	case b.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Next returns up to n queued, unacknowledged messages with ids greater than
// after, in id (accept) order, waiting until there is at least one. Cancelling
// ctx returns its error; after Close it returns gateway.ErrClosed.
func (b *Buffer) Next(ctx context.Context, after int64, n int) ([]int64, []gateway.Message, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, nil, fmt.Errorf("buffer next: %w", gateway.ErrClosed)
		}
		ids, msgs, err := b.collect(ctx, after, n)
		avail := b.avail
		b.mu.Unlock()
		if err != nil || len(ids) > 0 {
			return ids, msgs, err
		}
		select {
		case <-avail:
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		}
	}
}

// collect gathers the messages for Next; b.mu is held. Committed rows are
// read from the database, the rest from memory; because records leave memory
// only after their commit, and the read happens under b.mu, nothing is missed.
func (b *Buffer) collect(ctx context.Context, after int64, n int) ([]int64, []gateway.Message, error) {
	var ids []int64
	var msgs []gateway.Message
	cursor := after
	for cursor < b.lastDBID && len(ids) < n {
		rows, err := b.rdb.QueryContext(ctx,
			`SELECT id, mtime, topic, qos, retain, payload FROM queue WHERE id > ? ORDER BY id LIMIT ?`,
			cursor, n-len(ids))
		if err != nil {
			return nil, nil, fmt.Errorf("buffer next: %w", err)
		}
		got := 0
		for rows.Next() {
			var id, mtime int64
			var m gateway.Message
			if err := rows.Scan(&id, &mtime, &m.Topic, &m.QoS, &m.Retain, &m.Payload); err != nil {
				_ = rows.Close() // the scan error is what matters
				return nil, nil, fmt.Errorf("buffer next: %w", err)
			}
			got++
			cursor = id
			if b.isAcked(id) {
				continue
			}
			if mtime != 0 {
				m.Time = time.Unix(0, mtime)
			}
			ids = append(ids, id)
			msgs = append(msgs, m)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("buffer next: %w", err)
		}
		if got == 0 {
			break
		}
	}
	if len(ids) >= n {
		return ids, msgs, nil
	}
	for _, list := range [][]*rec{b.committing, b.pending} {
		for _, r := range list {
			if r.id <= cursor || r.acked || r.sent {
				continue
			}
			ids = append(ids, r.id)
			msgs = append(msgs, r.m)
			if len(ids) >= n {
				return ids, msgs, nil
			}
		}
	}
	return ids, msgs, nil
}

// isAcked reports whether a committed id was acknowledged; b.mu is held.
func (b *Buffer) isAcked(id int64) bool {
	if _, ok := b.acked[id]; ok {
		return true
	}
	if r := findRec(b.committing, id); r != nil {
		return r.acked || r.sent
	}
	return false
}

// findRec finds id in an id-ordered list.
func findRec(list []*rec, id int64) *rec {
	i := sort.Search(len(list), func(i int) bool { return list[i].id >= id })
	if i < len(list) && list[i].id == id {
		return list[i]
	}
	return nil
}

// Ack removes acknowledged messages from the queue. A message still in
// memory is accepted at once (its Append callback is called before Ack
// returns) and never written; a committed one is deleted with the next
// commit. Unknown ids are ignored.
//
// A QoS 0 message has no acknowledgement from the upstream: Ack only says it
// was handed to the connection, which a crash can lose. So a QoS 0 message
// whose Append callback is waiting is not answered by Ack: it is committed at
// once (not held for FlushInterval), answered after the commit and deleted
// with a later one; Next does not return it again.
func (b *Buffer) Ack(ids ...int64) error {
	now := time.Now()
	var replies []reply
	b.mu.Lock()
	defer func() {
		b.mu.Unlock()
		callAll(replies)
	}()
	if b.closed {
		return fmt.Errorf("buffer ack: %w", gateway.ErrClosed)
	}
	for _, id := range ids {
		if r := findRec(b.pending, id); r != nil {
			if r.m.QoS == 0 && r.done != nil {
				// Sent at QoS 0: the upstream acknowledges nothing, and the
				// callback's caller (a local QoS 1/2 publisher's PUBACK)
				// was promised a commit. Commit now, delete afterwards.
				r.sent = true
				b.mustCommit = true
				b.nudgeLocked()
				continue
			}
			if !r.acked {
				r.acked = true
				b.memRows--
				b.memBytes -= r.size
				replies = r.answer(replies, nil)
			}
			continue
		}
		if r := findRec(b.committing, id); r != nil {
			if r.m.QoS == 0 && r.done != nil {
				r.sent = true // answered after its commit, as above
				continue
			}
			if !r.acked {
				r.acked = true // the writer deletes it, and answers it, after its commit
				b.memRows--
				b.memBytes -= r.size
			}
			continue
		}
		if id <= b.lastDBID {
			if _, ok := b.acked[id]; !ok {
				b.acked[id] = now
			}
		}
	}
	if len(ids) > 0 {
		b.lastAck = now
		b.ackDirty = true
	}
	if len(b.acked) >= b.cfg.BatchSize {
		b.nudgeLocked()
	}
	return nil
}

func (b *Buffer) nudgeLocked() {
	select {
	case b.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Uplink states the forwarder reports through SetUplink.
const (
	UplinkUp   = "up"
	UplinkDown = "down"
)

// SetUplink records the forwarder's uplink state and last error, shown by
// stats. While the state is "up", new messages wait up to FlushInterval in
// memory for the upstream acknowledgement before they are written.
func (b *Buffer) SetUplink(state, lastErr string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("buffer set uplink: %w", gateway.ErrClosed)
	}
	if b.uplink.state != state {
		b.uplink.since = time.Now()
	}
	if b.uplink.state != state || b.uplink.err != lastErr {
		b.uplink.state, b.uplink.err = state, lastErr
		b.uplinkDirty = true
		b.nudgeLocked()
	}
	b.online = state == UplinkUp
	return nil
}

// Subscribed returns the upstream filters the forwarder recorded with
// SetSubscribed last (kept across restarts), so that it can unsubscribe the
// ones a new configuration no longer has.
func (b *Buffer) Subscribed() ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("buffer subscribed: %w", gateway.ErrClosed)
	}
	return slices.Clone(b.subscribed), nil
}

// SetSubscribed records the upstream filters subscribed now and returns once
// they are committed (or the commit failed).
func (b *Buffer) SetSubscribed(filters []string) error {
	done := make(chan error, 1)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("buffer set subscribed: %w", gateway.ErrClosed)
	}
	b.subscribed = slices.Clone(filters)
	b.subWaiters = append(b.subWaiters, done)
	b.nudgeLocked()
	b.mu.Unlock()
	if err := <-done; err != nil {
		return fmt.Errorf("buffer set subscribed: %w", err)
	}
	return nil
}

// SetNextAttempt records when the forwarder's next connection attempt is
// due (zero: none is waiting), shown by stats.
func (b *Buffer) SetNextAttempt(at time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("buffer set next attempt: %w", gateway.ErrClosed)
	}
	if !b.uplink.next.Equal(at) {
		b.uplink.next = at
		b.uplinkDirty = true
		b.nudgeLocked()
	}
	return nil
}

// SetUplinkDetail records the protocol the forwarder speaks upstream and
// the last publish or connection the upstream refused ("": none), shown by
// stats.
func (b *Buffer) SetUplinkDetail(protocol, lastRefusal string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("buffer set uplink detail: %w", gateway.ErrClosed)
	}
	if b.uplink.protocol != protocol || b.uplink.refusal != lastRefusal {
		b.uplink.protocol, b.uplink.refusal = protocol, lastRefusal
		b.uplinkDirty = true
		b.nudgeLocked()
	}
	return nil
}

// Close commits what is pending, stops the writer and closes the database.
// Every message appended before Close is answered before it returns: nil
// when committed, the commit's error, or (should one be left over) an error
// wrapping gateway.ErrClosed.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.avail) // wake Next waiters: they see closed
	b.avail = make(chan struct{})
	b.mu.Unlock()
	b.cancel()
	<-b.done
	return errors.Join(b.rdb.Close(), b.wdb.Close())
}
