package broker

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/packet"
)

func TestAnonymousAllowed(t *testing.T) {
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1883}
	lo6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 1883}
	any := &net.TCPAddr{IP: net.IPv4zero, Port: 1883}
	lan := &net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 1883}
	cases := []struct {
		name string
		cfg  Config
		addr net.Addr
		want bool
	}{
		{"loopback, no passwords", Config{}, lo, true},
		{"loopback v6, no passwords", Config{}, lo6, true},
		{"loopback with password file", Config{PasswordFile: "p"}, lo, false},
		{"all interfaces", Config{}, any, false},
		{"lan address", Config{}, lan, false},
		{"lan address, allowed explicitly", Config{AllowAnonymous: true}, lan, true},
	}
	for _, tc := range cases {
		if got := anonymousAllowed(tc.cfg, tc.addr); got != tc.want {
			t.Errorf("%s: anonymousAllowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAnonymousRefused(t *testing.T) {
	b := newTestBroker(t, Config{})
	cl, srv := net.Pipe()
	t.Cleanup(func() { cl.Close() })
	go b.serveConn(srv, clientAuth{}) // as on a non-loopback listener
	c := &rawClient{t: t, nc: cl, br: newReader(cl)}
	c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: "anon", CleanSession: true})
	c.expect(&packet.Connack{ReturnCode: packet.RefusedNotAuthorized})
	c.expectClosed()
}

func TestMaxPacketSize(t *testing.T) {
	b := newTestBroker(t, Config{MaxPacketSize: 100})
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "big", CleanSession: true}, false)
	c.send(&packet.Publish{Topic: "t", Payload: bytes.Repeat([]byte("x"), 50)})
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{})
	big := (&packet.Publish{Topic: "t", Payload: bytes.Repeat([]byte("x"), 200)}).Append(nil)
	go func() {
		// The pipe may block until the broker reads, and the broker closes it
		// part way: the write's error is the expected outcome, not checked.
		// (t.Fatalf may not be called from this goroutine.)
		_, _ = c.nc.Write(big)
	}()
	c.expectClosed()
}

func TestMaxConnections(t *testing.T) {
	b := newTestBroker(t, Config{MaxConnections: 1})
	c1 := tcpClient(t, b)
	c1.connect(&packet.Connect{ClientID: "one", CleanSession: true}, false)
	c2 := tcpClient(t, b)
	c2.expectClosed()
	c1.send(&packet.Pingreq{})
	c1.expect(&packet.Pingresp{})
}

func TestLocalACL(t *testing.T) {
	acl, err := auth.ParseACL([]byte("user pipeline\ntopic write sensors/#\ntopic read cmd/#\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := newTestBroker(t, Config{})
	b.SetAuthorizer(acl)
	l := b.Local("pipeline")
	if err := l.Publish(t.Context(), gateway.Message{Topic: "sensors/t", Payload: []byte("1")}); err != nil {
		t.Errorf("allowed publish: %v", err)
	}
	if err := l.Publish(t.Context(), gateway.Message{Topic: "cmd/x", Payload: []byte("1")}); err == nil {
		t.Error("denied publish succeeded")
	}
	if _, err := l.Subscribe("sensors/#", 0, func(gateway.Message) {}); err == nil {
		t.Error("denied subscribe succeeded")
	}
	var mu sync.Mutex
	got := make(chan string, 1)
	unsub, err := l.Subscribe("cmd/#", 1, func(m gateway.Message) { mu.Lock(); got <- string(m.Payload); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)
	b.Publish(context.Background(), gateway.Message{Topic: "cmd/go", Payload: []byte("go")})
	if s := <-got; s != "go" {
		t.Errorf("got %q", s)
	}
	if d := b.Stats().Denied; d != 1 {
		t.Errorf("Denied = %d, want 1", d)
	}
}

// TestMaxInflight: at most max_inflight QoS 1 messages are unacknowledged;
// the rest wait in the queue, which is bounded (drops counted).
func TestMaxInflight(t *testing.T) {
	b := newTestBroker(t, Config{MaxInflight: 2, MaxQueuedMessages: 3})
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "c"}, false)
	c.subscribe(1, "i", 1)
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitOffline(t, b, "c") // its session offline, not only its connection counted out
	for i := range 7 {     // offline: 0, 1, 2 queued; 3 to 6 dropped
		b.Publish(t.Context(), gateway.Message{Topic: "i", Payload: []byte{byte('0' + i)}, QoS: 1})
	}
	if d := b.Stats().Dropped; d != 4 {
		t.Errorf("Dropped = %d, want 4", d)
	}
	c = pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "c"}, true)
	c.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "i", Payload: []byte("0")})
	c.expect(&packet.Publish{QoS: 1, PacketID: 2, Topic: "i", Payload: []byte("1")})
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{}) // nothing more before an ack
	c.send(&packet.Puback{PacketID: 1})
	c.expect(&packet.Publish{QoS: 1, PacketID: 3, Topic: "i", Payload: []byte("2")})
	c.send(&packet.Puback{PacketID: 2})
	c.send(&packet.Puback{PacketID: 3})
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{})
}

// TestSysInterval: the $SYS topics are published every sys_interval.
func TestSysInterval(t *testing.T) {
	b := newTestBroker(t, Config{SysInterval: 20 * time.Millisecond})
	got := make(chan gateway.Message, 100)
	unsub, err := b.Subscribe("$SYS/broker/+", 0, func(m gateway.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	seen := map[string]int{}
	for seen["$SYS/broker/uptime"] < 2 {
		select {
		case m := <-got:
			seen[m.Topic]++
		case <-time.After(testTimeout):
			t.Fatalf("after %v: %v", testTimeout, seen)
		}
	}
	for _, topic := range []string{"$SYS/broker/version", "$SYS/broker/uptime"} {
		if seen[topic] == 0 {
			t.Errorf("no %s; saw %v", topic, seen)
		}
	}
	st := b.Stats()
	if st.Subscriptions != 1 || st.Uptime <= 0 {
		t.Errorf("Stats() = %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := Config{
		Listeners: []Listener{
			{Address: "", Protocol: "mqtt"},
			{Address: ":1", Protocol: "quic"},
			{Address: ":2", Protocol: "mqtts"},
		},
		MaxInflight:    70000,
		MaxConnections: -1,
		SysInterval:    -time.Second,
		SessionExpiry:  -time.Hour,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"listeners[0]: address", `listeners[1]: protocol: "quic"`,
		`listeners[2]: protocol "mqtts" needs cert_file`, "max_inflight", "max_connections", "sys_interval", "session_expiry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	b, err := New(Config{Listeners: []Listener{{Address: "127.0.0.1:0"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	waitFor(t, "listener", func() bool { return len(b.Addrs()) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if err := b.Publish(t.Context(), gateway.Message{Topic: "x"}); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

// TestQueueBytesLimit: a session queue is bounded in bytes too.
func TestQueueBytesLimit(t *testing.T) {
	b := newTestBroker(t, Config{MaxQueuedBytes: 100})
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "c"}, false)
	c.subscribe(1, "q", 1)
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitOffline(t, b, "c") // its session offline, not only its connection counted out
	for range 10 {         // 1 + 30 bytes each: three fit in 100
		b.Publish(t.Context(), gateway.Message{Topic: "q", Payload: bytes.Repeat([]byte("x"), 30), QoS: 1})
	}
	if d := b.Stats().Dropped; d != 7 {
		t.Errorf("Dropped = %d, want 7", d)
	}
}
