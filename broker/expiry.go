package broker

import (
	"slices"
	"time"
)

// Bounds of the interval between two session expiry sweeps: a quarter of
// the expiry, within these.
const (
	minSweepInterval = time.Second
	maxSweepInterval = time.Minute
)

// maxLoggedExpired is how many client ids a sweep's log line lists; beyond
// it, only the count.
const maxLoggedExpired = 10

// sweepInterval returns how often the sweeper looks for expired sessions.
func sweepInterval(expiry time.Duration) time.Duration {
	return min(max(expiry/4, minSweepInterval), maxSweepInterval)
}

// neverExpires is the expiry of a session kept until it is resumed with a
// clean start: MQTT 3.1.1 sessions without session_expiry, and MQTT 5.0
// sessions with a Session Expiry Interval of 0xFFFFFFFF [MQTT-3.1.2-23]
// while session_expiry is 0.
const neverExpires time.Duration = -1

// maxExpiryInterval is the Session Expiry Interval meaning "never"
// (MQTT 5.0 section 3.1.2.11.2).
const maxExpiryInterval = 0xFFFFFFFF

// defaultExpiry is the expiry of an MQTT 3.1.1 persistent session.
func (b *Broker) defaultExpiry() time.Duration {
	if b.cfg.SessionExpiry > 0 {
		return b.cfg.SessionExpiry
	}
	return neverExpires
}

// sessionExpiry returns the expiry of a session for an MQTT 5.0 Session
// Expiry Interval of secs, and whether session_expiry capped it: the
// broker then sends the value it uses in CONNACK (MQTT 5.0 section
// 3.2.2.3.2). Like Mosquitto's persistent_client_expiration, the broker's
// limit applies to clients of either version.
func (b *Broker) sessionExpiry(secs uint32) (d time.Duration, capped bool) {
	if secs == 0 {
		return 0, false
	}
	d = time.Duration(secs) * time.Second
	if secs == maxExpiryInterval {
		d = neverExpires
	}
	if b.cfg.SessionExpiry > 0 && (d == neverExpires || d > b.cfg.SessionExpiry) {
		return b.cfg.SessionExpiry, true
	}
	return d, false
}

// expiredLocked reports whether s is a persistent session offline for
// longer than its expiry at now. The caller holds s.mu.
func (b *Broker) expiredLocked(s *session, now time.Time) bool {
	return s.persistent && s.conn == nil && s.expiry != neverExpires && now.Sub(s.offline) > s.expiry
}

// sweepLoop drops expired persistent sessions every b.sweepEvery until the
// broker closes.
func (b *Broker) sweepLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			b.expireSessions(b.now())
		}
	}
}

// expireSessions drops every persistent session expired at now, with its
// subscriptions and stored state, logs one line when it dropped any, and
// returns their client ids (sorted).
func (b *Broker) expireSessions(now time.Time) []string {
	var ids []string
	b.mu.Lock()
	for _, s := range b.sessions {
		s.mu.Lock()
		expired := b.expiredLocked(s, now)
		s.mu.Unlock()
		if expired {
			b.dropSessionLocked(s) // under b.mu: no connection can attach meanwhile
			ids = append(ids, s.id)
		}
	}
	b.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	attrs := []any{"count", len(ids)}
	if len(ids) <= maxLoggedExpired {
		attrs = append(attrs, "clients", ids)
	}
	b.log.Info("persistent sessions expired", attrs...)
	return ids
}
