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

// expiredLocked reports whether s is a persistent session offline for
// longer than the session expiry at now. The caller holds s.mu.
func (b *Broker) expiredLocked(s *session, now time.Time) bool {
	return b.cfg.SessionExpiry > 0 && s.persistent && s.conn == nil && now.Sub(s.offline) > b.cfg.SessionExpiry
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
	attrs := []any{"count", len(ids), "session_expiry", b.cfg.SessionExpiry}
	if len(ids) <= maxLoggedExpired {
		attrs = append(attrs, "clients", ids)
	}
	b.log.Info("persistent sessions expired", attrs...)
	return ids
}
