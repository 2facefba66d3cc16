package modbus

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// Transport carries one request to a slave and returns the slave's response
// PDU (which may be an exception response; Client turns it into an error).
//
// Send is safe for concurrent use; a transport runs one transaction at a time
// and serves waiting callers in arrival order. timeout starts when the
// request's turn comes (time queued behind other slaves' requests does not
// count): when it passes without an answer, Send returns an error wrapping
// ErrTimeout. Cancelling ctx abandons the wait or the transaction. A transport that lost its connection or
// port re-establishes it on a later Send. After Close, Send returns an error
// wrapping gateway.ErrClosed.
type Transport interface {
	Send(ctx context.Context, slave byte, req frame.PDU, timeout time.Duration) (frame.PDU, error)
	Stats() Stats
	Close() error
}

// ErrTimeout is wrapped by errors of requests the slave did not answer in time.
var ErrTimeout = errors.New("no response from slave (timeout)")

// ErrUnavailable is wrapped by errors of requests that could not be sent
// because the connection or port is down (and reconnecting is backing off).
var ErrUnavailable = errors.New("connection unavailable")

// Stats counts a transport's traffic since it was created.
type Stats struct {
	Requests   uint64 // frames sent
	Responses  uint64 // valid frames received
	Timeouts   uint64 // requests without an answer in time
	Errors     uint64 // other failures: bad CRC, I/O errors, mismatched answers
	TxBytes    uint64 // bytes written, whole ADUs
	RxBytes    uint64 // bytes read
	Reconnects uint64 // connections or port opens after the first
}

type counters struct {
	requests, responses, timeouts, errors, tx, rx, reconnects atomic.Uint64
}

func (c *counters) stats() Stats {
	return Stats{
		Requests: c.requests.Load(), Responses: c.responses.Load(), Timeouts: c.timeouts.Load(),
		Errors: c.errors.Load(), TxBytes: c.tx.Load(), RxBytes: c.rx.Load(), Reconnects: c.reconnects.Load(),
	}
}

// Retryable reports whether repeating a failed request may help: timeouts,
// garbled or mismatched frames, I/O errors and retryable exceptions (slave
// busy) are; exceptions such as illegal data address and cancelled contexts
// are not.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ex frame.Exception
	if errors.As(err, &ex) {
		return ex.Retryable()
	}
	if errors.Is(err, ErrUnavailable) {
		return false // the transport is backing off; wait for the next poll
	}
	return true
}

// lock is a mutex that can be abandoned when ctx is done. Waiters on a
// channel send are served in FIFO order, so one device cannot starve others.
type lock chan struct{}

func newLock() lock { return make(lock, 1) }

func (l lock) acquire(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l lock) release() { <-l }

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
