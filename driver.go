package gateway

import "context"

// Driver reads one device (or one bus of devices) and passes each reading it
// produces to emit.
//
// Run blocks until ctx is cancelled, then returns nil. It returns a non-nil
// error only when the driver cannot go on (a port that vanished, a connection
// that broke and cannot be re-established in place); the supervisor then
// restarts it with backoff and logs the state change once. Faults that a
// driver handles itself (a single poll timing out) are reported by emitting
// readings with QualityBad, not by returning.
//
// emit may be called from any goroutine Run starts, but not after Run has
// returned. Run is called by one goroutine at a time.
type Driver interface {
	Run(ctx context.Context, emit func(Reading)) error
}

// Poller is a device read on a fixed interval: the supervisor calls Poll every
// interval, retries a failing device with backoff, and logs its state when it
// changes. Poll returns the readings of one cycle; on a failure it returns the
// error (and may still return the readings it got). Poll is never called
// concurrently with itself; cancelling ctx abandons the poll.
type Poller interface {
	Poll(ctx context.Context) ([]Reading, error)
}

// Writer is implemented by drivers whose points accept commands. WritePoint
// writes v to the named point, converting it with the point's type, scale and
// byte order, and returns when the device has confirmed the write. It is safe
// for concurrent use with Run/Poll. An unknown point returns an error that
// wraps ErrUnknownPoint; a point that cannot be written wraps ErrNotWritable.
type Writer interface {
	WritePoint(ctx context.Context, point string, v Value) error
}

// PollCounts are a device's totals since its driver was created: poll
// cycles and the requests they sent. A driver that cannot tell requests
// apart from polls (one line read, one request) reports the same numbers
// for both.
type PollCounts struct {
	Polls         uint64 // poll cycles (or lines, messages) started
	PollFailures  uint64 // cycles in which a request failed
	Requests      uint64 // requests sent to the device
	RequestErrors uint64 // requests that failed after their retries
}

// PollCounter is implemented by drivers that count their own polls: a
// Driver that polls on its own schedule (the supervisor cannot see its
// cycles), or a Poller whose one Poll sends several requests. PollCounts may
// be called at any time from any goroutine, concurrently with Run or Poll.
type PollCounter interface {
	PollCounts() PollCounts
}
