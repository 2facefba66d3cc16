package modbus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// Reconnect backoff of the TCP transport.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// TCPTransport is a Modbus TCP connection to one server (TCP 4). It connects
// on the first Send, and after losing the connection reconnects on a later
// Send, waiting with exponential backoff (250 ms doubling to 30 s) between
// failed attempts.
type TCPTransport struct {
	addr string
	log  *slog.Logger
	mu   lock
	cnt  counters

	// guarded by mu
	conn     net.Conn
	tid      uint16
	backoff  time.Duration
	nextDial time.Time
	lastErr  error
	dialed   bool
	down     bool // logged as down
	closed   bool
}

var _ Transport = (*TCPTransport)(nil)

// NewTCPTransport returns a transport to the server at addr (host:port). It
// does not connect yet.
func NewTCPTransport(addr string, log *slog.Logger) *TCPTransport {
	return &TCPTransport{addr: addr, log: log.With("address", addr), mu: newLock()}
}

// Stats returns the traffic counters.
func (t *TCPTransport) Stats() Stats { return t.cnt.stats() }

// Close closes the connection; later Sends fail with gateway.ErrClosed.
func (t *TCPTransport) Close() error {
	t.mu <- struct{}{}
	defer t.mu.release()
	t.closed = true
	if t.conn != nil {
		err := t.conn.Close()
		t.conn = nil
		return err
	}
	return nil
}

func (t *TCPTransport) connect(ctx context.Context) error {
	if t.conn != nil {
		return nil
	}
	if now := time.Now(); now.Before(t.nextDial) {
		return fmt.Errorf("connect %s: %w: retry in %v after %w", t.addr, ErrUnavailable, t.nextDial.Sub(now).Round(time.Millisecond), t.lastErr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		t.backoff = min(max(2*t.backoff, minBackoff), maxBackoff)
		t.nextDial = time.Now().Add(t.backoff)
		t.lastErr = err
		if !t.down {
			t.down = true
			t.log.Warn("modbus tcp connect failed; retrying with backoff", "err", err)
		}
		return fmt.Errorf("connect %s: %w", t.addr, err)
	}
	if t.dialed {
		t.cnt.reconnects.Add(1)
	}
	t.dialed = true
	t.conn, t.backoff, t.nextDial = conn, 0, time.Time{}
	if t.down {
		t.log.Info("modbus tcp connected")
	} else {
		t.log.Debug("modbus tcp connected")
	}
	t.down = false
	return nil
}

// drop closes a connection whose byte stream can no longer be trusted.
func (t *TCPTransport) drop(err error) {
	if t.conn == nil {
		return
	}
	_ = t.conn.Close() // the connection is being discarded after err; its close error adds nothing
	t.conn = nil
	if !t.down {
		t.down = true
		t.log.Warn("modbus tcp connection lost", "err", err)
	}
}

// Send implements Transport.
func (t *TCPTransport) Send(ctx context.Context, slave byte, req frame.PDU, timeout time.Duration) (frame.PDU, error) {
	if err := t.mu.acquire(ctx); err != nil {
		return frame.PDU{}, err
	}
	defer t.mu.release()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if t.closed {
		return frame.PDU{}, fmt.Errorf("modbus tcp %s: %w", t.addr, gateway.ErrClosed)
	}
	if err := t.connect(ctx); err != nil {
		return frame.PDU{}, err
	}
	conn := t.conn
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	_ = conn.SetDeadline(deadline) // an error here surfaces on the write below
	// Cancelling ctx unblocks the I/O below; if this fails the deadline still ends it.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	t.tid++
	tid := t.tid
	adu := frame.EncodeTCP(tid, slave, req)
	t.cnt.requests.Add(1)
	if _, err := conn.Write(adu); err != nil {
		t.cnt.errors.Add(1)
		t.drop(err)
		return frame.PDU{}, t.ctxErr(ctx, fmt.Errorf("write: %w", err))
	}
	t.cnt.tx.Add(uint64(len(adu)))
	buf := make([]byte, frame.MaxTCPFrame)
	for {
		n, err := io.ReadFull(conn, buf[:frame.MBAPHeaderLen])
		t.cnt.rx.Add(uint64(n))
		if err != nil {
			if isTimeout(err) && n == 0 && ctx.Err() != context.Canceled {
				// Nothing of the answer arrived: the stream is still in
				// step; a late answer is skipped by its transaction id.
				t.cnt.timeouts.Add(1)
				return frame.PDU{}, t.ctxErr(ctx, ErrTimeout)
			}
			t.countErr(err)
			t.drop(err)
			return frame.PDU{}, t.ctxErr(ctx, fmt.Errorf("read: %w", err))
		}
		h, err := frame.DecodeHeader(buf)
		if err != nil {
			t.cnt.errors.Add(1)
			t.drop(err)
			return frame.PDU{}, fmt.Errorf("read: %w", err)
		}
		end := frame.MBAPHeaderLen + int(h.Length) - 1
		n, err = io.ReadFull(conn, buf[frame.MBAPHeaderLen:end])
		t.cnt.rx.Add(uint64(n))
		if err != nil {
			t.countErr(err)
			t.drop(err)
			return frame.PDU{}, t.ctxErr(ctx, fmt.Errorf("read: %w", err))
		}
		if h.Transaction != tid {
			// The late answer to an earlier request that timed out.
			t.log.Debug("skipping stale modbus tcp response", "tid", h.Transaction, "want", tid)
			continue
		}
		if h.Unit != slave {
			t.cnt.errors.Add(1)
			return frame.PDU{}, fmt.Errorf("response from unit %d to unit %d: %w", h.Unit, slave, frame.ErrBadResponse)
		}
		p, err := frame.ParsePDU(append([]byte(nil), buf[frame.MBAPHeaderLen:end]...))
		if err != nil {
			t.cnt.errors.Add(1)
			return frame.PDU{}, err
		}
		t.cnt.responses.Add(1)
		return p, nil
	}
}

func (t *TCPTransport) countErr(err error) {
	if isTimeout(err) {
		t.cnt.timeouts.Add(1)
	} else {
		t.cnt.errors.Add(1)
	}
}

// ctxErr prefers a cancelled context's error over the I/O error it caused,
// and reports a passed deadline as ErrTimeout.
func (t *TCPTransport) ctxErr(ctx context.Context, err error) error {
	switch ctx.Err() {
	case context.Canceled:
		return ctx.Err()
	case context.DeadlineExceeded:
		if isTimeout(err) {
			return ErrTimeout
		}
	}
	if isTimeout(err) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}
