package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/topic"
)

// localForwarder takes the messages local MQTT clients publish on forwarded
// topics (through the broker's client publish hook) and appends them to the
// upstream buffer, the same way as the pipeline's readings.
//
// The hook must not block the client's connection, and a buffer append
// waits for its group commit, so messages go through a bounded queue to a
// few workers whose appends share commits. A full queue drops the message
// (counted, logged once per episode). Known limit: the broker acknowledges
// a local client's QoS 1/2 publish before the buffer has committed it; a
// crash in between loses it (the pipeline's own readings are committed
// before they reach the broker).
type localForwarder struct {
	log     *slog.Logger
	filters []string
	sink    gateway.Sink
	queue   chan gateway.Message
	dropped atomic.Int64
	full    atomic.Bool
	wg      sync.WaitGroup
}

const (
	localForwardQueue   = 10000
	localForwardWorkers = 32
)

func newLocalForwarder(log *slog.Logger, filters []string, sink gateway.Sink) *localForwarder {
	return &localForwarder{log: log.With("component", "local-forward"), filters: filters, sink: sink,
		queue: make(chan gateway.Message, localForwardQueue)}
}

// enqueue is the broker's client publish hook.
func (f *localForwarder) enqueue(m gateway.Message) {
	matched := false
	for _, flt := range f.filters {
		if topic.Match(flt, m.Topic) {
			matched = true
			break
		}
	}
	if !matched {
		return
	}
	m.Payload = append([]byte(nil), m.Payload...) // the broker owns its buffer
	select {
	case f.queue <- m:
		if f.full.Swap(false) {
			f.log.Info("forwarding local messages again", "dropped_total", f.dropped.Load())
		}
	default:
		f.dropped.Add(1)
		if !f.full.Swap(true) {
			f.log.Error("local messages for upstream dropped: the buffer does not keep up", "topic", m.Topic)
		}
	}
}

// run appends queued messages until ctx is cancelled, then drains what is
// queued (the buffer is still open) and returns.
func (f *localForwarder) run(ctx context.Context) {
	for range localForwardWorkers {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				select {
				case m := <-f.queue:
					f.append(m)
				case <-ctx.Done():
					for {
						select {
						case m := <-f.queue:
							f.append(m)
						default:
							return
						}
					}
				}
			}
		}()
	}
	f.wg.Wait()
}

func (f *localForwarder) append(m gateway.Message) {
	// The buffer outlives the workers; a short shutdown does not cut a commit.
	if err := f.sink.Publish(context.Background(), m); err != nil {
		f.log.Error("local message not buffered", "topic", m.Topic, "err", err)
	}
}
