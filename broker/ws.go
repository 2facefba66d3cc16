package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsCloseTimeout bounds the wait for the client's answer to the broker's
// WebSocket close frame; after it the TCP connection is closed anyway.
const wsCloseTimeout = time.Second

// wsChunk is the most the pump hands to Read at once.
const wsChunk = 4096

// wsConn is the net.Conn of an MQTT connection over WebSocket (MQTT 5.0
// section 6): packets go in binary messages [MQTT-6.0.0-1], and a message
// may hold several packets or part of one [MQTT-6.0.0-2], so the messages
// are read as one stream.
//
// It replaces websocket.NetConn, which closes the connection when a read
// deadline passes during a read: the broker's keep-alive and its way of
// stopping an MQTT 5.0 reader (a read deadline of now, see closeWith) then
// cut the connection before the DISCONNECT with the reason code could go
// out [MQTT-4.13.2-1]. Here a deadline only ends the Read: a pump
// goroutine reads the WebSocket and hands the data over.
//
// Close only stops the connection (Read and Write return net.ErrClosed),
// so it never blocks the goroutine closing it (a takeover, Broker.Close);
// closeHandshake, run once the MQTT connection has ended, sends the close
// frame and waits for the client's answer (RFC 6455 section 7.1.2).
type wsConn struct {
	wc            *websocket.Conn
	local, remote net.Addr

	ctx    context.Context // the pump's reads; cancelling it closes the TCP connection
	cancel context.CancelFunc

	chunks   chan []byte   // data read by the pump
	consumed chan struct{} // Read is done with the last chunk (capacity 1)
	pumpDone chan struct{} // closed when the pump ends; pumpErr says why
	pumpErr  error
	cur      []byte // the part of the chunk Read has not returned (Read only)
	holding  bool   // Read holds a chunk of the pump's buffer (Read only)

	rd        deadline
	wdl       atomic.Int64         // write deadline, Unix nanoseconds; 0 none
	tls       *tls.ConnectionState // of the request (wss), for certUserName; nil over ws
	closed    chan struct{}
	closeOnce sync.Once
}

var _ net.Conn = (*wsConn)(nil)

func newWSConn(wc *websocket.Conn, r *http.Request) *wsConn {
	ctx, cancel := context.WithCancel(context.Background())
	w := &wsConn{wc: wc, ctx: ctx, cancel: cancel, local: wsAddr(r.Context().Value(http.LocalAddrContextKey)),
		remote: wsAddr(r.RemoteAddr), chunks: make(chan []byte), consumed: make(chan struct{}, 1),
		pumpDone: make(chan struct{}), closed: make(chan struct{}), tls: r.TLS}
	// MQTT's packet size limit applies to the stream (max_packet_size),
	// not to the messages that carry it [MQTT-6.0.0-2].
	wc.SetReadLimit(-1)
	go w.pump()
	return w
}

// wsAddr returns a as a net.Addr: the listener's address from the request
// context, or the remote "ip:port" of the request.
func wsAddr(a any) net.Addr {
	switch a := a.(type) {
	case net.Addr:
		return a
	case string:
		if ap, err := netip.ParseAddrPort(a); err == nil {
			return net.TCPAddrFromAddrPort(ap)
		}
	}
	return &net.TCPAddr{}
}

// pump reads the client's messages and hands their data to Read, a chunk
// at a time, waiting for Read to take each: a broker that stops reading
// (flow control) stops the pump, and the client waits in its TCP window.
// After Close it reads on, dropping the data, so that the client's close
// frame is seen; it ends when the connection does.
func (w *wsConn) pump() {
	defer close(w.pumpDone)
	var buf []byte    // made at the first message: an idle connection costs none
	dropping := false // closed: data is read and dropped
	for {
		typ, r, err := w.wc.Reader(w.ctx)
		if err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusGoingAway:
				err = io.EOF // the client closed: the broker sees the end of the stream
			}
			w.pumpErr = err
			return
		}
		if typ != websocket.MessageBinary {
			w.pumpErr = fmt.Errorf("websocket: %v message: MQTT packets come in binary messages [MQTT-6.0.0-1]", typ)
			w.wc.CloseNow() // [MQTT-6.0.0-1] close the network connection; the error is the one above
			return
		}
		if buf == nil {
			buf = make([]byte, wsChunk)
		}
		for {
			n, err := r.Read(buf)
			if n > 0 && !dropping && !w.hand(buf[:n]) {
				dropping = true
				buf = make([]byte, wsChunk) // Read may still copy from the old one
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				w.pumpErr = err
				return
			}
		}
	}
}

