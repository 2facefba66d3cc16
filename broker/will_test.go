package broker

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/packet"
)

// TestWillsOnBrokerClose: Close ends connections without a DISCONNECT from
// their clients, so their wills are published [MQTT-3.1.2-8], before the
// database closes: a broker restarted on the same file has the retained
// will, and a persistent session the queued one. A client that sent
// DISCONNECT has no will [MQTT-3.1.2-10], and the ACL applies as to any
// will.
func TestWillsOnBrokerClose(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	acl, err := auth.ParseACL([]byte("topic readwrite status/#\n")) // anonymous clients
	if err != nil {
		t.Fatal(err)
	}
	b1, err := New(Config{PersistencePath: db, Listeners: []Listener{{Address: "127.0.0.1:0"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b1.SetAuthorizer(acl)
	if err := b1.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b1.Close() }) // closed below; a second Close does nothing

	// A device online over TCP, with a retained will.
	dev := tcpClient(t, b1)
	dev.connect(&packet.Connect{ClientID: "dev", CleanSession: true, KeepAlive: 60,
		WillFlag: true, WillRetain: true, WillQoS: 1, WillTopic: "status/dev", WillPayload: []byte("offline")}, false)
	dev.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "status/dev", Payload: []byte("online")})
	dev.expect(&packet.Puback{PacketID: 1})

	// A persistent session subscribed to the status topics, offline.
	sub := pipeClient(t, b1)
	sub.connect(&packet.Connect{ClientID: "sub"}, false)
	sub.subscribe(1, "status/#", 1)
	sub.expect(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "status/dev", Payload: []byte("online")})
	sub.send(&packet.Puback{PacketID: 1})
	sub.send(&packet.Disconnect{})
	sub.expectClosed()
	waitOffline(t, b1, "sub")

	// A client that said goodbye before the broker closed.
	quiet := pipeClient(t, b1)
	quiet.connect(&packet.Connect{ClientID: "quiet", CleanSession: true,
		WillFlag: true, WillRetain: true, WillQoS: 1, WillTopic: "status/quiet", WillPayload: []byte("offline")}, false)
	quiet.send(&packet.Disconnect{})
	quiet.expectClosed()

	// A client whose will the ACL denies.
	denied := pipeClient(t, b1)
	denied.connect(&packet.Connect{ClientID: "denied", CleanSession: true,
		WillFlag: true, WillRetain: true, WillQoS: 1, WillTopic: "private/denied", WillPayload: []byte("offline")}, false)

	if err := b1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	dev.expectClosed()
	denied.expectClosed()

	b2 := newTestBroker(t, Config{PersistencePath: db})
	got := map[string]string{}
	b2.retMu.RLock()
	for topic, m := range b2.retained {
		got[topic] = string(m.payload)
	}
	b2.retMu.RUnlock()
	if want := map[string]string{"status/dev": "offline"}; !reflect.DeepEqual(got, want) {
		t.Errorf("retained after restart = %v, want %v", got, want)
	}

	// The will queued for the persistent session, without the retain flag
	// of an established subscription [MQTT-3.3.1-9].
	sub = pipeClient(t, b2)
	sub.connect(&packet.Connect{ClientID: "sub"}, true)
	sub.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "status/dev", Payload: []byte("offline")})
	sub.send(&packet.Puback{PacketID: 1})
	sub.send(&packet.Pingreq{})
	sub.expect(&packet.Pingresp{}) // and nothing from "quiet"
}
