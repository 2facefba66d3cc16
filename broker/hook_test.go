package broker

import (
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// TestClientPublishHook: messages from network clients reach the hook once
// (QoS 0, 1 and 2); in-process publishes do not.
func TestClientPublishHook(t *testing.T) {
	b, err := New(Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan gateway.Message, 10)
	b.SetClientPublishHook(func(m gateway.Message) { got <- m })
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
