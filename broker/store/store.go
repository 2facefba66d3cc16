// Package store persists the broker's durable state in SQLite (WAL mode):
// retained messages, persistent sessions with their subscriptions, and the
// QoS 1 and 2 messages queued for them.
//
// Writes are queued and committed by one goroutine in batched transactions
// (group commit). A publisher that must not be acknowledged before its
// message is stored takes a Mark before queueing and waits in Flush, which
// returns an error when any write queued since the mark was not committed.
// The database runs with synchronous=FULL: a transaction Flush reported as
// committed is on the disk (the WAL is fsynced at every commit), so it
// survives a kill -9, a crash of the system and a power loss alike.
package store

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("store closed")

// ErrNotStored is wrapped by Flush's error when a write queued since the
// mark failed (a failed statement or commit, e.g. a full disk): what the
// caller queued may not be on disk, so it must not be acknowledged.
var ErrNotStored = errors.New("not stored")

// Message is a stored application message.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// MQTT 5.0: Props are the message's properties as packet.Properties.Append
	// encodes them (nil: none), Expires when its Message Expiry Interval
	// ends, in Unix milliseconds (0: never).
	Props   []byte
	Expires int64
}

// Queued is a message queued for a session, with the QoS it is delivered at.
type Queued struct {
	Seq int64 // unique per store, increasing in queue order
	Msg Message
	QoS byte
	// PacketID is the packet identifier a QoS 2 message was sent with (0:
	// not sent yet); Released is set once the client sent PUBREC. They let a
	// restarted broker resend the same PUBLISH or PUBREL [MQTT-4.4.0-1].
	PacketID uint16
	Released bool
	// Group is the MQTT 5.0 shared subscription ("$share/name/filter")
	// the message was queued for ("" none): another member of the group may
	// take it (section 4.8.2).
	Group string
}

// Will is an MQTT 5.0 will message waiting for its Will Delay Interval
// (section 3.1.3.2.2) while the client's persistent session lives: it
// survives a restart of the broker, to be published when the delay ends
// unless the session is resumed first [MQTT-3.1.3-9].
type Will struct {
	ClientID string
	User     string  // the ACL applies to the will as to the client's publishes
	Msg      Message // Expires is unused: see Expiry
	// Expiry is the will's Message Expiry Interval in seconds, counted
	// from when it is published (0: none).
	Expiry uint32
	Due    int64 // when the delay ends, in Unix milliseconds
}

// Session is the stored state of a persistent session.
type Session struct {
	ClientID string
	// User is the user name the session belongs to ("" anonymous); a
	// different user connecting with the same client id starts a fresh
	// session. UserKnown is false for a session stored before user names
	// were: it is bound to the next user that connects.
	User      string
	UserKnown bool
	// Expiry is the session's expiry in milliseconds as last saved
	// (SetExpiry): -1 never; ExpiryKnown is false when none was saved.
	Expiry      int64
	ExpiryKnown bool
	Subs        map[string]byte   // topic filter -> granted QoS and MQTT 5.0 options (the Subscription Options byte)
	SubIDs      map[string]uint32 // topic filter -> MQTT 5.0 Subscription Identifier, when it has one
	Queue       []Queued          // in Seq order
}

const schema = `
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS subs (client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL,
	PRIMARY KEY (client_id, filter));
CREATE TABLE IF NOT EXISTS queue (client_id TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL,
	payload BLOB NOT NULL, msg_qos INTEGER NOT NULL, retain INTEGER NOT NULL, qos INTEGER NOT NULL,
	packet_id INTEGER NOT NULL DEFAULT 0, released INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (client_id, seq));
CREATE TABLE IF NOT EXISTS wills (client_id TEXT PRIMARY KEY, user TEXT NOT NULL, topic TEXT NOT NULL,
	payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, props BLOB,
	expiry INTEGER NOT NULL, due INTEGER NOT NULL);
`

// Store is an open database. Its methods are safe for concurrent use; the
// mutating ones queue the change and return at once.
type Store struct {
	db     *sql.DB
	log    *slog.Logger
	ops    chan op
	done   chan struct{}
	mu     sync.RWMutex // guards closed against sends on ops, and numbers ops in queue order
	closed bool
	opID   atomic.Uint64 // number of the last op queued
	err    error         // the error of the last batch while writes fail, reported by Close
	seq    int64         // last Seq handed out, guarded by seqMu
	seqMu  sync.Mutex

	// Writer goroutine only:
	failedUpTo uint64 // number of the last op of the last failed batch
	failing    bool   // the last batch failed (log once per state change)

	failures atomic.Uint64 // failed batches
}

