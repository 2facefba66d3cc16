package broker

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/edgegw/gateway"
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

// connectWithWill connects an MQTT 5.0 client with a persistent session
// (Session Expiry Interval 600) and a QoS 1 will on will/<id> with the
// given Will Delay Interval.
func connectWithWill(t *testing.T, b *Broker, id string, delay uint32, present bool) *rawClient {
	t.Helper()
	c := tcpClient(t, b)
	c.connect5(&packet.Connect{ClientID: id, CleanSession: !present, KeepAlive: 60,
		WillFlag: true, WillQoS: 1, WillTopic: "will/" + id, WillPayload: []byte(id),
		WillProperties: &packet.Properties{WillDelay: u32(delay)},
		Properties:     &packet.Properties{SessionExpiry: u32(600)}}, present)
	return c
}

// TestV5WillDelayAcrossRestart: a delayed will of a persistent session is
// stored, not lost, when the broker stops: the will of a client whose
// connection was lost before, and of ones still connected when the broker
// closed (mosquitto_sub -V mqttv5 among them), are published by the
// restarted broker when their delay ends (section 3.1.3.2.2), not at the
// close and not at the start; a client that resumes its session in time
// after the restart has no will published [MQTT-3.1.3-9].
func TestV5WillDelayAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	b1 := newTestBroker(t, Config{PersistencePath: db}) // closed below; a second Close does nothing
	sub := tcpClient(t, b1)
	sub.connect(&packet.Connect{ClientID: "sub"}, false)
	sub.subscribe(1, "will/#", 1)
	sub.send(&packet.Disconnect{})
	sub.expectClosed()
	waitOffline(t, b1, "sub")

	const delay = 2 * time.Second
	lost := connectWithWill(t, b1, "lost", uint32(delay/time.Second), false)
	open := connectWithWill(t, b1, "open", uint32(delay/time.Second), false)
	back := connectWithWill(t, b1, "back", 3600, false)
	// A real MQTT 5.0 client connected at the close too.
	startMosquittoSub(t, b1, 0, "-V", "mqttv5", "-i", "msub", "-c", "-t", "x", "-q", "1",
		"--will-topic", "will/msub", "--will-payload", "msub", "--will-qos", "1",
		"-x", "600", "-D", "will", "will-delay-interval", "2")
	start := time.Now()
	lost.nc.Close()
	back.nc.Close()
	waitOffline(t, b1, "lost")
	waitOffline(t, b1, "back")
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	open.expectDisconnect(packet.ErrServerShuttingDown)

	b2 := newTestBroker(t, Config{PersistencePath: db})
	connectWithWill(t, b2, "back", 3600, true) // resumed in time
	sub = tcpClient(t, b2)
	sub.connect(&packet.Connect{ClientID: "sub"}, true)
	got := map[string]time.Duration{}
	for range 3 {
		p := sub.recv().(*packet.Publish)
		sub.send(&packet.Puback{PacketID: p.PacketID})
		got[string(p.Payload)] = time.Since(start)
	}
	for _, id := range []string{"lost", "open", "msub"} {
		at, ok := got[id]
		if !ok {
			t.Fatalf("wills received %v, want lost, open and msub", got)
		}
		if at < delay-50*time.Millisecond {
			t.Errorf("will of %s published %v after its client left, before its delay of %v", id, at, delay)
		}
	}
	sub.send(&packet.Pingreq{})
	sub.expect(&packet.Pingresp{}) // and not back's will
	waitFor(t, "published and cancelled wills deleted from the store", func() bool {
		if err := b2.store.Flush(0); err != nil {
			t.Fatal(err)
		}
		ws, err := b2.store.Wills()
		if err != nil {
			t.Fatal(err)
		}
		return len(ws) == 0
	})
}

// TestV5DelayedWillsOnCloseWithoutStore: without a database nothing
// survives the broker, so Close publishes the delayed wills, of a client
// still connected and of one whose delay is running, as Mosquitto does on
// shutdown.
func TestV5DelayedWillsOnCloseWithoutStore(t *testing.T) {
	b, err := New(Config{Listeners: []Listener{{Address: "127.0.0.1:0"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	b.SetClientPublishHook(func(m gateway.Message, _ func(error)) bool {
		got <- m.Topic
		return false
	})
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	connectWithWill(t, b, "open", 3600, false)
	lost := connectWithWill(t, b, "lost", 3600, false)
	lost.nc.Close()
	waitOffline(t, b, "lost")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	close(got)
	var topics []string
	for tp := range got {
		topics = append(topics, tp)
	}
	slices.Sort(topics)
	if want := []string{"will/lost", "will/open"}; !reflect.DeepEqual(topics, want) {
		t.Fatalf("wills published at Close: %q, want %q", topics, want)
	}
}

// TestV5WillRestoredSessionEnds: a will stored with its session is
// published by the restarted broker when the session ends, if that comes
// before the delay (section 3.1.3.2.2): here its Session Expiry Interval
// of 2 s, counted from the start as for any restored session.
func TestV5WillRestoredSessionEnds(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	b1 := newTestBroker(t, Config{PersistencePath: db}) // closed below; a second Close does nothing
	dev := tcpClient(t, b1)
	dev.connect5(&packet.Connect{ClientID: "dev", CleanSession: true, WillFlag: true, WillTopic: "will/dev",
		WillPayload: []byte("gone"), WillProperties: &packet.Properties{WillDelay: u32(3600)},
		Properties: &packet.Properties{SessionExpiry: u32(2)}}, false)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	dev.expectDisconnect(packet.ErrServerShuttingDown)

	b2 := newTestBroker(t, Config{PersistencePath: db})
	sub := tcpClient(t, b2)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "will/#", 0)
	sub.expect(&packet.Publish{Topic: "will/dev", Payload: []byte("gone")})
	if d := time.Since(b2.start); d < 2*time.Second {
		t.Errorf("will published %v after the start, before the session's expiry of 2 s", d)
	}
}
