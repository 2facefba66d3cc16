package main

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/upstream"
)

// appender is what the local forwarder needs of the buffer (*buffer.Buffer).
type appender interface {
	// Append queues m and calls done once it is committed (nil) or refused.
	Append(m gateway.Message, done func(error)) error
	// Backlog is what was appended and not yet committed or acknowledged.
	Backlog() (rows, bytes int64)
}

// localForwarder is the broker's client publish hook: it appends the
// messages local MQTT clients publish on forwarded topics (and their wills)
// to the upstream buffer, the same way as the pipeline's readings.
//
// The broker holds a QoS 1 or 2 publisher's acknowledgement until the
// buffer has committed its message (the publisher's in-flight window then
// paces it to the disk). QoS 0 messages carry no such promise and nothing
// paces them: while the buffer's uncommitted backlog exceeds maxBacklog
// they are dropped, counted and logged once per episode, so that a flood
// cannot fill the memory.
type localForwarder struct {
	log        *slog.Logger
	rules      []upstream.ForwardRule
	buf        appender
	maxBacklog int64
	shed       atomic.Int64 // QoS 0 messages dropped, in total
	shedding   atomic.Bool
}

// localMaxBacklog is the default uncommitted backlog above which local QoS 0
// messages are dropped.
const localMaxBacklog = 32 << 20

func newLocalForwarder(log *slog.Logger, rules []upstream.ForwardRule, buf appender) *localForwarder {
	return &localForwarder{log: log.With("component", "local-forward"), rules: rules, buf: buf,
		maxBacklog: localMaxBacklog}
}

// hook is the broker's PublishHook: it holds the messages it appends.
func (f *localForwarder) hook(m gateway.Message, done func(error)) bool {
	upQoS, ok := upstream.Forwarded(f.rules, m.Topic)
	if !ok {
		return false
	}
	if m.QoS == 0 {
		if _, bytes := f.buf.Backlog(); bytes > f.maxBacklog {
			n := f.shed.Add(1)
			if !f.shedding.Swap(true) {
				f.log.Error("local QoS 0 messages for upstream dropped: the buffer's disk does not keep up",
					"topic", m.Topic, "backlog_bytes", bytes, "dropped_total", n)
			}
			return false
		}
		if f.shedding.Swap(false) {
			f.log.Info("forwarding local QoS 0 messages again", "dropped_total", f.shed.Load())
		}
	}
	m.Payload = append([]byte(nil), m.Payload...) // the broker owns its buffer
	m.QoS = upQoS                                 // forwarded at the rule's QoS, as readings are
	if err := f.buf.Append(m, done); err != nil {
		done(fmt.Errorf("buffer local message: %w", err)) // closed: the publisher sends it again
	}
	return true
}