type op struct {
	id    uint64 // 1, 2, ... in queue order; a flush marker's id is its mark
	query string
	args  []any
	flush chan error // non-nil: a Flush marker
}

// Open opens (creating if needed) the database at path.
func Open(path string) (*Store, error) {
	// synchronous=FULL: in WAL mode a commit returns once the WAL is
	// fsynced, so an acknowledged message survives a power loss; NORMAL
	// would survive only a crash of the process.
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close() // the schema error is the one to report
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(db); err != nil {
		db.Close() // the migration error is the one to report
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, log: slog.New(slog.DiscardHandler), ops: make(chan op, 4096), done: make(chan struct{})}
	if err := db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM queue`).Scan(&s.seq); err != nil {
		db.Close() // the query error is the one to report
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	go s.writer()
	return s, nil
}

// migrate adds the columns later versions need to an older database (and
// to a new one: the schema above is the first version's).
func migrate(db *sql.DB) error {
	for _, c := range []struct{ table, column, decl string }{
		{"sessions", "user", "TEXT"},      // NULL: stored before sessions were bound to a user name
		{"sessions", "expiry", "INTEGER"}, // NULL: stored before MQTT 5.0 session expiry
		{"subs", "sub_id", "INTEGER NOT NULL DEFAULT 0"},
		{"retained", "props", "BLOB"},
		{"retained", "expires", "INTEGER NOT NULL DEFAULT 0"},
		{"queue", "props", "BLOB"},
		{"queue", "expires", "INTEGER NOT NULL DEFAULT 0"},
		{"queue", "share_group", "TEXT NOT NULL DEFAULT ''"},
	} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := db.Exec(`ALTER TABLE ` + c.table + ` ADD COLUMN ` + c.column + ` ` + c.decl); err != nil {
			return fmt.Errorf("migrate: add %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

// NextSeq returns a new queue sequence number.
func (s *Store) NextSeq() int64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	s.seq++
	return s.seq
}

// SetLogger sets where write failures are logged (once per change of
// state: failing, then recovered). Call it before the first write.
func (s *Store) SetLogger(l *slog.Logger) { s.log = l }

// Failures returns the number of batches of writes that failed.
func (s *Store) Failures() uint64 { return s.failures.Load() }

func (s *Store) exec(query string, args ...any) {
	s.mu.Lock() // numbering and sending together keep ids in queue order
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.ops <- op{id: s.opID.Add(1), query: query, args: args}
}

// SetRetained stores m as the retained message of its topic.
func (s *Store) SetRetained(m Message) {
	s.exec(`INSERT OR REPLACE INTO retained (topic, payload, qos, props, expires) VALUES (?, ?, ?, ?, ?)`,
		m.Topic, nonNil(m.Payload), m.QoS, m.Props, m.Expires)
}

// DeleteRetained removes the retained message of topic.
func (s *Store) DeleteRetained(topic string) {
	s.exec(`DELETE FROM retained WHERE topic = ?`, topic)
}

// SaveSession records a persistent session (without subscriptions) and the
// user name it belongs to.
func (s *Store) SaveSession(clientID, user string) {
	s.exec(`INSERT OR REPLACE INTO sessions (client_id, user) VALUES (?, ?)`, clientID, user)
}

// SetExpiry records how long a persistent session lives offline, in
// milliseconds (-1: never).
func (s *Store) SetExpiry(clientID string, ms int64) {
	s.exec(`UPDATE sessions SET expiry = ? WHERE client_id = ?`, ms, clientID)
}

// DeleteSession removes a session with its subscriptions and queue.
func (s *Store) DeleteSession(clientID string) {
	s.exec(`DELETE FROM sessions WHERE client_id = ?`, clientID)
	s.exec(`DELETE FROM subs WHERE client_id = ?`, clientID)
	s.exec(`DELETE FROM queue WHERE client_id = ?`, clientID)
}

// SetWill records the delayed will of a client, replacing one stored
// before.
func (s *Store) SetWill(w Will) {
	s.exec(`INSERT OR REPLACE INTO wills (client_id, user, topic, payload, qos, retain, props, expiry, due) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ClientID, w.User, w.Msg.Topic, nonNil(w.Msg.Payload), w.Msg.QoS, w.Msg.Retain, w.Msg.Props, w.Expiry, w.Due)
}

