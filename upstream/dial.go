package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// dial opens the connection to the upstream broker (TCP, or TLS for mqtts)
// with buffered reads (bufferedConn). Cancelling ctx abandons the dial.
func (f *Forwarder) dial(ctx context.Context, u *url.URL) (*bufferedConn, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.ConnectTimeout)
	defer cancel()
	host := u.Host
	if u.Port() == "" {
		port := "1883"
		if tlsSchemes[u.Scheme] {
			port = "8883"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	var conn net.Conn
	var err error
	if f.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: f.tls}).DialContext(ctx, "tcp", host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", host, err)
	}
	return newBufferedConn(conn), nil
}

// connSet is what one session dialled. Once closed, it closes what is
// added, so a dial that completes after the session gave up is closed too.
type connSet struct {
	mu     sync.Mutex
	conns  []*bufferedConn
	closed bool
}

// add records c; false: the set is closed (the caller closes c).
func (s *connSet) add(c *bufferedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

// current returns the connection dialled last.
func (s *connSet) current() *bufferedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return nil
	}
	return s.conns[len(s.conns)-1]
}

// closeAll closes every connection, now and from now on.
func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// linkError is why a connection ended, with how that was noticed.
type linkError struct {
	how string // "keep-alive watchdog", "connection lost", "publish failed"
	err error
}

func (e *linkError) Error() string { return e.how + ": " + e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

// ErrHalfOpen is noticed by the keep-alive watchdog: no packet came from the
// server for 1.5 times the keep-alive, although it was asked with PINGREQ.
var ErrHalfOpen = errors.New("half-open link: no packet from the server")

// pingreq is an MQTT PINGREQ packet [MQTT-3.12].
var pingreq = []byte{0xc0, 0x00}

// watch notices a half-open connection (no byte passes any more, yet no
// error either): the server must answer a PINGREQ, and a healthy link
// carries PUBACKs or PINGRESPs; when nothing was read for keepAlive/2 it
// sends a PINGREQ of its own (the client pings only after half a keep-alive
// without writing: a draining uplink writes all the time, so its pings
// alone would not tell), and when nothing was read for 1.5 times the keep-alive, the
// limit a server applies to a silent client [MQTT-3.1.2-24], it reports why
// through lost and closes the connection. It returns when ctx is done.
func (c *bufferedConn) watch(ctx context.Context, keepAlive time.Duration, lost func(error)) {
	limit := keepAlive * 3 / 2
	pingAfter := keepAlive / 2
	var pinged time.Time // the last read seen when we pinged
	t := time.NewTimer(pingAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last := c.lastRead()
		idle := time.Since(last)
		if idle >= limit {
			lost(&linkError{how: "keep-alive watchdog", err: fmt.Errorf("%w for %s (keep-alive %s)",
				ErrHalfOpen, idle.Round(time.Millisecond), keepAlive)})
			_ = c.Conn.Close() // unblocks the client's reads and writes
			return
		}
		if idle >= pingAfter && !pinged.Equal(last) {
			pinged = last
			// A write error shows up on the client's side as well.
			_, _ = c.Write(pingreq)
		}
		next := limit - idle
		if idle < pingAfter {
			next = pingAfter - idle
		}
		t.Reset(next)
	}
}

// bufferedConn reads through a bufio.Reader (a drain receives a PUBACK per
// message, read many at a time) and records when bytes last arrived, for
// the watchdog. Writes go straight to the connection: the client already
// writes many packets with one Write.
type bufferedConn struct {
	net.Conn
	r    *bufio.Reader
	read atomic.Int64 // unix nanoseconds of the last successful read
}

func newBufferedConn(conn net.Conn) *bufferedConn {
	c := &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 32<<10)}
	c.read.Store(time.Now().UnixNano())
	return c
}

// Read reads through the buffer.
func (c *bufferedConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.read.Store(time.Now().UnixNano())
	}
	return n, err
}

// lastRead returns when bytes last arrived (or the connection was made).
func (c *bufferedConn) lastRead() time.Time { return time.Unix(0, c.read.Load()) }
