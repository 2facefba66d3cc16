package broker

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/broker/store"
	"github.com/edgegw/gateway/topic"
)

// Delivery states of an outgoing QoS 1 or 2 message.
const (
	stQueued   = iota // waiting in the queue
	stSent            // PUBLISH sent, waiting for PUBACK or PUBREC
	stReleased        // PUBREC received, PUBREL sent, waiting for PUBCOMP
)

// pending is a message on its way to one session.
type pending struct {
	msg    *message
	qos    byte // delivery QoS: min(published, granted)
	retain bool // the RETAIN flag: a retained message sent on subscribe, or Retain As Published
	subIDs []uint32
	group  *shareGroup // sent for this shared subscription: another member takes it if the session ends
	id     uint16
	seq    int64 // row in the store; 0 when not stored
	state  uint8
	resend bool // must be (re)sent: PUBLISH with DUP or PUBREL [MQTT-4.4.0-1]
	// recheck marks a message restored from the store: it was admitted
	// under the ACL of an earlier run, so fill checks the session user's
	// read access again before sending it (see session.fill).
	recheck bool
}

// session is the state of one client id, with or without a connection
// (MQTT 3.1.1 section 4.1).
type session struct {
	b          *Broker
	id         string
	persistent bool // CleanSession = 0
	// user is the user name the session belongs to ("" anonymous): another
	// user with the same client id gets a fresh session (see attach), and
	// deliveries are checked against its read access. userKnown is false
	// only for a session restored from a database older than that. Both are
	// guarded by mu.
	user      string
	userKnown bool
	// expiry is how long a persistent session lives without a connection
	// (guarded by mu): neverExpires, 0 (it ends with its connection: an MQTT
	// 5.0 Session Expiry Interval of 0 on resuming it), or a duration. MQTT
	// 3.1.1 sessions get session_expiry; MQTT 5.0 ones their Session Expiry
	// Interval, capped at session_expiry (see Broker.sessionExpiry).
	expiry time.Duration

	mu       sync.Mutex
	conn     *conn     // nil while offline
	offline  time.Time // when conn became nil (persistent sessions: see expireSessions)
	gone     bool      // dropped (dropSessionLocked): takes no more messages
	subs     map[string]subOpts
	queue    []*pending // FIFO from qhead
	qhead    int
	qbytes   int
	inflight []*pending // sent, unacknowledged, in send order
	nextID   uint16
	// rx2 holds the inbound QoS 2 packet ids between PUBLISH and PUBREL;
	// the value is the original's acknowledgement while the publish hook
	// still holds it (nil once released), so that a resend waits for it.
	rx2      map[uint16]*heldAck
	dropped  uint64
	dropping bool // dropping since the queue was last below its limits (logged once)
	// deniedLogged is set once a restored message of this session was
	// dropped because the ACL now denies it (logged once per session).
	deniedLogged bool

	// Flow control (see deliver). over is set while the session is
	// connected and its queue is over a limit because QoS 1 and 2 messages
	// were admitted beyond it; publishers then wait (waiters) until the
	// subscriber catches up, or until it stalls (stallTimer).
	over       atomic.Bool
	waiters    map[waker]struct{}
	progress   uint64 // acknowledgements received and queued messages sent
	stallTimer *time.Timer
	stallSeen  uint64    // progress when the stall check last looked
	stallSince time.Time // when progress last changed while over
	// waitingOn is set while the broker has paused the reader of the
	// session's connection because its publishes hold maxHeldAcks
	// acknowledgements: the session the first of them waits for room in
	// (conn.pause). See pausedBehindOther.
	waitingOn atomic.Pointer[session]
}

// waker is a publisher waiting for room in a session's queue: a network
// connection holding acknowledgements, or an in-process publish.
type waker interface{ wake() }

var _ subscriber = (*session)(nil)

func (b *Broker) newSession(id string, persistent bool) *session {
	return &session{b: b, id: id, persistent: persistent, expiry: b.defaultExpiry(),
		subs: map[string]subOpts{}, rx2: map[uint16]*heldAck{}}
}