// DeleteWill removes the delayed will of a client: published, or
// cancelled by the session's resumption.
func (s *Store) DeleteWill(clientID string) {
	s.exec(`DELETE FROM wills WHERE client_id = ?`, clientID)
}

// Wills returns every stored delayed will, by client id.
func (s *Store) Wills() ([]Will, error) {
	rows, err := s.db.Query(`SELECT client_id, user, topic, payload, qos, retain, props, expiry, due FROM wills ORDER BY client_id`)
	if err != nil {
		return nil, fmt.Errorf("load wills: %w", err)
	}
	defer rows.Close()
	var out []Will
	for rows.Next() {
		var w Will
		if err := rows.Scan(&w.ClientID, &w.User, &w.Msg.Topic, &w.Msg.Payload, &w.Msg.QoS, &w.Msg.Retain, &w.Msg.Props, &w.Expiry, &w.Due); err != nil {
			return nil, fmt.Errorf("load wills: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load wills: %w", err)
	}
	return out, nil
}

// AddSub records a subscription of a persistent session.
func (s *Store) AddSub(clientID, filter string, qos byte, subID uint32) {
	s.exec(`INSERT OR REPLACE INTO subs (client_id, filter, qos, sub_id) VALUES (?, ?, ?, ?)`, clientID, filter, qos, subID)
}

// RemoveSub removes a subscription.
func (s *Store) RemoveSub(clientID, filter string) {
	s.exec(`DELETE FROM subs WHERE client_id = ? AND filter = ?`, clientID, filter)
}

// Enqueue records a message queued for a session.
func (s *Store) Enqueue(clientID string, q Queued) {
	s.exec(`INSERT OR REPLACE INTO queue (client_id, seq, topic, payload, msg_qos, retain, qos, props, expires, share_group) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		clientID, q.Seq, q.Msg.Topic, nonNil(q.Msg.Payload), q.Msg.QoS, q.Msg.Retain, q.QoS, q.Msg.Props, q.Msg.Expires, q.Group)
}

// MarkSent records the packet identifier a queued QoS 2 message was sent with.
func (s *Store) MarkSent(clientID string, seq int64, packetID uint16) {
	s.exec(`UPDATE queue SET packet_id = ? WHERE client_id = ? AND seq = ?`, packetID, clientID, seq)
}

// MarkReleased records that the client acknowledged a QoS 2 message with
// PUBREC: after a restart, PUBREL is resent instead of the message.
func (s *Store) MarkReleased(clientID string, seq int64) {
	s.exec(`UPDATE queue SET released = 1 WHERE client_id = ? AND seq = ?`, clientID, seq)
}

// Dequeue removes a delivered (acknowledged) message.
func (s *Store) Dequeue(clientID string, seq int64) {
	s.exec(`DELETE FROM queue WHERE client_id = ? AND seq = ?`, clientID, seq)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Mark returns the current position in the write queue, for Flush. A nil
// Store returns 0.
func (s *Store) Mark() uint64 {
	if s == nil {
		return 0
	}
	return s.opID.Load()
}

// Flush waits until every change queued before it is committed. It returns
// an error wrapping ErrNotStored when a write queued after mark (see Mark)
// failed, or ErrClosed after Close; nil means every such write is on disk.
func (s *Store) Flush(mark uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	ch := make(chan error, 1)
	s.ops <- op{id: mark, flush: ch}
	s.mu.Unlock()
	return <-ch
}

// writer commits queued changes in batches: it takes everything waiting
// (up to a limit) into one transaction.
func (s *Store) writer() {
	defer close(s.done)
	for {
		o, ok := <-s.ops
		if !ok {
			return
		}
		batch := []op{o}
	fill:
		for len(batch) < 1024 {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs batch in one transaction and answers its flush markers: a
// failed statement or commit fails the whole batch, and every marker whose
// mark is before one of its writes (or an earlier failed one) gets the
// error, so nothing uncommitted is acknowledged and no waiter hangs.
func (s *Store) commit(batch []op) {
	var last uint64 // the last write of the batch
	writes := 0
	for _, o := range batch {
		if o.flush == nil {
			last, writes = o.id, writes+1
		}
	}
	var err error
	if writes > 0 {
		err = s.run(batch)
	}
	if err != nil {
		s.failures.Add(1)
		s.failedUpTo = last
		s.err = fmt.Errorf("store commit: %w", err)
		if !s.failing {
			s.log.Error("broker store: writes failing; publishers are not acknowledged until they succeed", "err", err)
		}
		s.failing = true
	} else if writes > 0 && s.failing {
		s.failing, s.err = false, nil
		s.log.Info("broker store: writes succeed again")
	}
	for _, o := range batch {
		if o.flush == nil {
			continue
		}
		if s.failedUpTo > o.id {
			o.flush <- fmt.Errorf("store: %w: %w", ErrNotStored, cmp.Or(err, s.err, errEarlierFailure)) // s.err: the earlier failure, when this batch had no write
			continue
		}
		o.flush <- nil
	}
}

var errEarlierFailure = errors.New("an earlier batch failed")

// run executes the writes of batch in one transaction.
func (s *Store) run(batch []op) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	for _, o := range batch {
		if o.flush != nil {
			continue
		}
		if _, err := tx.Exec(o.query, o.args...); err != nil {
			return fmt.Errorf("%.40s...: %w", o.query, err)
		}
	}
	return tx.Commit()
}

// Retained returns every stored retained message.
func (s *Store) Retained() ([]Message, error) {
	rows, err := s.db.Query(`SELECT topic, payload, qos, props, expires FROM retained`)
	if err != nil {
		return nil, fmt.Errorf("load retained: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m := Message{Retain: true}
		if err := rows.Scan(&m.Topic, &m.Payload, &m.QoS, &m.Props, &m.Expires); err != nil {
			return nil, fmt.Errorf("load retained: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Sessions returns every stored persistent session.
func (s *Store) Sessions() ([]Session, error) {
	byID := map[string]*Session{}
	var order []string
	rows, err := s.db.Query(`SELECT client_id, user, expiry FROM sessions ORDER BY client_id`)
	if err != nil {
		return nil, fmt.Errorf("load sessions: %w", err)
	}
	for rows.Next() {
		var id string
		var user sql.NullString
		var expiry sql.NullInt64
		if err := rows.Scan(&id, &user, &expiry); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load sessions: %w", err)
		}
		byID[id] = &Session{ClientID: id, User: user.String, UserKnown: user.Valid, Expiry: expiry.Int64,
			ExpiryKnown: expiry.Valid, Subs: map[string]byte{}, SubIDs: map[string]uint32{}}
		order = append(order, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load sessions: %w", err)
	}
	rows, err = s.db.Query(`SELECT client_id, filter, qos, sub_id FROM subs`)
	if err != nil {
		return nil, fmt.Errorf("load subscriptions: %w", err)
	}
	for rows.Next() {
		var id, f string
		var q byte
		var subID uint32
		if err := rows.Scan(&id, &f, &q, &subID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load subscriptions: %w", err)
		}
		if ss := byID[id]; ss != nil {
			ss.Subs[f] = q
			if subID != 0 {
				ss.SubIDs[f] = subID
			}
		}
	}
	rows.Close()
	rows, err = s.db.Query(`SELECT client_id, seq, topic, payload, msg_qos, retain, qos, packet_id, released, props, expires, share_group FROM queue ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("load queue: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var q Queued
		if err := rows.Scan(&id, &q.Seq, &q.Msg.Topic, &q.Msg.Payload, &q.Msg.QoS, &q.Msg.Retain, &q.QoS, &q.PacketID, &q.Released, &q.Msg.Props, &q.Msg.Expires, &q.Group); err != nil {
			return nil, fmt.Errorf("load queue: %w", err)
		}
		if ss := byID[id]; ss != nil {
			ss.Queue = append(ss.Queue, q)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load queue: %w", err)
	}
	out := make([]Session, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out, nil
}

// Close commits what is queued and closes the database. It returns the
// write error of the last batch if that failed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	return errors.Join(s.err, s.db.Close())
}
