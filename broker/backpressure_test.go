package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
)

// burstTimeout bounds the burst tests: thousands of QoS 1 round trips on a
// loaded machine under the race detector.
const burstTimeout = 2 * time.Minute

// TestBurstDeliversAll is the burst of issue 11 with the default settings:
// four paho publishers each send QoS 1 messages in windows of 100 to one
// QoS 1 paho subscriber. The subscriber is slower than the four of them
// together, yet keeps acknowledging: every message arrives, the broker
// slows the publishers instead of dropping (before back-pressure, most of
// the burst was dropped at the full session queue).
func TestBurstDeliversAll(t *testing.T) {
	b := newTestBroker(t, Config{})
	const pubs, n, window = 4, 2500, 100
	var mu sync.Mutex
	seen := make([]int, pubs) // next sequence number expected per publisher
	all := make(chan struct{})
	total := 0
	sub := pahoConnect(t, tcpURL(b, 0), func(o *mqtt.ClientOptions) { o.SetClientID("burst-sub") })
	wait(t, sub.Subscribe("burst/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		p := m.Payload()
		i, seq := int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:]))
		mu.Lock()
		defer mu.Unlock()
		if seq != seen[i] { // [MQTT-4.6.0-6] in order per publisher and topic
			if seq > seen[i] {
				t.Errorf("publisher %d: got %d, want %d", i, seq, seen[i])
			}
			return // a QoS 1 duplicate
		}
		seen[i]++
		if total++; total == pubs*n {
			close(all)
		}
	}))
	var wg sync.WaitGroup
	for i := range pubs {
		c := pahoConnect(t, tcpURL(b, 0), func(o *mqtt.ClientOptions) { o.SetClientID(fmt.Sprintf("burst-pub-%d", i)) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			var win []mqtt.Token
			for seq := range n {
				p := make([]byte, 64)
				binary.BigEndian.PutUint32(p, uint32(i))
				binary.BigEndian.PutUint32(p[4:], uint32(seq))
				win = append(win, c.Publish(fmt.Sprintf("burst/%d", i), 1, false, p))
				if len(win) < window && seq < n-1 {
					continue
				}
				for _, tok := range win {
					if !tok.WaitTimeout(burstTimeout) || tok.Error() != nil {
						t.Errorf("publisher %d: no PUBACK: %v", i, tok.Error())
						return
					}
				}
				win = win[:0]
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(burstTimeout):
		mu.Lock()
		t.Fatalf("delivered %d of %d; dropped %d", total, pubs*n, b.Stats().Dropped)
	}
	if d := b.Stats().Dropped; d != 0 {
		t.Errorf("Stats().Dropped = %d, want 0", d)
	}
}

// TestStalledSubscriber: a QoS 1 subscriber that stops reading and
// acknowledging holds the publishers back for stall_timeout at most; then
// it is disconnected (counted), and the publisher and the other subscriber
// go on without losing anything. Its queue never grows past the limit
// plus the publisher's window.
func TestStalledSubscriber(t *testing.T) {
	const limit, window, n = 20, 10, 300
	b := newTestBroker(t, Config{MaxQueuedMessages: limit, MaxInflight: 5, StallTimeout: 300 * time.Millisecond})
	stuck := tcpClient(t, b) // subscribes, then never reads again
	stuck.connect(&packet.Connect{ClientID: "stuck", CleanSession: true}, false)
	stuck.subscribe(1, "s/#", 1)
	var stuckSess *session
	b.mu.Lock()
	stuckSess = b.sessions["stuck"]
	b.mu.Unlock()

	got := make(chan int, n)
	live := pahoConnect(t, tcpURL(b, 0), func(o *mqtt.ClientOptions) { o.SetClientID("live") })
	wait(t, live.Subscribe("s/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		got <- int(binary.BigEndian.Uint32(m.Payload()))
	}))
	maxQueued := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // records how long the stuck session's queue grows
		defer close(sampled)
		for {
			stuckSess.mu.Lock()
			maxQueued = max(maxQueued, len(stuckSess.queue)-stuckSess.qhead)
			stuckSess.mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	pub := pahoConnect(t, tcpURL(b, 0), func(o *mqtt.ClientOptions) { o.SetClientID("pub") })
	var win []mqtt.Token
	for i := range n {
		p := make([]byte, 8)
		binary.BigEndian.PutUint32(p, uint32(i))
		win = append(win, pub.Publish("s/x", 1, false, p))
		if len(win) == window {
			if !win[0].WaitTimeout(burstTimeout) || win[0].Error() != nil {
				t.Fatalf("message %d: no PUBACK", i-window+1)
			}
			win = win[1:]
		}
	}
	for _, tok := range win {
		wait(t, tok)
	}
	for i := range n {
		select {
		case v := <-got:
			if v != i {
				t.Fatalf("live subscriber: message %d = %d", i, v)
			}
		case <-time.After(burstTimeout):
			t.Fatalf("live subscriber got %d of %d", i, n)
		}
	}
	close(stop)
	<-sampled
	if st := b.Stats(); st.Stalled != 1 {
		t.Errorf("Stats().Stalled = %d, want 1", st.Stalled)
	}
	if bound := limit + window; maxQueued > bound {
		t.Errorf("stuck session queued up to %d messages, want at most %d", maxQueued, bound)
	}
	stuck.expectClosed()
}

// TestInProcessPublishWaits: Broker.Publish of a QoS 1 message waits while
// a connected subscriber's queue is full, gives up with the context's
// error (not publishing), and goes on once the subscriber acknowledges.
func TestInProcessPublishWaits(t *testing.T) {
	b := newTestBroker(t, Config{MaxQueuedMessages: 2, MaxInflight: 1, StallTimeout: time.Hour})
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "c", CleanSession: true}, false)
	c.subscribe(1, "w", 1)
	pub := func(ctx context.Context, payload string) error {
		return b.Publish(ctx, gateway.Message{Topic: "w", Payload: []byte(payload), QoS: 1})
	}
	// One in flight, then two queued (the limit), then one over it.
	if err := pub(t.Context(), "0"); err != nil {
		t.Fatal(err)
	}
	c.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "w", Payload: []byte("0")})
	for _, p := range []string{"1", "2", "3"} {
		if err := pub(t.Context(), p); err != nil {
			t.Fatalf("publish %s: %v", p, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := pub(ctx, "late")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish to a full subscriber = %v, want DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- pub(t.Context(), "4") }()
	c.send(&packet.Puback{PacketID: 1})
	for i := 1; i < 5; i++ {
		c.expect(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "w", Payload: []byte{'0' + byte(i)}})
		c.send(&packet.Puback{PacketID: uint16(i + 1)})
	}
	if err := <-done; err != nil {
		t.Fatalf("Publish after the subscriber caught up: %v", err)
	}
	if d := b.Stats().Dropped; d != 0 {
		t.Errorf("Dropped = %d, want 0", d)
	}
}

