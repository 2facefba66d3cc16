package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/upstream/mqttc"
)

// keptRefusals are the reason codes of a refused publish (PUBACK or PUBREC
// of 0x80 and above) after which the message stays in the queue: the
// session ends and the message is sent again after the reconnect wait. The
// server may take it later (0x97 Quota exceeded: its rate or size quota; 0x80
// Unspecified error; 0x91 Packet Identifier in use). Every other code (0x87
// Not authorized, 0x90 Topic Name invalid, 0x99 Payload format invalid, 0x83
// Implementation specific error) refuses this message for good: it is
// removed from the queue, so that it does not hold up every message behind it.
// Both are counted and logged (once per change of code) with the server's
// reason string, and shown on the status page.
var keptRefusals = map[packet.Code]bool{packet.ErrUnspecified: true, packet.ErrPacketIDInUse: true, packet.ErrQuotaExceeded: true}

// ackBatch is the most queue ids handed to the acker at once.
const ackBatch = 256

// inflight is a publish awaiting its acknowledgement.
type inflight struct {
	id    int64  // in the queue
	topic string // remote
}

// drainer is the state of one connection's drain. All of it is the
// publishing goroutine's: it publishes, and it takes the acknowledgements
// itself when the window is full or the queue has nothing more, so a PUBACK
// reaches the next PUBLISH through one goroutine hand-off (the client's
// reader to this one). Acknowledged ids go to the acker goroutine, which
// acks the queue off this path.
type drainer struct {
	f       *Forwarder
	cancel  context.CancelCauseFunc
	client  *mqttc.Client
	window  int        // the most unacknowledged publishes
	flight  []inflight // unacknowledged, in publish order (from head)
	head    int
	acked   []int64       // acknowledged, not handed to the acker yet
	dropped []int64       // not sent (expired, too large), not handed to the acker yet
	toAcker chan<- ackJob // acked in order
}

// ackJob is ids for the acker to remove from the queue: acknowledged by the
// upstream, or dropped unsent (expired, too large).
type ackJob struct {
	ids     []int64
	dropped bool
}

// unacked returns how many publishes await their acknowledgement.
func (d *drainer) unacked() int { return len(d.flight) - d.head }

// take handles the acknowledgement a of the oldest publish in flight; false:
// the session is over (a refusal that keeps the message).
func (d *drainer) take(a mqttc.Ack) bool {
	in := d.flight[d.head]
	d.flight[d.head] = inflight{}
	d.head++
	if d.head == len(d.flight) {
		d.flight, d.head = d.flight[:0], 0
	}
	if a.Refused() {
		ack := "PUBACK"
		if a.QoS == 2 {
			ack = "PUBREC"
		}
		d.f.refusedPublish(ack, a.ReasonCode, a.ReasonString, in.topic)
		if keptRefusals[a.ReasonCode] {
			d.cancel(&linkError{how: "publish refused", err: errors.New(describe(ack, a.ReasonCode, a.ReasonString))})
			return false
		}
		// Refused for good: leaves the queue undelivered, counted as
		// dropped rather than acknowledged.
		d.dropped = append(d.dropped, in.id)
		return true
	}
	d.acked = append(d.acked, in.id)
	if len(d.acked) >= ackBatch {
		d.handOver()
	}
	return true
}

// handOver passes the acknowledged and the dropped ids to the acker.
func (d *drainer) handOver() {
	if len(d.acked) > 0 {
		d.toAcker <- ackJob{ids: d.acked}
		d.acked = make([]int64, 0, ackBatch)
	}
	if len(d.dropped) > 0 {
		d.toAcker <- ackJob{ids: d.dropped, dropped: true}
		d.dropped = nil
	}
}

// flush writes out what the client buffered; false: the session is over.
func (d *drainer) flush() bool {
	if err := d.client.Flush(); err != nil {
		d.cancel(&linkError{how: "write failed", err: err})
		return false
	}
	return true
}

// waitAck writes out what is buffered and takes the next acknowledgement,
// waiting for it; false: the session is over.
func (d *drainer) waitAck(ctx context.Context) bool {
	select {
	case a := <-d.client.Acks():
		return d.take(a)
	default:
	}
	if !d.flush() {
		return false
	}
	select {
	case a := <-d.client.Acks():
		return d.take(a)
	case <-ctx.Done():
		return false
	}
}

