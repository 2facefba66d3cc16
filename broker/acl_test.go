package broker

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// TestRestoredQueueACLRecheck: messages queued for an offline persistent
// session were admitted under the ACL of that run; after a restart under
// an ACL that now denies some of their topics, mosquitto_sub -c resuming
// the session gets only the allowed ones (in order), the denied ones are
// counted (DeliveriesDenied) and leave the store, as Mosquitto checks read
// access when it sends a message rather than trusting what was queued.
func TestRestoredQueueACLRecheck(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	if err := auth.SetPassword(pw, "reader", "rpw"); err != nil {
		t.Fatal(err)
	}
	acl := mqtttest.WriteFile(t, "acl", "user reader\ntopic read d/#\n")
	cfg := Config{PasswordFile: pw, ACLFile: acl, PersistencePath: filepath.Join(dir, "broker.db"),
		Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}
	subArgs := []string{"-c", "-i", "durable", "-u", "reader", "-P", "rpw", "-t", "d/#", "-q", "1", "-v"}

	b1 := newTestBroker(t, cfg)
	s := startMosquittoSub(t, b1, 0, subArgs...)
	s.cmd.Process.Kill()
	<-s.done
	waitFor(t, "mosquitto_sub gone", func() bool { return b1.Stats().ClientsConnected == 0 })
	for _, m := range [][2]string{{"d/secret/1", "s1"}, {"d/open/1", "o1"}, {"d/secret/2", "s2"}, {"d/open/2", "o2"}} {
		if err := b1.Publish(t.Context(), gateway.Message{Topic: m[0], Payload: []byte(m[1]), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	// The ACL changes while the broker is down.
	if err := os.WriteFile(acl, []byte("user reader\ntopic read d/#\ntopic deny d/secret/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b2 := newTestBroker(t, cfg)
	s = startMosquittoSub(t, b2, 0, subArgs...)
	// FIFO: a secret message sent would come before o1 or o2.
	s.expectLine(t, "d/open/1 o1")
	s.expectLine(t, "d/open/2 o2")
	if err := b2.Publish(t.Context(), gateway.Message{Topic: "d/open/3", Payload: []byte("o3"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	s.expectLine(t, "d/open/3 o3")
	if st := b2.Stats(); st.DeliveriesDenied != 2 || st.Denied != 0 {
		t.Errorf("Stats() DeliveriesDenied = %d, Denied = %d, want 2 and 0", st.DeliveriesDenied, st.Denied)
	}
	s.cmd.Process.Kill()
	<-s.done
	waitFor(t, "mosquitto_sub gone", func() bool { return b2.Stats().ClientsConnected == 0 })
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}

	// Nothing of the session is left in the store: the denied messages
	// were dequeued, the delivered ones acknowledged.
	b3, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	sess := b3.sessions["durable"]
	if sess == nil {
		t.Fatal("session durable not restored")
	}
	if n := len(sess.queue) + len(sess.inflight); n != 0 {
		t.Errorf("%d messages still stored for durable, want 0", n)
	}
}

// TestLocalSubscribeACLPerMessage: an in-process subscription of
// Local(user) is checked against the ACL for each message, as a network
// client's: a deny rule inside the granted wildcard holds those messages
// back, retained ones included (see TestACLDeny in broker/auth).
// Broker.Subscribe, the gateway's own, has no ACL even when the file
// grants anonymous clients nothing.
func TestLocalSubscribeACLPerMessage(t *testing.T) {
	acl, err := auth.ParseACL([]byte("user pipeline\ntopic read cmd/#\ntopic deny cmd/secret/#\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := newTestBroker(t, Config{})
	b.SetAuthorizer(acl)
	for _, topic := range []string{"cmd/open/r", "cmd/secret/r"} {
		if err := b.Publish(t.Context(), gateway.Message{Topic: topic, Payload: []byte("r"), Retain: true, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	subscribe := func(sub func(string, byte, func(gateway.Message)) (func(), error)) <-chan string {
		got := make(chan string, 10)
		unsub, err := sub("cmd/#", 1, func(m gateway.Message) { got <- m.Topic })
		if err != nil {
			t.Fatalf("subscribe cmd/#: %v", err)
		}
		t.Cleanup(unsub)
		return got
	}
	local := subscribe(b.Local("pipeline").Subscribe)
	own := subscribe(b.Subscribe)
	for _, topic := range []string{"cmd/secret/x", "cmd/open/x", "cmd/end"} {
		if err := b.Publish(t.Context(), gateway.Message{Topic: topic, Payload: []byte("x"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(ch <-chan string) []string {
		var topics []string
		for {
			select {
			case topic := <-ch:
				topics = append(topics, topic)
				if topic == "cmd/end" {
					return topics
				}
			case <-time.After(testTimeout):
				t.Fatalf("timed out; got %v", topics)
			}
		}
	}
	if got, want := collect(local), []string{"cmd/open/r", "cmd/open/x", "cmd/end"}; !slices.Equal(got, want) {
		t.Errorf("Local(pipeline) got %v, want %v", got, want)
	}
	if d := b.Stats().DeliveriesDenied; d != 2 {
		t.Errorf("DeliveriesDenied = %d, want 2 (cmd/secret/r, cmd/secret/x held back from Local(pipeline))", d)
	}
	got := collect(own)
	slices.Sort(got[:2]) // retained messages come in no particular order
	if want := []string{"cmd/open/r", "cmd/secret/r", "cmd/secret/x", "cmd/open/x", "cmd/end"}; !slices.Equal(got, want) {
		t.Errorf("Broker.Subscribe got %v, want %v", got, want)
	}
}

// TestDeliveriesDeniedCounted: a message the ACL holds back at delivery
// (the user may read the filter it subscribed to but not the message's
// topic) is counted in DeliveriesDenied, once per subscriber held back:
// a retained message on SUBSCRIBE, a live one for a subscription, and one
// for a shared group none of whose members may read it. A member passed
// over for one that may read is not held back; publishes the ACL refuses
// stay counted apart, in Denied.
func TestDeliveriesDeniedCounted(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	if err := auth.SetPassword(pw, "public", "pw"); err != nil {
		t.Fatal(err)
	}
	acl := mqtttest.WriteFile(t, "acl", "user public\ntopic read s/#\ntopic deny s/secret\n")
	b := newTestBroker(t, Config{PasswordFile: pw, ACLFile: acl, Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}})
	if err := b.Publish(t.Context(), gateway.Message{Topic: "s/secret", Payload: []byte("r"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	c := tcpClient(t, b)
	c.connect5(&packet.Connect{ClientID: "public", CleanSession: true, UsernameFlag: true, Username: "public",
		PasswordFlag: true, Password: []byte("pw")}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "s/#", QoS: 1}, {Filter: "$share/g/s/#", QoS: 1}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1, 1}})
	waitFor(t, "the retained s/secret held back", func() bool { return b.Stats().DeliveriesDenied == 1 })
	for _, topic := range []string{"s/secret", "s/open"} {
		if err := b.Publish(t.Context(), gateway.Message{Topic: topic, Payload: []byte(topic), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // s/# and the group
		if got := c.recvPayload(true); got != "s/open" {
			t.Fatalf("got %q, want s/open", got)
		}
	}
	st := b.Stats()
	if st.DeliveriesDenied != 3 {
		t.Errorf("DeliveriesDenied = %d, want 3 (retained, s/#, $share/g/s/#)", st.DeliveriesDenied)
	}
	if st.Denied != 0 {
		t.Errorf("Denied = %d, want 0 (no publish was refused)", st.Denied)
	}
	b.publishSys()
	got := make(chan string, 1)
	unsub, err := b.Subscribe("$SYS/broker/deliveries/denied", 0, func(m gateway.Message) { got <- string(m.Payload) })
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	select {
	case v := <-got:
		if v != "3" {
			t.Errorf("$SYS/broker/deliveries/denied = %q, want 3", v)
		}
	case <-time.After(testTimeout):
		t.Fatal("no retained $SYS/broker/deliveries/denied")
	}
}