// TestHeldAcksInOrder: acknowledgements held for the publish hook leave in
// the order the PUBLISH packets arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3],
// whatever order the hook stores them in, and an acknowledgement nothing
// holds waits behind a held one.
func TestHeldAcksInOrder(t *testing.T) {
	b, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dones := make(chan func(error), 10)
	b.SetClientPublishHook(func(m gateway.Message, done func(error)) bool {
		if m.Topic == "free" {
			return false
		}
		dones <- done
		return true
	})
	t.Cleanup(func() { b.Close() })
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	c.send(&packet.Publish{Topic: "site/1", QoS: 1, PacketID: 1, Payload: []byte("1")})
	d1 := nextDone(t, dones)
	c.send(&packet.Publish{Topic: "site/2", QoS: 2, PacketID: 2, Payload: []byte("2")})
	d2 := nextDone(t, dones)
	c.send(&packet.Publish{Topic: "free", QoS: 1, PacketID: 3, Payload: []byte("3")})
	c.send(&packet.Publish{Topic: "site/4", QoS: 1, PacketID: 4, Payload: []byte("4")})
	d4 := nextDone(t, dones)
	d4(nil)
	d2(nil)
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{}) // all held behind 1
	d1(nil)
	c.expect(&packet.Puback{PacketID: 1})
	c.expect(&packet.Pubrec{PacketID: 2})
	c.expect(&packet.Puback{PacketID: 3})
	c.expect(&packet.Puback{PacketID: 4})
}

