package broker

import (
	"sync"

	"github.com/edgegw/gateway/broker/packet"
)

// retainedQueue holds the granted subscriptions of a connection whose
// retained messages are still to be sent, for its retained worker.
type retainedQueue struct {
	mu      sync.Mutex
	jobs    []retainedJob
	running bool // a worker goroutine is draining jobs
}

// retainedJob is a granted subscription and the retained messages it is
// owed: those set up to upTo (Broker.retSeq when it was granted) and still
// retained when sent. A message set later reaches it as a live message, so
// a retained copy would be a duplicate; one replaced meanwhile is stale.
type retainedJob struct {
	sub  packet.Subscription
	id   uint32 // Subscription Identifier; 0 none
	upTo uint64
}

// queueRetained sends the retained messages matching subs
// [MQTT-3.3.1-6] [MQTT-3.3.1-8] from one background goroutine per
// connection, in SUBSCRIBE order, so that a wildcard filter matching many
// retained messages does not stop the connection's reader (its pings,
// acknowledgements and publishes). The SUBACK is queued before: the writer
// sends it ahead of any of them [MQTT-3.8.4-1]. Only the reader calls it.
func (c *conn) queueRetained(subs []packet.Subscription, id uint32) {
	if len(subs) == 0 {
		return
	}
	q := &c.retained
	upTo := c.b.retSeq.Load() // the subscriptions are in the tree already
	q.mu.Lock()
	for _, sub := range subs {
		q.jobs = append(q.jobs, retainedJob{sub: sub, id: id, upTo: upTo})
	}
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		// The connection is counted in b.wg until its reader ends, so this
		// Add never races with Close's Wait reaching zero.
		c.b.wg.Add(1)
		go c.retainedWorker()
	}
}

// retainedWorker delivers the queued subscriptions' retained messages until
// none are left or the connection ends.
func (c *conn) retainedWorker() {
	defer c.b.wg.Done()
	q := &c.retained
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 || c.closed() {
			q.jobs, q.running = nil, false
			q.mu.Unlock()
			return
		}
		job := q.jobs[0]
		q.jobs = q.jobs[1:]
		q.mu.Unlock()
		s := c.sess
		c.b.retainedFor(job.sub.Filter, func(m *message) bool {
			if m.rseq <= job.upTo && c.b.isRetained(m) {
				o := sendOpts{qos: min(m.qos, job.sub.QoS), retain: true, onSub: true}
				if job.id != 0 {
					o.subIDs = []uint32{job.id}
				}
				s.deliver(m, o)
			}
			return !c.closed()
		})
	}
}

// closed reports whether the connection's reader has ended.
func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// atMaxSubs reports whether a subscription to a new filter would take the
// session past max_subscriptions (replacing an existing one never does).
func (s *session) atMaxSubs(filter string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, exists := s.subs[filter]
	return !exists && len(s.subs) >= s.b.cfg.MaxSubscriptions
}