// drain reads the queue from the start (everything unacknowledged is sent
// again after a reconnect) and publishes with at most window
// unacknowledged. It writes out when the window is full or the queue has
// nothing more right now, not per message.
func (f *Forwarder) drain(ctx context.Context, cancel context.CancelCauseFunc, client *mqttc.Client, window int) {
	type batch struct {
		ids  []int64
		msgs []gateway.Message
	}
	// The reader keeps the next batch ready so that reading the queue is
	// not in the path between two publishes.
	batches := make(chan batch, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		defer close(batches)
		var after int64
		n := max(f.cfg.Inflight, 256)
		for {
			ids, msgs, err := f.q.Next(ctx, after, n)
			if err != nil {
				if ctx.Err() == nil {
					cancel(fmt.Errorf("read queue: %w", err))
				}
				return
			}
			after = ids[len(ids)-1]
			select {
			case batches <- batch{ids, msgs}:
			case <-ctx.Done():
				return
			}
		}
	})
	// The acker acks the queue in order, off the publishing path; it gets
	// what was acknowledged before the session ended, too.
	toAcker := make(chan ackJob, 4)
	wg.Go(func() {
		for j := range toAcker {
			if err := f.q.Ack(j.ids...); err != nil {
				cancel(fmt.Errorf("ack queue: %w", err))
				continue // the rest is sent again: at-least-once
			}
			f.mu.Lock()
			if j.dropped {
				f.dropped += int64(len(j.ids))
			} else {
				f.acked += int64(len(j.ids))
			}
			f.mu.Unlock()
		}
	})
	d := &drainer{f: f, cancel: cancel, client: client, window: window, toAcker: toAcker,
		acked: make([]int64, 0, ackBatch)}
	defer close(toAcker)
	defer d.handOver()

	var pace pacer
	pace.interval = rateInterval(f.cfg.MaxRate)
	v5 := f.cfg.ProtocolVersion == int(packet.Version5)
	warned, expiredSaid := false, false
	for {
		var b batch
		var ok bool
		select {
		case b, ok = <-batches:
		default:
			// Nothing more right now: out with what is buffered, and take
			// acknowledgements while waiting for more.
			if !d.flush() {
				return
			}
			for waiting := true; waiting; {
				d.handOver()
				select {
				case b, ok = <-batches:
					waiting = false
				case a := <-client.Acks():
					if !d.take(a) {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}
		if !ok {
			return
		}
		sent := 0
		for i, m := range b.msgs {
			if pace.interval > 0 && !d.flush() { // paced: each message goes out on its own
				return
			}
			if err := pace.wait(ctx); err != nil {
				return
			}
			rule, ok := matchRule(f.cfg.Forward, m.Topic)
			remote := m.Topic
			if ok {
				remote = rule.remoteTopic(m.Topic)
			} else if !warned {
				warned = true // once per connection
				f.log.Warn("queued message matches no forward rule (the rules changed?): sent with its local topic", "topic", m.Topic)
			}
			msg := mqttc.Message{Topic: remote, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
			if v5 && ok {
				var expired bool
				if msg.Properties, expired = rule.publishProps(m, time.Now()); expired {
					if !expiredSaid {
						expiredSaid = true // once per connection; Status counts them all
						f.log.Info("queued messages past their forward rule's message_expiry are not sent",
							"topic", m.Topic, "age", time.Since(m.Time).Round(time.Second), "message_expiry", rule.MessageExpiry)
					}
					d.dropped = append(d.dropped, b.ids[i])
					f.ref.dropExpired(1)
					continue
				}
			}
			if d.unacked() >= window {
				// Full: wait until refill places are free, so that each
				// write carries several publishes rather than one per PUBACK.
				for d.unacked() > window-refill(window) {
					if !d.waitAck(ctx) {
						return
					}
				}
			}
			if _, err := client.Publish(&msg); err != nil {
				if tl := (*mqttc.TooLargeError)(nil); errors.As(err, &tl) {
					// It can never be delivered to this server: not kept, or
					// it would hold up the queue for ever.
					f.refusedPublish("PUBLISH", packet.ErrTooLarge, tl.Error(), remote)
					d.dropped = append(d.dropped, b.ids[i])
					continue
				}
				cancel(&linkError{how: "publish failed", err: err})
				return
			}
			d.flight = append(d.flight, inflight{id: b.ids[i], topic: remote})
			sent++
		}
		if len(d.dropped) > 0 {
			d.handOver()
		}
		f.mu.Lock()
		f.sent += int64(sent)
		f.mu.Unlock()
	}
}

// refill is how many places must be free in a full window before
// publishing goes on: a twentieth of it, at least 1. One write then carries
// several publishes instead of one per PUBACK (a PUBACK frees one place, and
// a server acknowledges one PUBLISH at a time): on loopback this drained
// about 30 % faster (docs/benchmarks-buffer.md, session 4), while a window
// bound by the round trip keeps 95 % or more of its publishes in flight.
func refill(window int) int { return max(1, window/20) }
