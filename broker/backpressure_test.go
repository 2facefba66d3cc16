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