// hand gives p to Read and waits until Read is done with it; it reports
// false when the connection was closed first (p is dropped).
func (w *wsConn) hand(p []byte) bool {
	select {
	case w.chunks <- p:
	case <-w.closed:
		return false
	}
	select {
	case <-w.consumed:
		return true
	case <-w.closed:
		return false
	}
}

func (w *wsConn) Read(p []byte) (int, error) {
	for len(w.cur) == 0 {
		if w.holding {
			w.holding = false
			w.consumed <- struct{}{} // capacity 1, and the pump takes it before the next chunk
		}
		select {
		case <-w.closed:
			return 0, net.ErrClosed
		default:
		}
		select {
		case w.cur = <-w.chunks:
			w.holding = true
		case <-w.pumpDone:
			return 0, w.pumpErr
		case <-w.rd.passed():
			return 0, os.ErrDeadlineExceeded
		case <-w.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, w.cur)
	w.cur = w.cur[n:]
	return n, nil
}

// Write sends p as one binary message [MQTT-6.0.0-1]. A write deadline
// that passes during the write closes the connection (the library's
// behaviour); the broker closes a client that stops reading anyway.
func (w *wsConn) Write(p []byte) (int, error) {
	select {
	case <-w.closed:
		return 0, net.ErrClosed
	default:
	}
	ctx := w.ctx
	if dl := w.wdl.Load(); dl != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, dl))
		defer cancel()
	}
	if err := w.wc.Write(ctx, websocket.MessageBinary, p); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("websocket write: %w", os.ErrDeadlineExceeded)
		}
		return 0, err
	}
	return len(p), nil
}

// Close stops the connection: Read and Write return net.ErrClosed.
// closeHandshake ends the WebSocket connection.
func (w *wsConn) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return nil
}

// closeHandshake sends a close frame with status 1000 and waits, at most
// wsCloseTimeout, for the client's close frame (RFC 6455 section 7.1.2),
// then closes the TCP connection and waits for the pump.
func (w *wsConn) closeHandshake() {
	w.Close()
	stop := time.AfterFunc(wsCloseTimeout, w.cancel) // the pump's read then closes the connection
	w.wc.Close(websocket.StatusNormalClosure, "")    // fails when the client went away: nothing to do then
	stop.Stop()
	w.cancel()
	<-w.pumpDone
}

func (w *wsConn) LocalAddr() net.Addr  { return w.local }
func (w *wsConn) RemoteAddr() net.Addr { return w.remote }

func (w *wsConn) SetDeadline(t time.Time) error {
	w.SetReadDeadline(t)
	return w.SetWriteDeadline(t)
}

func (w *wsConn) SetReadDeadline(t time.Time) error {
	w.rd.set(t)
	return nil
}

func (w *wsConn) SetWriteDeadline(t time.Time) error {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	w.wdl.Store(n)
	return nil
}

// deadline is a read deadline that a waiting Read can select on.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{} // closed when the deadline has passed
}

// passed returns a channel closed when the deadline passes.
func (d *deadline) passed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// set sets the deadline to t (zero: none). A Read waiting on the channel
// of an earlier deadline that has not passed waits for t instead.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	if d.timer != nil && !d.timer.Stop() {
		<-d.ch // the timer fired: its function is closing the channel
	}
	d.timer = nil
	select {
	case <-d.ch: // passed: a new deadline gets a new channel
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	ch := d.ch
	dur := time.Until(t)
	if dur <= 0 {
		close(ch)
		return
	}
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}