// TestQoS2ResendWhileHeld: a QoS 2 message resent (DUP, after the client
// reconnected) while the hook still holds the original gets its PUBREC only
// once the original is stored; when storing fails, the resend's connection
// is closed without it and the next resend is taken as new.
func TestQoS2ResendWhileHeld(t *testing.T) {
	b, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook, dones := holdingHook()
	b.SetClientPublishHook(hook)
	t.Cleanup(func() { b.Close() })

	for _, fail := range []bool{false, true} {
		c := pipeClient(t, b)
		c.connect(&packet.Connect{ClientID: "q2"}, fail) // the first round leaves the session
		c.send(&packet.Publish{Topic: "site/a", QoS: 2, PacketID: 5, Payload: []byte("x")})
		orig := nextDone(t, dones)
		c.nc.Close() // the connection drops before PUBREC

		c = pipeClient(t, b)
		c.connect(&packet.Connect{ClientID: "q2"}, true)
		c.send(&packet.Publish{Dup: true, Topic: "site/a", QoS: 2, PacketID: 5, Payload: []byte("x")})
		c.send(&packet.Pingreq{})
		c.expect(&packet.Pingresp{}) // no PUBREC: the original is not stored yet
		select {
		case <-dones:
			t.Fatal("the resend reached the hook a second time")
		default:
		}
		if !fail {
			orig(nil)
			c.expect(&packet.Pubrec{PacketID: 5})
			c.send(&packet.Pubrel{PacketID: 5})
			c.expect(&packet.Pubcomp{PacketID: 5})
			c.send(&packet.Disconnect{})
			c.expectClosed()
			continue
		}
		orig(errors.New("disk full"))
		c.expectClosed()
		c = pipeClient(t, b)
		c.connect(&packet.Connect{ClientID: "q2"}, true)
		c.send(&packet.Publish{Dup: true, Topic: "site/a", QoS: 2, PacketID: 5, Payload: []byte("x")})
		nextDone(t, dones)(nil) // taken again
		c.expect(&packet.Pubrec{PacketID: 5})
	}
}

// TestPausedPublisherNotStalled checks session 3's note: a publisher with
// more than maxHeldAcks publishes waiting for a slow (but acknowledging)
// subscriber is paused: the broker reads nothing more from it. When that
// publisher also subscribes, and another publisher fills its queue, its
// own PUBACKs sit unread behind its publishes while the pause lasts; the
// broker must not take that for a stalled client and disconnect it.
func TestPausedPublisherNotStalled(t *testing.T) {
	const stall = time.Second
	const n = maxHeldAcks + 20 // over the bound: the publisher is paused
	b := newTestBroker(t, Config{MaxQueuedMessages: 5, MaxInflight: 2, StallTimeout: stall})
	slow := tcpClient(t, b)
	slow.connect(&packet.Connect{ClientID: "slow", CleanSession: true}, false)
	slow.subscribe(1, "s/#", 1)
	pub := tcpClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	pub.subscribe(1, "p/#", 1)

	acked, ended, write := ackAll(t, pub, n)
	// An in-process publisher keeps pub's queue full.
	ctx, cancel := context.WithCancel(t.Context())
	feeding := make(chan struct{})
	go func() {
		defer close(feeding)
		for ctx.Err() == nil {
			b.Publish(ctx, gateway.Message{Topic: "p/x", Payload: []byte("to pub"), QoS: 1}) // fails only once cancelled
		}
	}()
	defer func() { cancel(); <-feeding }()

	go write(burst("s/x", n)) // blocks while the broker does not read; an error shows as ended

	// slow acknowledges one message every stall/10 for three stall
	// timeouts (it is never stalled itself), then as fast as it can.
	tick := time.NewTicker(stall / 10)
	defer tick.Stop()
	for i := range n {
		if i < 30 {
			<-tick.C
		}
		slow.recvPayload(true)
		select {
		case err := <-ended:
			t.Fatalf("pub's connection ended after slow took %d messages (Stats().Stalled = %d): %v", i, b.Stats().Stalled, err)
		default:
		}
	}
	for i := range n {
		select {
		case <-acked:
		case err := <-ended:
			t.Fatalf("pub's connection ended with %d of %d PUBACKs (Stats().Stalled = %d): %v", i, n, b.Stats().Stalled, err)
		case <-time.After(burstTimeout):
			t.Fatalf("pub got %d of %d PUBACKs", i, n)
		}
	}
	if st := b.Stats(); st.Stalled != 0 {
		t.Errorf("Stats().Stalled = %d, want 0", st.Stalled)
	}
}

