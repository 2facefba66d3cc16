package broker

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
)

// TestConnectMustBeSmall: before CONNECT a client gets no more than a small
// packet: a header announcing a 1 MB CONNECT closes the connection at
// once, instead of waiting for (and allocating) the body.
func TestConnectMustBeSmall(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := tcpClient(t, b)
	hdr := packet.AppendVarint([]byte{0x10}, 1<<20-8)
	if _, err := c.nc.Write(hdr); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
}

// TestAnnouncedBodiesCostLittle: 64 authenticated clients that each
// announce a PUBLISH of almost 1 MB (max_packet_size) and send 10 bytes of
// it cost the broker little memory: bodies are allocated as they arrive
// (the announced sizes cost 64 MB before).
func TestAnnouncedBodiesCostLittle(t *testing.T) {
	b := newTestBroker(t, Config{})
	const conns, announced = 64, 1<<20 - 16
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range conns {
		c := tcpClient(t, b)
		c.connect(&packet.Connect{ClientID: "big-" + string(rune('A'+i)), CleanSession: true}, false)
		msg := packet.AppendVarint([]byte{0x30}, announced)
		msg = append(msg, 0, 1, 't', 1, 2, 3, 4, 5, 6, 7)
		if _, err := c.nc.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.send(&packet.Pingreq{}) // more bytes of the body, never a whole packet
		c.nc.Close()
	}
	waitFor(t, "all connections gone", func() bool { return b.Stats().ClientsConnected == 0 })
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("%d connections announcing %d bytes each allocated %d MB", conns, announced, got>>20)
	}
}

// TestClientThatNeverReads: a client that sends PINGREQs without ever
// reading the PINGRESPs does not make the broker queue them without bound:
// the broker stops reading from it, and its write deadline (stall_timeout)
// closes the connection; the stall is counted.
//
// The socket buffers are small on both sides: with the kernel's defaults
// loopback grows them to megabytes, and the broker had to handle millions
// of PINGREQs (under -race) before its writes blocked. At a load average
// of 12 to 16 that took long enough for one of the client's writes to pass
// its 5 s deadline while the broker was still reading (seen twice); now a
// few thousand fill them.
func TestClientThatNeverReads(t *testing.T) {
	b := newTestBroker(t, Config{StallTimeout: 300 * time.Millisecond})
	// The receive buffer is set before connecting, so that the kernel
	// does not grow it.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return cmp.Or(err, serr)
	}}
	nc, err := d.DialContext(t.Context(), "tcp", b.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.connect(&packet.Connect{ClientID: "deaf", CleanSession: true}, false)
	var srv *conn
	waitFor(t, "server side of the connection", func() bool {
		b.lnMu.Lock()
		defer b.lnMu.Unlock()
		for sc := range b.conns {
			srv = sc
		}
		return srv != nil
	})
	tc, ok := srv.nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("broker side is a %T, want *net.TCPConn", srv.nc)
	}
	if err := tc.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	maxCtrl := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			srv.ctrlMu.Lock()
			maxCtrl = max(maxCtrl, len(srv.ctrl))
			srv.ctrlMu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	pings := bytes.Repeat((&packet.Pingreq{}).Append(nil), 2<<10) // 4 KB a write
	for sent := 0; sent < 256<<20 && err == nil; sent += len(pings) {
		c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
		_, err = c.nc.Write(pings)
	}
	close(stop)
	<-sampled
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client writes ended with %v; want the broker to close the connection", err)
	}
	waitFor(t, "stall counted", func() bool { return b.Stats().Stalled == 1 })
	if maxCtrl > maxCtrlBytes+2*readBufferSize {
		t.Errorf("%d bytes of control packets queued, want at most about %d", maxCtrl, maxCtrlBytes)
	}
}

