package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// dial opens the connection to the upstream broker (TCP, or TLS for mqtts)
// with buffered reads: paho reads every packet header with small reads, one
// system call each, and a drain receives a PUBACK per message.
func (f *Forwarder) dial(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.ConnectTimeout)
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

// maxPending bounds the bytes a bufferedConn holds before Write blocks.
const maxPending = 256 << 10

// bufferedConn reads through a bufio.Reader and coalesces writes: paho
// writes every packet with its own Write, one system call each; here a Write
// appends to a buffer that one goroutine at a time writes out, so packets
// written while a write is in progress share the next system call. There is
// no added delay. A write error is returned by a later Write (and the broken
// connection surfaces on the read side as well).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	spare   []byte
	writing bool
	idle    chan struct{} // closed when the writer goroutine has nothing left
	err     error
}

func newBufferedConn(conn net.Conn) *bufferedConn {
	c := &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 32<<10), idle: make(chan struct{})}
	close(c.idle)
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Read reads through the buffer.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p for the writer goroutine.
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.buf) > maxPending && c.err == nil {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	if !c.writing {
		c.writing = true
		c.idle = make(chan struct{})
		go c.flush(c.idle)
	}
	return len(p), nil
}

// flush writes out the buffer until it stays empty.
func (c *bufferedConn) flush(idle chan struct{}) {
	c.mu.Lock()
	for len(c.buf) > 0 && c.err == nil {
		out := c.buf
		c.buf = c.spare[:0]
		c.mu.Unlock()
		_, err := c.Conn.Write(out)
		c.mu.Lock()
		c.spare = out
		if err != nil {
			c.err = err
		}
		c.cond.Broadcast()
	}
	c.buf = c.buf[:0]
	c.writing = false
	close(idle)
	c.cond.Broadcast()
	c.mu.Unlock()
}

// Close gives queued bytes (e.g. DISCONNECT) a moment to go out, then closes.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
	return c.Conn.Close()
}