// deliver queues m for the session without blocking.
//
// Flow control: a QoS 1 or 2 message routed to a connected session whose
// queue is full (max_queued_messages or max_queued_bytes) is admitted over
// the limit and deliver reports full: the publisher then waits until the
// session has room again (conn.queueAck, Broker.waitRoom), so a subscriber
// that keeps acknowledging loses nothing; one that stops is disconnected
// after stall_timeout (checkStall). Everything else that finds the queue
// full is dropped, the new message rather than the queued ones, and
// counted: QoS 0 messages, messages for offline persistent sessions
// (which keep only QoS 1 and 2), and retained messages sent on SUBSCRIBE
// (retain set). A dropped session takes nothing: route may still hold it
// after dropSessionLocked, and its rows are deleted from the store.
func (s *session) deliver(m *message, o sendOpts) (stored bool, full *session) {
	qos := o.qos
	b := s.b
	s.mu.Lock()
	c := s.conn
	if s.gone || c == nil && (!s.persistent || qos == 0) {
		s.mu.Unlock()
		return false, nil
	}
	if !s.mayReadLocked(m.topic) {
		s.mu.Unlock()
		b.stats.readDenied.Add(1)
		return false, nil
	}
	// At max_memory every queue counts as full.
	atCap := b.overMemory(m.size())
	if len(s.queue)-s.qhead >= b.cfg.MaxQueuedMessages || s.qbytes+m.size() > b.cfg.MaxQueuedBytes || atCap {
		if c == nil || qos == 0 || o.onSub {
			if atCap {
				b.memoryDrop()
			}
			s.dropped++
			first := !s.dropping
			s.dropping = true
			s.mu.Unlock()
			b.stats.dropped.Add(1)
			if first {
				b.log.Warn("session queue full: dropping new messages for this client (QoS 0, offline or retained)",
					"client", s.id, "online", c != nil, "max_queued_messages", b.cfg.MaxQueuedMessages,
					"max_queued_bytes", b.cfg.MaxQueuedBytes)
			}
			return false, nil
		}
		full = s
		s.setOverLocked(true)
		s.armStallLocked()
	}
	p := &pending{msg: m, qos: qos, retain: o.retain, subIDs: o.subIDs, group: o.group}
	if s.persistent && qos > 0 && b.store != nil {
		p.seq = b.store.NextSeq()
		q := store.Queued{Seq: p.seq, Msg: toStored(m), QoS: qos}
		if o.group != nil {
			q.Group = o.group.full
		}
		b.store.Enqueue(s.id, q)
		stored = true
	}
	s.queue = append(s.queue, p)
	s.qbytes += m.size()
	b.memUsed.Add(int64(m.size()))
	s.mu.Unlock()
	if c != nil {
		c.wakeWriter()
	}
	return stored, full
}

// roomLocked reports whether the queue is below both of its limits. The
// caller holds s.mu.
func (s *session) roomLocked() bool {
	return len(s.queue)-s.qhead < s.b.cfg.MaxQueuedMessages && s.qbytes < s.b.cfg.MaxQueuedBytes
}

// overMemory reports whether n more bytes would take the queued and
// retained messages over max_memory.
func (b *Broker) overMemory(n int) bool {
	return b.memUsed.Load()+int64(n) > b.cfg.MaxMemory
}

// memoryDrop counts a message dropped at max_memory (the caller counts it
// in dropped too) and logs the first one since the broker was last below
// it.
func (b *Broker) memoryDrop() {
	b.stats.memDropped.Add(1)
	if b.memFull.CompareAndSwap(false, true) {
		b.log.Error("broker max_memory reached: dropping QoS 0 messages, messages for offline sessions and new retained messages; refusing MQTT 5.0 QoS 1 and 2 publishes (quota exceeded); 3.1.1 QoS 1 and 2 publishers to connected subscribers wait",
			"max_memory", b.cfg.MaxMemory, "used", b.memUsed.Load())
	}
}

// memoryFreed logs when the broker is back below 90 % of max_memory after
// it dropped messages at it.
func (b *Broker) memoryFreed() {
	if b.memFull.Load() && b.memUsed.Load() < b.cfg.MaxMemory/10*9 && b.memFull.CompareAndSwap(true, false) {
		b.log.Info("broker memory below max_memory again", "max_memory", b.cfg.MaxMemory, "used", b.memUsed.Load())
	}
}