// TestControlPacketsBounded: while a client's socket is full (its writer
// goroutine is blocked sending it messages), the PINGRESPs for its
// PINGREQs do not pile up in the broker: past a small bound the broker
// stops reading from the client (16 MB of PINGREQ left 16 MB queued before).
func TestControlPacketsBounded(t *testing.T) {
	b := newTestBroker(t, Config{StallTimeout: time.Minute})
	c := tcpClient(t, b)
	c.connect(&packet.Connect{ClientID: "deaf", CleanSession: true}, false)
	c.subscribe(1, "flood", 0)
	var srv *conn
	b.lnMu.Lock()
	for sc := range b.conns {
		srv = sc
	}
	b.lnMu.Unlock()
	// Fill the client's socket: the writer goroutine blocks on it.
	payload := bytes.Repeat([]byte("x"), 64<<10)
	waitFor(t, "writer blocked on a full socket", func() bool {
		b.Publish(t.Context(), gateway.Message{Topic: "flood", Payload: payload})
		srv.sess.mu.Lock()
		defer srv.sess.mu.Unlock()
		return len(srv.sess.queue)-srv.sess.qhead >= 4
	})
	pings := bytes.Repeat((&packet.Pingreq{}).Append(nil), 32<<10) // 64 KB a write
	var err error
	for sent := 0; sent < 16<<20 && err == nil; sent += len(pings) {
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, err = c.nc.Write(pings)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("16 MB of PINGREQ: client write ended with %v, want the broker to stop reading", err)
	}
	srv.ctrlMu.Lock()
	n := len(srv.ctrl)
	srv.ctrlMu.Unlock()
	if n > maxCtrlBytes+2*readBufferSize {
		t.Errorf("%d bytes of control packets queued, want at most about %d", n, maxCtrlBytes)
	}
}

// TestMaxMemory: at max_memory, messages for an offline persistent session
// and new retained messages are dropped and counted, while a connected QoS
// 1 subscriber still gets every message (its publisher waits instead).
func TestMaxMemory(t *testing.T) {
	const limit = 8 << 10
	b := newTestBroker(t, Config{MaxMemory: limit, StallTimeout: time.Minute})
	off := pipeClient(t, b)
	off.connect(&packet.Connect{ClientID: "offline"}, false)
	off.subscribe(1, "m/#", 1)
	off.send(&packet.Disconnect{})
	off.expectClosed()
	waitOffline(t, b, "offline") // its session offline, not only its connection counted out
	live := tcpClient(t, b)
	live.connect(&packet.Connect{ClientID: "live", CleanSession: true}, false)
	live.subscribe(1, "m/#", 1)

	payload := bytes.Repeat([]byte("x"), 1000)
	const n = 40
	done := make(chan error, 1)
	go func() {
		for range n {
			if err := b.Publish(t.Context(), gateway.Message{Topic: "m/x", Payload: payload, QoS: 1}); err != nil {
				done <- err
				return
			}
		}
		done <- b.Publish(t.Context(), gateway.Message{Topic: "m/r", Payload: payload, QoS: 1, Retain: true})
	}()
	for i := range n + 1 {
		p, ok := live.recv().(*packet.Publish)
		if !ok {
			t.Fatalf("message %d: not a PUBLISH", i)
		}
		live.send(&packet.Puback{PacketID: p.PacketID})
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	if st.MemoryBytes > limit+int64(len(payload))+8 {
		t.Errorf("MemoryBytes = %d, want at most about %d", st.MemoryBytes, limit)
	}
	if st.MemoryDropped == 0 || st.Dropped < st.MemoryDropped {
		t.Errorf("MemoryDropped = %d, Dropped = %d: want drops at max_memory counted in both", st.MemoryDropped, st.Dropped)
	}
	if st.Retained != 0 {
		t.Errorf("Retained = %d: the retained message over max_memory was kept", st.Retained)
	}
}

// TestDefaultMaxConnections: the default configuration bounds the number of
// connections.
func TestDefaultMaxConnections(t *testing.T) {
	if got := DefaultConfig().MaxConnections; got <= 0 {
		t.Errorf("DefaultConfig().MaxConnections = %d, want a bound", got)
	}
}