// ackAll reads c's packets in a goroutine until its connection ends (the
// error is sent on ended): it acknowledges every QoS 1 PUBLISH at once and
// signals acked for each PUBACK of c's own publishes (up to n). write
// writes to c's connection, safe beside those acknowledgements.
func ackAll(t *testing.T, c *rawClient, n int) (acked <-chan struct{}, ended <-chan error, write func([]byte) error) {
	var mu sync.Mutex
	write = func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		c.nc.SetWriteDeadline(time.Now().Add(burstTimeout))
		_, err := c.nc.Write(b)
		return err
	}
	ack := make(chan struct{}, n)
	end := make(chan error, 1)
	go func() {
		for {
			c.nc.SetReadDeadline(time.Now().Add(burstTimeout))
			first, body, err := packet.ReadFrame(c.br, 0)
			if err != nil {
				end <- err
				return
			}
			p, err := packet.DecodeVersion(packet.Version311, first, body)
			if err != nil {
				end <- err
				return
			}
			switch p := p.(type) {
			case *packet.Publish:
				if err := write((&packet.Puback{PacketID: p.PacketID}).Append(nil)); err != nil {
					end <- err
					return
				}
			case *packet.Puback:
				select {
				case ack <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ack, end, write
}

// burst returns n QoS 1 PUBLISH packets to topic, ids 1 to n.
func burst(topic string, n int) []byte {
	var b []byte
	for i := 1; i <= n; i++ {
		b = (&packet.Publish{Topic: topic, Payload: []byte("burst"), QoS: 1, PacketID: uint16(i)}).Append(b)
	}
	return b
}

// TestPausedPublishersInACycle: two clients that each publish more than
// maxHeldAcks messages to the other's full subscription, without waiting,
// are both paused, each behind the other; neither can read the other's
// acknowledgements. Neither is excused as paused behind a running session
// (TestPausedPublisherNotStalled), so the stall check disconnects one or
// both instead of leaving both stuck for ever; one left connected then
// gets its acknowledgements.
func TestPausedPublishersInACycle(t *testing.T) {
	const n = maxHeldAcks + 20
	b := newTestBroker(t, Config{MaxQueuedMessages: 5, MaxInflight: 2, StallTimeout: 300 * time.Millisecond})
	var clients []*rawClient
	for _, id := range []string{"a", "b"} {
		c := tcpClient(t, b)
		c.connect(&packet.Connect{ClientID: id, CleanSession: true}, false)
		c.subscribe(1, id+"/#", 1)
		clients = append(clients, c)
	}
	type side struct {
		acked <-chan struct{}
		ended <-chan error
	}
	var sides []side
	for i, to := range []string{"b/x", "a/x"} {
		acked, ended, write := ackAll(t, clients[i], n)
		go write(burst(to, n)) // an error shows as ended
		sides = append(sides, side{acked, ended})
	}
	// Each is disconnected, or gets every PUBACK once the other was.
	disconnected := 0
	for i, sd := range sides {
		for got := 0; got < n; {
			select {
			case <-sd.acked:
				got++
			case <-sd.ended:
				disconnected++
				got = n
			case <-time.After(burstTimeout):
				t.Fatalf("client %d got %d of %d PUBACKs and is still connected: the cycle is stuck", i, got, n)
			}
		}
	}
	if disconnected == 0 {
		t.Errorf("every PUBACK came with nobody disconnected; want the cycle broken by the stall check")
	}
	if st := b.Stats(); st.Stalled == 0 {
		t.Errorf("Stats().Stalled = 0, want the cycle broken by the stall check")
	}
}