// setOverLocked sets or clears the over flag and returns the publishers to
// wake when it was cleared. The caller holds s.mu and wakes them after
// unlocking.
func (s *session) setOverLocked(over bool) (wake map[waker]struct{}) {
	if s.over.Load() == over {
		return nil
	}
	s.over.Store(over)
	if over {
		s.b.nover.Add(1)
		return nil
	}
	s.b.nover.Add(-1)
	wake, s.waiters = s.waiters, nil
	return wake
}

func wakeAll(ws map[waker]struct{}) {
	for w := range ws {
		w.wake()
	}
}

// addWaiter registers w to be woken when the session has room again. It
// reports false when the session is not over its limit (any more): w
// should look again instead of waiting.
func (s *session) addWaiter(w waker) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.over.Load() {
		return false
	}
	if s.waiters == nil {
		s.waiters = map[waker]struct{}{}
	}
	s.waiters[w] = struct{}{}
	return true
}

// armStallLocked starts the stall check of a session that went over its
// limit. The caller holds s.mu.
func (s *session) armStallLocked() {
	if s.stallTimer != nil {
		return
	}
	s.stallSeen, s.stallSince = s.progress, time.Now()
	s.stallTimer = time.AfterFunc(stallCheckEvery(s.b.cfg.StallTimeout), s.checkStall)
}

// stallCheckEvery is how often a session over its limit is checked for
// progress: a stalled client is found between stall_timeout and 1.25
// times it.
func stallCheckEvery(stall time.Duration) time.Duration { return max(stall/4, time.Millisecond) }

// errStalled closes the connection of a subscriber that made no progress
// for stall_timeout while publishers waited for it.
var errStalled = errors.New("subscriber stalled: no acknowledgement for stall_timeout while its queue was full")

// checkStall runs while the session is over its limit: when the client has
// neither acknowledged nor taken a queued message for stall_timeout, its
// connection is closed, so that the publishers waiting for it go on (a
// persistent session keeps its queue, now bounded as an offline one).
func (s *session) checkStall() {
	b := s.b
	s.mu.Lock()
	c := s.conn
	if !s.over.Load() || c == nil || s.gone {
		s.stallTimer = nil
		s.mu.Unlock()
		return
	}
	now := time.Now()
	if s.progress != s.stallSeen || s.pausedBehindOther() {
		s.stallSeen, s.stallSince = s.progress, now
	}
	if now.Sub(s.stallSince) < b.cfg.StallTimeout {
		s.stallTimer.Reset(stallCheckEvery(b.cfg.StallTimeout))
		s.mu.Unlock()
		return
	}
	s.stallTimer = nil
	queued := len(s.queue) - s.qhead
	s.mu.Unlock()
	b.stats.stalled.Add(1)
	c.log.Warn("disconnecting a stalled subscriber: publishers were waiting for it",
		"stall_timeout", b.cfg.StallTimeout, "queued", queued, "persistent", s.persistent)
	c.closeWith(errStalled)
}

// maxWaitChain bounds how far pausedBehindOther follows the sessions that
// paused publishers wait for.
const maxWaitChain = 16

// pausedBehindOther reports whether the broker has paused the reader of the
// session's connection (its publishes hold maxHeldAcks acknowledgements)
// behind a chain of sessions that ends at one whose reader runs. The
// client's acknowledgements of what the session sent it then sit unread
// behind its publishes: its lack of progress is the pause's doing, not a
// stall, and it is not disconnected for it. The session at the end of the
// chain is judged by its own stall check, and the chain goes on when that
// one acknowledges or is disconnected. In a cycle (each paused for the
// next) nobody would move: no one is excused, and the stall checks break
// it as before.
func (s *session) pausedBehindOther() bool {
	var chain [maxWaitChain]*session
	chain[0] = s
	n := 1
	for w := s.waitingOn.Load(); w != nil; w = w.waitingOn.Load() {
		if n == len(chain) || slices.Contains(chain[:n], w) {
			return false // a cycle, or too long to tell
		}
		chain[n] = w
		n++
	}
	return n > 1
}

// mayReadLocked re-checks the session user's read access to a message's
// topic at delivery, as Mosquitto does: a granted subscription never
// carries a message the ACL denies the user. That matters for a deny rule
// inside a granted wildcard (SUBSCRIBE checks the filter, not the topics
// it will match), for subscriptions and queued messages restored from
// broker.db after a restart with a changed ACL file, and for a session
// from an older broker.db without a user, bound to the first user that
// resumes it (attach). The ACL file is read once, when the broker starts;
// SIGHUP does not reload it. The caller holds s.mu.
func (s *session) mayReadLocked(t string) bool {
	return s.b.authz == nil || s.b.authz.Allow(s.user, s.id, t, auth.Read)
}

