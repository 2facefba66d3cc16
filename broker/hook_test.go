package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
)

// TestClientPublishHook: messages from network clients reach the hook once
// (QoS 0, 1 and 2); in-process publishes do not. A hook that does not hold
// the message leaves the acknowledgements alone.
func TestClientPublishHook(t *testing.T) {
	b, err := New(Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan gateway.Message, 10)
	b.SetClientPublishHook(func(m gateway.Message, _ func(error)) bool { got <- m; return false })
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Publish(t.Context(), gateway.Message{Topic: "in/process", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c := pahoConnect(t, tcpURL(b, 0), nil)
	for qos := byte(0); qos <= 2; qos++ {
		wait(t, c.Publish("site/t", qos, false, []byte{'0' + qos}))
		select {
		case m := <-got:
			if m.Topic != "site/t" || string(m.Payload) != string([]byte{'0' + qos}) || m.QoS != qos {
				t.Errorf("hook got %+v for QoS %d", m, qos)
			}
		case <-time.After(testTimeout):
			t.Fatalf("hook not called for QoS %d", qos)
		}
	}
	select {
	case m := <-got:
		t.Errorf("unexpected hook call: %+v", m)
	default:
	}
}

// holdingHook returns a hook that holds every message and hands its done
// function to the test.
func holdingHook() (PublishHook, chan func(error)) {
	dones := make(chan func(error), 10)
	return func(m gateway.Message, done func(error)) bool {
		dones <- done
		return true
	}, dones
}

func nextDone(t *testing.T, dones chan func(error)) func(error) {
	t.Helper()
	select {
	case d := <-dones:
		return d
	case <-time.After(testTimeout):
		t.Fatal("hook not called")
		return nil
	}
}

// TestPublishHookHoldsAck: while the hook holds a message, the client gets
// no PUBACK/PUBREC (a PINGRESP sent after it overtakes it), local
// subscribers get the message at once, and done(nil) releases the
// acknowledgement.
func TestPublishHookHoldsAck(t *testing.T) {
	b, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook, dones := holdingHook()
	b.SetClientPublishHook(hook)
	t.Cleanup(func() { b.Close() })

	sub := pipeClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "site/#", 0)
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)

	pub.send(&packet.Publish{Topic: "site/a", QoS: 1, PacketID: 7, Payload: []byte("1")})
	done := nextDone(t, dones)
	sub.expect(&packet.Publish{Topic: "site/a", Payload: []byte("1")})
	pub.send(&packet.Pingreq{})
	pub.expect(&packet.Pingresp{}) // the PUBACK is still held
	done(nil)
	pub.expect(&packet.Puback{PacketID: 7})
	done(nil) // a second call does nothing

	pub.send(&packet.Publish{Topic: "site/b", QoS: 2, PacketID: 8, Payload: []byte("2")})
	done = nextDone(t, dones)
	sub.expect(&packet.Publish{Topic: "site/b", Payload: []byte("2")})
	pub.send(&packet.Pingreq{})
	pub.expect(&packet.Pingresp{})
	done(nil)
	pub.expect(&packet.Pubrec{PacketID: 8})
	pub.send(&packet.Pubrel{PacketID: 8})
	pub.expect(&packet.Pubcomp{PacketID: 8})

	// QoS 0 has nothing to hold.
	pub.send(&packet.Publish{Topic: "site/c", Payload: []byte("3")})
	nextDone(t, dones)(nil)
	sub.expect(&packet.Publish{Topic: "site/c", Payload: []byte("3")})
}

// TestPublishHookStoreFailure: done(err) closes the connection without the
// acknowledgement; the client's resend of a QoS 2 message after it resumes
// its session reaches the hook again and is acknowledged once stored.
func TestPublishHookStoreFailure(t *testing.T) {
	b, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook, dones := holdingHook()
	b.SetClientPublishHook(hook)
	t.Cleanup(func() { b.Close() })

	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "pub", CleanSession: false}, false)
	c.send(&packet.Publish{Topic: "site/a", QoS: 2, PacketID: 3, Payload: []byte("x")})
	nextDone(t, dones)(errors.New("disk full"))
	c.expectClosed()

	c = pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "pub", CleanSession: false}, true)
	c.send(&packet.Publish{Topic: "site/a", QoS: 2, PacketID: 3, Dup: true, Payload: []byte("x")})
	nextDone(t, dones)(nil)
	c.expect(&packet.Pubrec{PacketID: 3})
}

// TestPublishHookSeesWills: a will published for a client whose connection
// was lost goes through the hook like the client's own messages.
func TestPublishHookSeesWills(t *testing.T) {
	b, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan gateway.Message, 1)
	b.SetClientPublishHook(func(m gateway.Message, done func(error)) bool { got <- m; return true })
	t.Cleanup(func() { b.Close() })
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "dev", CleanSession: true, WillFlag: true, WillTopic: "site/dev/status",
		WillPayload: []byte("offline"), WillQoS: 1, WillRetain: true}, false)
	c.nc.Close() // lost without DISCONNECT
	select {
	case m := <-got:
		if m.Topic != "site/dev/status" || string(m.Payload) != "offline" || m.QoS != 1 || !m.Retain {
			t.Errorf("hook got %+v, want the will", m)
		}
	case <-time.After(testTimeout):
		t.Fatal("the will did not reach the hook")
	}
}

// TestSubscribeAfterDrop: a SUBSCRIBE that the old connection of a session
// still handles after the session was dropped (a clean takeover) leaves no
// subscription behind.
func TestSubscribeAfterDrop(t *testing.T) {
	b, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := b.newSession("old", false)
	b.mu.Lock()
	b.sessions[s.id] = s
	b.dropSessionLocked(s)
	b.mu.Unlock()
	b.subscribe(s, "site/#", subOpts{qos: 1})
	b.subMu.RLock()
	n := b.subs.Len()
	b.subMu.RUnlock()
	if n != 0 {
		t.Errorf("%d subscriptions left for a dropped session", n)
	}
}
