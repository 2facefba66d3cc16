// Package tcpproxy is a TCP proxy on 127.0.0.1 that tests and benchmarks
// put between a client and a server to make the link between them worse in
// controlled ways: a fixed delay in each direction (a long round trip), or a
// dead path that passes no byte any more while both ends still believe the
// connection is open (half-open, as when a NAT mapping disappears).
//
// It also records the first bytes each client sent (e.g. an MQTT CONNECT)
// and how many client connections were open at most at once.
package tcpproxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards every connection to its target. Its methods are safe for
// concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration // one way

	mu       sync.Mutex
	dead     bool // new and existing connections pass nothing
	refuse   bool // new connections are closed at once
	conns    map[*link]struct{}
	maxOpen  int
	accepted int
	firsts   [][]byte
	sent     atomic.Int64 // bytes written to the target
	wg       sync.WaitGroup
	closed   bool
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	dead           chan struct{} // closed when the link stops passing bytes
	deadOnce       sync.Once
}

func (l *link) kill() { l.deadOnce.Do(func() { close(l.dead) }) }

// isDead reports whether the link passes no bytes any more.
func (l *link) isDead() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

// Start listens on a free port of 127.0.0.1 and forwards to target, adding
// delay in each direction (so the round trip grows by twice delay).
func Start(target string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpproxy listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, delay: delay, conns: make(map[*link]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Blackhole makes every open connection, and every new one, pass no byte
// any more in either direction, without closing anything: what is sent is
// read and dropped. The connections open now stay dead for good.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	for l := range p.conns {
		l.kill()
	}
}

// Cut closes every open connection and refuses new ones (they are closed
// at once): an outage both ends notice.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
	for l := range p.conns {
		_ = l.client.Close() // cutting the link: errors say nothing
		if l.server != nil {
			_ = l.server.Close()
		}
	}
}

// Restore ends a Cut: new connections pass again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = false
}

// Heal lets new connections through again (the dead ones stay dead).
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = false
}

// MaxOpen is the largest number of client connections open at once so far.
func (p *Proxy) MaxOpen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxOpen
}

// Open is the number of client connections open now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Accepted is the number of client connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Firsts returns the first bytes (the first read) of every client
// connection, in accept order.
func (p *Proxy) Firsts() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.firsts...)
}

// Sent is the number of bytes passed from the clients to the target so
// far (what a client sent upstream over a metered link).
func (p *Proxy) Sent() int64 { return p.sent.Load() }

// Close stops listening, closes every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for l := range p.conns {
		_ = l.client.Close() // ending the link: errors say nothing
		if l.server != nil {
			_ = l.server.Close()
		}
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		l := &link{client: c, dead: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close() // closing down
			return
		}
		if p.refuse {
			p.mu.Unlock()
			_ = c.Close() // an outage: refused
			continue
		}
		p.accepted++
		idx := len(p.firsts)
		p.firsts = append(p.firsts, nil)
		p.conns[l] = struct{}{}
		p.maxOpen = max(p.maxOpen, len(p.conns))
		if p.dead {
			l.kill()
		}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(l, idx)
	}
}

// serve runs one link until the client or the server closes it.
func (p *Proxy) serve(l *link, idx int) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
	}()
	defer l.client.Close() // done with it: the error says nothing
	select {
	case <-l.dead:
		// A dead path: the server is never reached. Swallow what the
		// client sends until it gives up.
		p.record(idx, l.client)
		_, _ = io.Copy(io.Discard, l.client) // ends when the client closes
		return
	default:
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return // the client sees the connection close, as with a refused port
	}
	p.mu.Lock()
	l.server = s
	closed := p.closed || p.refuse
	p.mu.Unlock()
	defer s.Close() // done with it
	if closed {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(l, s, l.client, idx) })
	wg.Go(func() { p.pipe(l, l.client, s, -1) })
	wg.Wait()
}

// record reads the first bytes from c for Firsts.
func (p *Proxy) record(idx int, c net.Conn) []byte {
	buf := make([]byte, 4096)
	n, _ := c.Read(buf) // an error shows on the next read
	p.mu.Lock()
	p.firsts[idx] = append([]byte(nil), buf[:n]...)
	p.mu.Unlock()
	return buf[:n]
}

// chunk is data read at a time, due for writing delay later.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk delay after it was read; once the link
// is dead it drops what it reads. When src ends it closes dst (both ways:
// the other pipe ends too). idx >= 0: record src's first read.
func (p *Proxy) pipe(l *link, dst, src net.Conn, idx int) {
	defer dst.Close() // src ended: end the other direction too
	if p.delay == 0 {
		p.copy(l, dst, src, idx)
		return
	}
	toTarget := idx >= 0
	out := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range out {
			if d := time.Until(c.due); d > 0 {
				select {
				case <-time.After(d):
				case <-l.dead:
				}
			}
			select {
			case <-l.dead:
				continue // dropped
			default:
			}
			var err error
			if toTarget {
				_, err = p.writeToTarget(dst, c.b)
			} else {
				_, err = dst.Write(c.b)
			}
			if err != nil {
				for range out { // drain: the reader stops on its own
				}
				return
			}
		}
	}()
	defer func() {
		close(out)
		<-done
	}()
	first := idx >= 0
	for {
		var b []byte
		if first {
			first = false
			b = p.record(idx, src)
			if len(b) == 0 {
				return
			}
		} else {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n == 0 && err != nil {
				return // EOF, a reset or a close: the link ends either way
			}
			b = buf[:n]
		}
		select {
		case <-l.dead:
			continue // read and dropped
		default:
		}
		out <- chunk{b: b, due: time.Now().Add(p.delay)}
	}
}

// copy is pipe without a delay: each read is written before the next one,
// from one buffer, with no goroutine in between, so that a link without a
// delay adds as little latency and work per packet as it can.
func (p *Proxy) copy(l *link, dst, src net.Conn, idx int) {
	if idx >= 0 {
		b := p.record(idx, src)
		if len(b) == 0 {
			return
		}
		if !l.isDead() {
			if _, err := p.writeToTarget(dst, b); err != nil {
				return
			}
		}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n == 0 && err != nil {
			return // EOF, a reset or a close: the link ends either way
		}
		if l.isDead() {
			continue // read and dropped
		}
		if idx >= 0 {
			_, err = p.writeToTarget(dst, buf[:n])
		} else {
			_, err = dst.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// writeToTarget writes b to the target and counts it in Sent: before the
// write, so that whoever sees the target's answer sees the bytes counted.
func (p *Proxy) writeToTarget(dst net.Conn, b []byte) (int, error) {
	p.sent.Add(int64(len(b)))
	n, err := dst.Write(b)
	if n < len(b) {
		p.sent.Add(int64(n - len(b))) // not written after all
	}
	return n, err
}
