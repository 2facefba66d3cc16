package broker

import (
	"bufio"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/testutil"
)

// testTimeout bounds every wait of a test on the broker.
const testTimeout = 5 * time.Second

// newTestBroker returns a started broker with one plain listener on
// 127.0.0.1:0 (unless cfg has listeners), closed in t.Cleanup.
func newTestBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.Listeners == nil {
		cfg.Listeners = []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}
	}
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// rawClient speaks MQTT packet by packet, for tests of single flows.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	// version encodes and decodes packets for this protocol level after
	// CONNECT (0: MQTT 3.1.1).
	version byte
}

// pipeClient connects a rawClient to b over net.Pipe (anonymous allowed).
func pipeClient(t *testing.T, b *Broker) *rawClient {
	t.Helper()
	cl, srv := net.Pipe()
	go b.serveConn(srv, clientAuth{anonymous: true})
	t.Cleanup(func() { cl.Close() })
	return &rawClient{t: t, nc: cl, br: bufio.NewReader(cl)}
}

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }

// tcpClient connects a rawClient to the broker's first listener.
func tcpClient(t *testing.T, b *Broker) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", b.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawClient) send(p packet.Packet) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := c.nc.Write(p.AppendVersion(nil, c.version)); err != nil {
		c.t.Fatalf("send %s: %v", p.Type(), err)
	}
}

func (c *rawClient) recv() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	first, body, err := packet.ReadFrame(c.br, 0)
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	p, err := packet.DecodeVersion(c.version, first, body)
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return p
}

func (c *rawClient) expect(want packet.Packet) {
	c.t.Helper()
	got := c.recv()
	if pub, ok := got.(*packet.Publish); ok && len(pub.Payload) == 0 {
		pub.Payload = nil
	}
	if pub, ok := want.(*packet.Publish); ok && len(pub.Payload) == 0 {
		pub.Payload = nil
	}
	if !reflect.DeepEqual(got, want) {
		c.t.Fatalf("received %#v\nwant %#v", got, want)
	}
}

// expectClosed waits until the broker closes the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		_, err := packet.Read(c.br, 0)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) ||
			errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return
		}
		c.t.Fatalf("waiting for close: %v", err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// connect sends CONNECT and expects CONNACK accepted with the given
// session-present flag.
func (c *rawClient) connect(p *packet.Connect, present bool) {
	c.t.Helper()
	if p.ProtocolName == "" {
		p.ProtocolName, p.ProtocolLevel = "MQTT", packet.Version311
	}
	c.send(p)
	c.expect(&packet.Connack{SessionPresent: present})
}

func (c *rawClient) subscribe(id uint16, filter string, qos byte) {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	c.expect(&packet.Suback{PacketID: id, ReturnCodes: []byte{qos}})
}

// waitFor polls cond until it holds (for state not observable on a
// channel, such as counters), failing after testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, testTimeout, what, cond)
}