// deniedRestoredLocked drops a message restored from the store that the
// ACL no longer lets the session's user read (the ACL file changed while
// the broker was down): it is not sent, it leaves the store, and it is
// counted in DeliveriesDenied; the first one of the session is logged. The
// caller holds s.mu.
func (s *session) deniedRestoredLocked(p *pending) {
	s.b.stats.readDenied.Add(1)
	s.unstoreLocked(p)
	if !s.deniedLogged {
		s.deniedLogged = true
		s.b.log.Warn("queued message from before the restart denied by the ACL: dropped (further ones of this session are dropped silently, counted in deliveries denied)",
			"client", s.id, "user", s.user, "topic", p.msg.topic)
	}
}

// unstoreLocked deletes p's row from the store, if it has one: p was
// delivered or discarded. The caller holds s.mu.
func (s *session) unstoreLocked(p *pending) {
	if p.seq != 0 && s.b.store != nil {
		s.b.store.Dequeue(s.id, p.seq)
	}
}

// fill appends to buf the packets the connection c may send now: resends
// first, then queued messages while the in-flight window allows. It reports
// whether more is waiting, and returns the publishers to wake because the
// queue has room again (after unlocking). The caller holds s.mu.
func (s *session) fill(c *conn, buf []byte, limit int) ([]byte, bool, map[waker]struct{}) {
	if s.conn != c {
		return buf, false, nil
	}
	b := s.b
	taken := 0
	now := b.now()
	for i := 0; i < len(s.inflight); i++ {
		p := s.inflight[i]
		if !p.resend {
			continue
		}
		p.resend = false
		if p.state == stReleased {
			buf = (&packet.Pubrel{PacketID: p.id}).AppendVersion(buf, c.version)
			continue
		}
		if c.maxOut > 0 && s.publishSize(c, p, now) > c.maxOut {
			// [MQTT-3.1.2-25] a resend over the Maximum Packet Size of the
			// new connection is not sent either: discarded as if
			// delivered, as a queued one is below, and counted.
			b.stats.tooLarge.Add(1)
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			i--
			s.unstoreLocked(p)
			taken++
			continue
		}
		buf = s.appendPublish(c, buf, p, true, now) // [MQTT-3.3.1-1] DUP on re-delivery
	}
	for s.qhead < len(s.queue) && len(buf) < limit {
		p := s.queue[s.qhead]
		if p.qos > 0 && len(s.inflight) >= c.sendMax {
			break
		}
		s.queue[s.qhead] = nil
		s.qhead++
		taken++
		s.qbytes -= p.msg.size()
		b.memUsed.Add(-int64(p.msg.size()))
		if p.msg.expired(now) {
			// [MQTT-3.3.2-5] expired while queued: not sent, counted.
			b.stats.expired.Add(1)
			s.unstoreLocked(p)
			continue
		}
		if p.recheck && !s.mayReadLocked(p.msg.topic) {
			s.deniedRestoredLocked(p)
			continue
		}
		if c.maxOut > 0 && s.publishSize(c, p, now) > c.maxOut {
			// [MQTT-3.1.2-24] [MQTT-3.1.2-25] not sent to a client whose
			// Maximum Packet Size it exceeds; discarded as if delivered
			// (Mosquitto does the same), and counted.
			b.stats.tooLarge.Add(1)
			s.unstoreLocked(p)
			continue
		}
		if p.qos > 0 {
			p.id = s.newID()
			p.state = stSent
			s.inflight = append(s.inflight, p)
			if p.qos == 2 && p.seq != 0 && b.store != nil {
				b.store.MarkSent(s.id, p.seq, p.id)
			}
		}
		buf = s.appendPublish(c, buf, p, false, now)
	}
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
	} else if s.qhead >= 1024 && s.qhead*2 >= len(s.queue) {
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
	var wake map[waker]struct{}
	if taken > 0 {
		b.memoryFreed()
		s.progress++
		if s.roomLocked() {
			s.dropping = false
			wake = s.setOverLocked(false)
		}
	}
	more := s.qhead < len(s.queue) && (s.queue[s.qhead].qos == 0 || len(s.inflight) < c.sendMax)
	return buf, more, wake
}

