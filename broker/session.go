package broker

import (
	"strings"
	"sync"
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
	retain bool // sent as a retained message (on subscribe)
	id     uint16
	seq    int64 // row in the store; 0 when not stored
	state  uint8
	resend bool // must be (re)sent: PUBLISH with DUP or PUBREL [MQTT-4.4.0-1]
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

	mu       sync.Mutex
	conn     *conn     // nil while offline
	offline  time.Time // when conn became nil (persistent sessions: see expireSessions)
	gone     bool      // dropped (dropSessionLocked): takes no more messages
	subs     map[string]byte
	queue    []*pending // FIFO from qhead
	qhead    int
	qbytes   int
	inflight []*pending // sent, unacknowledged, in send order
	nextID   uint16
	rx2      map[uint16]struct{} // inbound QoS 2 ids between PUBREC and PUBREL
	dropped  uint64
}

var _ subscriber = (*session)(nil)

func (b *Broker) newSession(id string, persistent bool) *session {
	return &session{b: b, id: id, persistent: persistent, subs: map[string]byte{}, rx2: map[uint16]struct{}{}}
}

// deliver queues m for the session without blocking. Offline sessions keep
// only QoS 1 and 2 messages; a full queue (count or bytes) drops the new
// message and counts it. A dropped session takes nothing: route may still
// hold it after dropSessionLocked, and its rows are deleted from the store.
func (s *session) deliver(m *message, qos byte, retain bool) (stored bool) {
	b := s.b
	s.mu.Lock()
	c := s.conn
	if s.gone || c == nil && (!s.persistent || qos == 0) || !s.mayReadLocked(m.topic) {
		s.mu.Unlock()
		return false
	}
	if len(s.queue)-s.qhead >= b.cfg.MaxQueuedMessages || s.qbytes+m.size() > b.cfg.MaxQueuedBytes {
		s.dropped++
		s.mu.Unlock()
		b.stats.dropped.Add(1)
		return false
	}
	p := &pending{msg: m, qos: qos, retain: retain}
	if s.persistent && qos > 0 && b.store != nil {
		p.seq = b.store.NextSeq()
		b.store.Enqueue(s.id, store.Queued{Seq: p.seq, Msg: toStored(m), QoS: qos})
		stored = true
	}
	s.queue = append(s.queue, p)
	s.qbytes += m.size()
	s.mu.Unlock()
	if c != nil {
		c.wakeWriter()
	}
	return stored
}

// mayRead re-checks the session user's read access to a message's topic
// at delivery, as Mosquitto does: a subscription granted earlier (by a
// wider rule, before an ACL reload, or to a session resumed under another
// identity) never carries a message the ACL denies the user now. The
// caller holds s.mu.
func (s *session) mayReadLocked(t string) bool {
	return s.b.authz == nil || s.b.authz.Allow(s.user, s.id, t, auth.Read)
}

// fill appends to buf the packets the connection c may send now: resends
// first, then queued messages while the in-flight window allows. It reports
// whether more is waiting. The caller holds s.mu.
func (s *session) fill(c *conn, buf []byte, limit int) ([]byte, bool) {
	if s.conn != c {
		return buf, false
	}
	b := s.b
	for _, p := range s.inflight {
		if !p.resend {
			continue
		}
		p.resend = false
		if p.state == stReleased {
			buf = (&packet.Pubrel{PacketID: p.id}).Append(buf)
			continue
		}
		buf = s.appendPublish(buf, p, true) // [MQTT-3.3.1-1] DUP on re-delivery
	}
	for s.qhead < len(s.queue) && len(buf) < limit {
		p := s.queue[s.qhead]
		if p.qos > 0 && len(s.inflight) >= b.cfg.MaxInflight {
			break
		}
		s.queue[s.qhead] = nil
		s.qhead++
		s.qbytes -= p.msg.size()
		if p.qos > 0 {
			p.id = s.newID()
			p.state = stSent
			s.inflight = append(s.inflight, p)
			if p.qos == 2 && p.seq != 0 && b.store != nil {
				b.store.MarkSent(s.id, p.seq, p.id)
			}
		}
		buf = s.appendPublish(buf, p, false)
	}
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
	} else if s.qhead >= 1024 && s.qhead*2 >= len(s.queue) {
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
	more := s.qhead < len(s.queue) && (s.queue[s.qhead].qos == 0 || len(s.inflight) < b.cfg.MaxInflight)
	return buf, more
}

func (s *session) appendPublish(buf []byte, p *pending, dup bool) []byte {
	pub := packet.Publish{Dup: dup, QoS: p.qos, Retain: p.retain, Topic: p.msg.topic, PacketID: p.id, Payload: p.msg.payload}
	n := len(buf)
	buf = pub.Append(buf)
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
		switch {
		case t == packet.PUBACK && p.qos == 1, t == packet.PUBCOMP && p.qos == 2:
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			if p.seq != 0 && s.b.store != nil {
				s.b.store.Dequeue(s.id, p.seq)
			}
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

func toStored(m *message) store.Message {
	return store.Message{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain}
}

func hasWildcard(filter string) bool { return strings.ContainsAny(filter, "+#") }

func matchFilter(filter, name string) bool { return topic.Match(filter, name) }

// seenRx2 reports whether a QoS 2 PUBLISH with this packet id was received
// and not yet released (a resend).
func (s *session) seenRx2(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, seen := s.rx2[id]
	return seen
}
