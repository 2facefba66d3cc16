package broker

import "time"

// attach binds connection c to the session of its client id and reports
// whether an existing session was resumed. A connection already bound to
// that id is closed: the new one takes over [MQTT-3.1.4-2]. clean is
// CleanSession (3.1.1) or Clean Start (5.0): the session starts anew.
// persistent asks for a session that outlives the connection (3.1.1:
// !clean; 5.0: a Session Expiry Interval above 0 [MQTT-3.1.2-23]), expiry
// is how long it lives offline.
func (b *Broker) attach(c *conn, clean, persistent bool, expiry time.Duration) (present bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[c.clientID]
	if s != nil {
		s.mu.Lock()
		old := s.conn
		// Expired but not swept yet: the sweep runs only now and then.
		expired := b.expiredLocked(s, b.now())
		// A session belongs to the user that created it: another user with
		// the same client id must not get its subscriptions and queue.
		otherUser := s.userKnown && s.user != c.user
		oldUser := s.user
		oldExpiry := s.expiry
		s.conn = nil
		s.mu.Unlock()
		if old != nil {
			old.log.Info("session taken over by a new connection")
			old.closeWith(errTakenOver)
		}
		if expired && !clean {
			c.log.Info("persistent session expired: starting a new one", "expiry", oldExpiry)
		}
		if otherUser && !clean && s.persistent && !expired {
			c.log.Warn("client id of another user's persistent session: starting a new one; the old session is dropped",
				"user", c.user, "session_user", oldUser)
		}
		if clean || !s.persistent || expired || otherUser { // [MQTT-3.1.2-6] a clean session starts anew
			b.dropSessionLocked(s)
			s = nil
		} else {
			b.cancelWill(s.id) // [MQTT-3.1.3-9] resumed within the will delay
		}
	}
	if s == nil {
		s = b.newSession(c.clientID, persistent)
		s.user, s.userKnown = c.user, true
		b.sessions[c.clientID] = s
		if s.persistent && b.store != nil {
			b.store.SaveSession(s.id, s.user)
		}
	} else {
		present = true
	}
	s.mu.Lock()
	if !s.userKnown { // restored from an older database: bind it now
		s.user, s.userKnown = c.user, true
		if b.store != nil {
			b.store.SaveSession(s.id, s.user)
		}
	}
	s.conn = c
	// [MQTT-3.1.2-23] the expiry of this connection applies; 0 on a
	// resumed persistent session ends it with this connection.
	s.setExpiryLocked(expiry)
	for _, p := range s.inflight {
		p.resend = true // [MQTT-4.4.0-1] resend unacknowledged PUBLISH and PUBREL
	}
	s.mu.Unlock()
	c.sess = s
	b.stats.connected.Add(1)
	b.stats.connectedBy[c.version].Add(1) // the decoder accepts levels 3, 4 and 5 only
	b.stats.connTotal.Add(1)
	return present
}

// detach unbinds c from its session; a clean session ends with its
// connection [MQTT-3.1.2-6].
func (b *Broker) detach(c *conn) {
	s := c.sess
	if s == nil {
		return
	}
	b.stats.connected.Add(-1)
	b.stats.connectedBy[c.version].Add(-1)
	b.mu.Lock()
	s.mu.Lock()
	mine := s.conn == c
	var wake map[waker]struct{}
	if mine {
		s.conn = nil
		s.offline = b.now() // session expiry counts from here
		wake = s.takeOfflineLocked()
	}
	s.mu.Unlock()
	ends := mine && (!s.persistent || s.expiry == 0)
	if ends {
		b.dropSessionLocked(s)
	}
	b.mu.Unlock()
	wakeAll(wake)
	if mine && !ends {
		b.rebalanceSession(s) // its shared messages go to connected members
	}
}

// dropSessionLocked forgets s with its subscriptions and stored state. The
// caller holds b.mu.
func (b *Broker) dropSessionLocked(s *session) {
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
		b.willNow(s.id) // the session ends: a delayed will goes now
	}
	s.mu.Lock()
	s.gone = true
	filters := make([]string, 0, len(s.subs))
	for f := range s.subs {
		filters = append(filters, f)
	}
	// Messages of shared subscriptions not yet acknowledged go to another
	// member of their group (section 4.8.2): the group does not lose them.
	moved := s.takeSharedLocked(func(*shareGroup) bool { return true })
	b.memUsed.Add(-int64(s.qbytes)) // the queue goes with the session
	clear(s.queue)
	s.queue, s.qhead, s.qbytes = nil, 0, 0
	wake := s.setOverLocked(false)
	s.mu.Unlock()
	wakeAll(wake)
	b.subMu.Lock()
	for _, f := range filters {
		b.removeSubLocked(f, s)
	}
	b.subMu.Unlock()
	b.redeliverShared(s, moved)
	if s.persistent && b.store != nil {
		b.store.DeleteSession(s.id)
	}
}
