package mqtttest

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// connectTimeout bounds the recorder's connect and subscribe.
const connectTimeout = 10 * time.Second

// Message is one message a Recorder received.
type Message struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
}

// String is the topic and the payload, as mosquitto_sub -v prints them.
func (m Message) String() string { return m.Topic + " " + m.Payload }

// Recorder is an MQTT subscriber (paho, MQTT 3.1.1, clean session) that
// records every message it receives, in the order of arrival. Its methods
// are safe to call while messages arrive.
type Recorder struct {
	url, filter string
	mu          sync.Mutex
	msgs        []Message
	added       chan struct{} // a message arrived since the last look
}

// RecorderOption configures a Recorder's connection.
type RecorderOption func(*mqtt.ClientOptions)

// WithTLS connects with cfg (for mqtts:// and wss:// URLs).
func WithTLS(cfg *tls.Config) RecorderOption {
	return func(o *mqtt.ClientOptions) { o.SetTLSConfig(cfg) }
}

// WithLogin connects with a user name and password.
func WithLogin(username, password string) RecorderOption {
	return func(o *mqtt.ClientOptions) { o.SetUsername(username).SetPassword(password) }
}

// recorders numbers the recorders' client IDs.
var recorders atomic.Int64

// Subscribe connects a Recorder to url (mqtt://, mqtts://, ws://, ...) and
// subscribes to filter at QoS 1; it fails the test if either is refused or
// takes longer than connectTimeout. The client does not reconnect: a
// recorder on a broker that was stopped receives nothing more, so subscribe
// anew after a restart. It disconnects in t.Cleanup.
func Subscribe(t testing.TB, url, filter string, opts ...RecorderOption) *Recorder {
	t.Helper()
	r := &Recorder{url: url, filter: filter, added: make(chan struct{}, 1)}
	o := mqtt.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("mqtttest-rec-%d-%d", os.Getpid(), recorders.Add(1))).
		SetAutoReconnect(false).SetOrderMatters(true).SetConnectTimeout(connectTimeout)
	for _, opt := range opts {
		opt(o)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(connectTimeout) {
		t.Fatalf("recorder connect to %s: timed out", url)
	} else if err := tok.Error(); err != nil {
		t.Fatalf("recorder connect to %s: %v", url, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, Message{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Retain: m.Retained()})
		r.mu.Unlock()
		select {
		case r.added <- struct{}{}:
		default: // a wake-up is pending already
		}
	})
	if !tok.WaitTimeout(connectTimeout) {
		t.Fatalf("recorder subscribe to %q on %s: timed out", filter, url)
	} else if err := tok.Error(); err != nil {
		t.Fatalf("recorder subscribe to %q on %s: %v", filter, url, err)
	}
	return r
}

// Wait waits until at least n messages arrived and returns all that did;
// it fails the test after timeout.
func (r *Recorder) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		got := r.Snapshot()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.added:
		case <-deadline.C:
			t.Fatalf("recorder on %s %q: got %d messages in %v, want %d", r.url, r.filter, len(got), timeout, n)
		}
	}
}

// Snapshot returns the messages received so far.
func (r *Recorder) Snapshot() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}
