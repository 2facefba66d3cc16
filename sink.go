package gateway

import (
	"context"
	"errors"
)

// Sentinel errors shared across stages; check them with errors.Is.
var (
	// ErrClosed is returned by a component used after Close.
	ErrClosed = errors.New("closed")
	// ErrUnknownPoint is returned for a point name a device does not have.
	ErrUnknownPoint = errors.New("unknown point")
	// ErrNotWritable is returned when writing a read-only point.
	ErrNotWritable = errors.New("point is not writable")
)

// Sink accepts messages: the local broker, the store-and-forward buffer, or
// standard output in the demo before the broker exists.
//
// Publish returns once the sink has accepted m (for a durable sink: once m is
// committed). It is safe for concurrent use. Cancelling ctx abandons a
// Publish that is waiting; after Close it returns ErrClosed.
type Sink interface {
	Publish(ctx context.Context, m Message) error
}

// SinkFunc adapts a function to the Sink interface.
type SinkFunc func(ctx context.Context, m Message) error

// Publish calls f(ctx, m).
func (f SinkFunc) Publish(ctx context.Context, m Message) error { return f(ctx, m) }

// MultiSink publishes each message to every sink in order and joins their
// errors; a failing sink does not keep the message from the others.
type MultiSink []Sink

// Publish publishes m to each sink.
func (ms MultiSink) Publish(ctx context.Context, m Message) error {
	var errs []error
	for _, s := range ms {
		if err := s.Publish(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Mapper turns a reading into the messages to publish for it (none when a
// report-on-change rule suppresses it). It is called from one goroutine.
type Mapper interface {
	Map(r Reading) []Message
}