// publishSize is the size of the PUBLISH of p to c.
func (s *session) publishSize(c *conn, p *pending, now time.Time) int {
	pub := s.publishPacket(c, p, false, now)
	n := pub.SizeVersion(c.version)
	if c.aliasMaxOut > 0 {
		n += 3 // a Topic Alias property may be added (appendPublish)
	}
	return n
}

func (s *session) appendPublish(c *conn, buf []byte, p *pending, dup bool, now time.Time) []byte {
	pub := s.publishPacket(c, p, dup, now)
	if c.aliasMaxOut > 0 {
		c.aliasOut(&pub)
	}
	n := len(buf)
	buf = pub.AppendVersion(buf, c.version)
	s.b.stats.msgsOut.Add(1)
	s.b.stats.bytesOut.Add(uint64(len(buf) - n))
	return buf
}

// newID returns a packet identifier not used by an in-flight message
// [MQTT-2.3.1-2]. The in-flight window is far below 65535.
func (s *session) newID() uint16 {
	for {
		s.nextID++
		if s.nextID == 0 {
			continue
		}
		free := true
		for _, p := range s.inflight {
			if p.id == s.nextID {
				free = false
				break
			}
		}
		if free {
			return s.nextID
		}
	}
}

// ack handles PUBACK (want stSent, qos 1), PUBREC (qos 2, stSent ->
// stReleased) and PUBCOMP (qos 2, stReleased). It reports whether the id was
// known.
func (s *session) ack(id uint16, t packet.Type) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.inflight {
		if p.id != id {
			continue
		}
		s.progress++
		switch {
		case t == packet.PUBACK && p.qos == 1, t == packet.PUBCOMP && p.qos == 2:
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			s.unstoreLocked(p)
			return true
		case t == packet.PUBREC && p.qos == 2:
			p.state = stReleased // [MQTT-4.3.3-1] the message is no longer resent, PUBREL is
			if p.seq != 0 && s.b.store != nil {
				s.b.store.MarkReleased(s.id, p.seq)
			}
			return true
		}
		return false
	}
	return false
}

// setExpiryLocked sets the session's expiry, also in the store. The caller
// holds s.mu.
func (s *session) setExpiryLocked(d time.Duration) {
	if s.expiry == d {
		return
	}
	s.expiry = d
	if s.persistent && s.b.store != nil {
		ms := int64(-1)
		if d != neverExpires {
			ms = d.Milliseconds()
		}
		s.b.store.SetExpiry(s.id, ms)
	}
}

func toStored(m *message) store.Message {
	sm := store.Message{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain}
	if m.props != nil {
		// A Property Length and the properties: what the store held when
		// messages kept decoded properties, so rows of either stay readable.
		sm.Props = packet.AppendMessageProperties(nil, m.props)
	}
	if !m.expires.IsZero() {
		sm.Expires = m.expires.UnixMilli()
	}
	return sm
}

// fromStored is the inverse of toStored. Properties that do not decode
// (a damaged row) are left out, logged.
func (b *Broker) fromStored(sm store.Message) *message {
	m := &message{topic: sm.Topic, payload: sm.Payload, qos: sm.QoS, retain: sm.Retain}
	if len(sm.Props) > 0 {
		p, _, err := packet.DecodeMessageProperties(sm.Props)
		if err != nil {
			b.log.Warn("stored message properties unreadable: left out", "topic", sm.Topic, "err", err)
		}
		m.props = p
	}
	if sm.Expires != 0 {
		m.expires = time.UnixMilli(sm.Expires)
	}
	return m
}

func hasWildcard(filter string) bool { return strings.ContainsAny(filter, "+#") }

func matchFilter(filter, name string) bool { return topic.Match(filter, name) }

// takeOffline clears the flow-control state of a session whose connection
// went away: an offline session drops instead of admitting over its limit,
// so the publishers waiting for it are woken. The caller holds s.mu and
// wakes the returned waiters after unlocking.
func (s *session) takeOfflineLocked() map[waker]struct{} {
	return s.setOverLocked(false)
}
