package mqttc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/tcpproxy"
	"github.com/edgegw/gateway/upstream/mqttc"
)

var versions = []byte{packet.Version311, packet.Version5}

func vname(v byte) string { return "v" + strconv.Itoa(int(v)) }

// connect dials addr and connects with o.
func connect(t testing.TB, addr string, o mqttc.ConnectOptions) (*mqttc.Client, mqttc.ConnackInfo) {
	t.Helper()
	c, info, err := dialConnect(t, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, info
}

func dialConnect(t testing.TB, addr string, o mqttc.ConnectOptions) (*mqttc.Client, mqttc.ConnackInfo, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, info, err := mqttc.Connect(ctx, conn, o)
	if err != nil {
		conn.Close()
	}
	return c, info, err
}

func addrOf(m *mqtttest.Mosquitto) string { return "127.0.0.1:" + strconv.Itoa(m.Port()) }

// TestPublishInOrder: a window of mixed QoS 0, 1 and 2 publishes reaches a
// real subscriber in order, and every Publish gets one Ack, in order.
func TestPublishInOrder(t *testing.T) {
	for _, v := range versions {
		t.Run(vname(v), func(t *testing.T) {
			m := mqtttest.StartMosquitto(t)
			rec := mqtttest.Subscribe(t, m.URL(), "t/#")
			const window, n = 10, 600
			c, info := connect(t, addrOf(m), mqttc.ConnectOptions{Version: v, ClientID: "pub", CleanStart: true,
				KeepAlive: 30 * time.Second, Inflight: window})
			if info.SessionPresent {
				t.Error("session present on a clean start")
			}
			var ids []uint16 // of the publishes, in order; 0 for QoS 0
			got := 0
			take := func() {
				a := <-c.Acks()
				if a.PacketID != ids[got] || a.Refused() {
					t.Fatalf("ack %d: %+v, want packet id %d accepted", got, a, ids[got])
				}
				got++
			}
			for i := range n {
				for len(ids)-got >= window {
					if err := c.Flush(); err != nil {
						t.Fatal(err)
					}
					take()
				}
				id, err := c.Publish(&mqttc.Message{Topic: "t/" + strconv.Itoa(i%3), QoS: byte(i % 3), Payload: []byte(strconv.Itoa(i))})
				if err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
				if (id == 0) != (i%3 == 0) {
					t.Fatalf("publish %d at QoS %d: packet id %d", i, i%3, id)
				}
				ids = append(ids, id)
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			for got < n {
				take()
			}
			// In order per QoS (each has its own topic): the spec orders
			// the messages of one topic and QoS [MQTT-4.6.0-6].
			msgs := rec.Wait(t, n, 20*time.Second)
			next := map[string]int{"t/0": 0, "t/1": 1, "t/2": 2}
			for _, msg := range msgs[:n] {
				if msg.Payload != strconv.Itoa(next[msg.Topic]) {
					t.Fatalf("%s: %q, want %d (in order)", msg.Topic, msg.Payload, next[msg.Topic])
				}
				next[msg.Topic] += 3
			}
			if err := c.Disconnect(0); err != nil {
				t.Error(err)
			}
			if !errors.Is(c.Err(), mqttc.ErrClosed) {
				t.Errorf("Err after Disconnect = %v", c.Err())
			}
		})
	}
}

// TestWindowFull: Publish refuses to exceed the caller's window.
func TestWindowFull(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	c, _ := connect(t, addrOf(m), mqttc.ConnectOptions{ClientID: "w", CleanStart: true, Inflight: 2})
	for range 2 {
		if _, err := c.Publish(&mqttc.Message{Topic: "a", QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Publish(&mqttc.Message{Topic: "a", QoS: 1}); !errors.Is(err, mqttc.ErrWindowFull) {
		t.Fatalf("third publish in a window of 2: %v", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	<-c.Acks()
	if _, err := c.Publish(&mqttc.Message{Topic: "a", QoS: 1}); err != nil {
		t.Fatalf("publish after an ack freed a place: %v", err)
	}
}

// TestConnackRefused: a refused CONNECT is a *ConnectError with the code.
func TestConnackRefused(t *testing.T) {
	m := mqtttest.StartMosquitto(t, mqtttest.WithConfig("allow_anonymous false"))
	for _, v := range versions {
		t.Run(vname(v), func(t *testing.T) {
			_, _, err := dialConnect(t, addrOf(m), mqttc.ConnectOptions{Version: v, ClientID: "anon"})
			var ce *mqttc.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConnectError", err)
			}
			if ce.ReturnCode != packet.RefusedNotAuthorized || !errors.Is(err, packet.ErrNotAuthorized) {
				t.Errorf("err = %v (return code %d, reason 0x%02x), want not authorized", err, ce.ReturnCode, byte(ce.ReasonCode))
			}
			if v == packet.Version5 && !strings.Contains(err.Error(), "0x87") {
				t.Errorf("v5 error %q does not show the reason code", err)
			}
		})
	}
}

// TestSubscribeIncoming: messages of QoS 0, 1 and 2 from a real publisher
// arrive in order; QoS 1 and 2 are acknowledged by Ack. Under 5.0 No Local
// keeps our own publishes away.
func TestSubscribeIncoming(t *testing.T) {
	for _, v := range versions {
		t.Run(vname(v), func(t *testing.T) {
			m := mqtttest.StartMosquitto(t)
			c, _ := connect(t, addrOf(m), mqttc.ConnectOptions{Version: v, ClientID: "sub", CleanStart: true, KeepAlive: 5 * time.Second})
			codes, err := c.Subscribe(t.Context(), packet.Subscription{Filter: "cmd/#", QoS: 2, NoLocal: true})
			if err != nil || len(codes) != 1 || codes[0] != 2 {
				t.Fatalf("subscribe: %v %v, want granted QoS 2", codes, err)
			}
			if v == packet.Version5 {
				if _, err := c.Publish(&mqttc.Message{Topic: "cmd/own", QoS: 1, Payload: []byte("echo")}); err != nil {
					t.Fatal(err)
				}
				if err := c.Flush(); err != nil {
					t.Fatal(err)
				}
				<-c.Acks()
			}
			pub, _ := connect(t, addrOf(m), mqttc.ConnectOptions{Version: v, ClientID: "cloud", CleanStart: true})
			for i := range 9 {
				if _, err := pub.Publish(&mqttc.Message{Topic: "cmd/x", QoS: byte(i % 3), Payload: []byte(strconv.Itoa(i))}); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Flush(); err != nil {
				t.Fatal(err)
			}
			next := []int{0, 1, 2} // per QoS: the spec orders per topic and QoS [MQTT-4.6.0-6]
			for i := range 9 {
				select {
				case in := <-c.Messages():
					if string(in.Payload) != strconv.Itoa(next[in.QoS]) {
						t.Fatalf("message %d: %q at QoS %d, want %d", i, in.Payload, in.QoS, next[in.QoS])
					}
					next[in.QoS] += 3
					if err := in.Ack(); err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("message %d did not arrive (err %v)", i, c.Err())
				}
			}
			codes, err = c.Unsubscribe(t.Context(), "cmd/#")
			if err != nil {
				t.Fatal(err)
			}
			if v == packet.Version5 && (len(codes) != 1 || codes[0] != 0) {
				t.Errorf("unsuback codes %v", codes)
			}
			if c.Err() != nil {
				t.Fatal(c.Err())
			}
		})
	}
}

// TestRefusedPublish: under 5.0 mosquitto refuses a publish its ACL denies
// with PUBACK (QoS 1) or PUBREC (QoS 2) 0x87, and the next one goes on. With
// Topic Aliases the refused publish still sets its alias: the second
// publish of each topic, the alias alone, is taken as that topic (refused
// again, or delivered), not as a protocol error.
func TestRefusedPublish(t *testing.T) {
	acl := mqtttest.WriteFile(t, "acl", "topic readwrite ok/#\n")
	// mosquitto 2.0.11 drops the connection after a denied publish when
	// max_queued_messages is 0 (mqtttest's "no limit"): it compares its
	// queue length with the limit without checking for 0 first.
	m := mqtttest.StartMosquitto(t, mqtttest.WithConfig("acl_file "+acl, "max_queued_messages 1000"))
	c, _ := connect(t, addrOf(m), mqttc.ConnectOptions{Version: packet.Version5, ClientID: "gw", CleanStart: true, TopicAliases: 10})
	for _, q := range []byte{1, 2} {
		for _, topic := range []string{"denied/x", "ok/x"} {
			if _, err := c.Publish(&mqttc.Message{Topic: topic, QoS: q, Payload: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		var a mqttc.Ack
		select {
		case a = <-c.Acks():
		case <-c.Done():
			t.Fatalf("ack %d: connection ended: %v", i, c.Err())
		}
		if want := i%2 == 0; a.Refused() != want {
			t.Errorf("ack %d: %+v, refused want %v", i, a, want)
		}
		if a.Refused() && a.ReasonCode != packet.ErrNotAuthorized {
			t.Errorf("ack %d: reason 0x%02x, want 0x87", i, byte(a.ReasonCode))
		}
	}
}

// TestSessionExpiry: a 5.0 session with an expiry keeps a QoS 1 message
// published while the client was away, and a clean start drops it.
func TestSessionExpiry(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	o := mqttc.ConnectOptions{Version: packet.Version5, ClientID: "cmds", SessionExpiry: 60}
	c, _ := connect(t, addrOf(m), o)
	if _, err := c.Subscribe(t.Context(), packet.Subscription{Filter: "cmd", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(0); err != nil {
		t.Fatal(err)
	}
	pub, _ := connect(t, addrOf(m), mqttc.ConnectOptions{Version: packet.Version5, ClientID: "cloud", CleanStart: true})
	if _, err := pub.Publish(&mqttc.Message{Topic: "cmd", QoS: 1, Payload: []byte("while away")}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	<-pub.Acks()
	c, info := connect(t, addrOf(m), o)
	if !info.SessionPresent {
		t.Fatal("session not present within its expiry")
	}
	select {
	case in := <-c.Messages():
		if string(in.Payload) != "while away" {
			t.Fatalf("got %q", in.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the queued message did not arrive")
	}
}

// TestPublishProperties: the properties of a 5.0 publish reach a real 5.0
// subscriber (mosquitto_sub prints user properties with %P). The message is
// retained, so the subscriber started after it gets it.
func TestPublishProperties(t *testing.T) {
	sub := mqtttest.NeedTool(t, "mosquitto_sub")
	m := mqtttest.StartMosquitto(t)
	c, _ := connect(t, addrOf(m), mqttc.ConnectOptions{Version: packet.Version5, ClientID: "gw", CleanStart: true})
	expiry := uint32(300)
	props := &packet.Properties{MessageExpiry: &expiry, User: []packet.UserProperty{{Key: "ts", Value: "2026-12-02T12:00:00Z"}}}
	if _, err := c.Publish(&mqttc.Message{Topic: "p", QoS: 1, Retain: true, Payload: []byte("v"), Properties: props}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if a := <-c.Acks(); a.Refused() {
		t.Fatalf("refused: %+v", a)
	}
	out, err := exec.Command(sub, "-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port()), "-t", "p",
		"-C", "1", "-W", "10", "-F", "%P|%p").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_sub: %v: %s", err, out)
	}
	if want := "ts:2026-12-02T12:00:00Z|v"; strings.TrimSpace(string(out)) != want {
		t.Errorf("mosquitto_sub printed %q, want %q", out, want)
	}
}

// TestTopicAliasesMosquitto: against mosquitto (max_topic_alias: 10 by
// default, 0 to allow none) the client uses as many Topic Aliases as the
// server's CONNACK allows, and a real 5.0 subscriber (mosquitto_sub -V
// mqttv5) gets every message with its full topic, in order. The bytes the
// client sends upstream (through a counting proxy) show the saving: each
// aliased topic sends its name once, then 3 bytes of alias instead; with
// max_topic_alias 0 nothing is saved, and mosquitto, which disconnects a
// client for any alias above its maximum, keeps the connection.
func TestTopicAliasesMosquitto(t *testing.T) {
	sub := mqtttest.NeedTool(t, "mosquitto_sub")
	const topics, rounds = 12, 3
	topicOf := func(i int) string { return fmt.Sprintf("edge/gw1/site/boiler/point-%02d", i) } // 29 bytes
	sent := map[string]int64{}
	for _, tc := range []struct {
		name   string
		config []string
		max    uint16 // the CONNACK's Topic Alias Maximum
	}{
		{"default", nil, 10},
		{"max_topic_alias 0", []string{"max_topic_alias 0"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mqtttest.StartMosquitto(t, mqtttest.WithConfig(tc.config...))
			proxy, err := tcpproxy.Start(addrOf(m), 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proxy.Close() }) // closing down
			// A durable 5.0 session holds the messages for the subscriber
			// run afterwards.
			args := []string{"-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port()), "-c", "-i", "sub", "-x", "300",
				"-q", "1", "-t", "edge/#"}
			if out, err := exec.Command(sub, append(args, "-E")...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_sub -E: %v: %s", err, out)
			}
			c, info := connect(t, proxy.Addr(), mqttc.ConnectOptions{Version: packet.Version5, ClientID: "gw", CleanStart: true,
				TopicAliases: 100, Inflight: topics * rounds})
			if info.TopicAliasMaximum != tc.max {
				t.Errorf("CONNACK Topic Alias Maximum %d, want %d", info.TopicAliasMaximum, tc.max)
			}
			var want []string
			for r := range rounds {
				for i := range topics {
					payload := strconv.Itoa(r*topics + i)
					if _, err := c.Publish(&mqttc.Message{Topic: topicOf(i), QoS: 1, Payload: []byte(payload)}); err != nil {
						t.Fatal(err)
					}
					want = append(want, topicOf(i)+" "+payload)
				}
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				select {
				case a := <-c.Acks():
					if a.Refused() {
						t.Fatalf("publish %d refused: %+v", i, a)
					}
				case <-c.Done():
					t.Fatalf("ack %d: connection ended: %v", i, c.Err())
				}
			}
			sent[tc.name] = proxy.Sent()
			out, _ := exec.Command(sub, append(args, "-C", strconv.Itoa(len(want)), "-W", "10", "-F", "%t %p")...).Output()
			if got := strings.Split(strings.TrimSpace(string(out)), "\n"); !slices.Equal(got, want) {
				t.Errorf("mosquitto_sub printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if err := c.Err(); err != nil {
				t.Errorf("connection: %v", err)
			}
		})
	}
	// Topic aliases 1..10 each save len(topic) bytes per later message and
	// cost 3 on every message; the other topics are sent alike.
	saved := int64(10 * ((rounds-1)*(len(topicOf(0))-3) - 3))
	if got := sent["max_topic_alias 0"] - sent["default"]; got != saved {
		t.Errorf("sent %d bytes with aliases, %d without: saved %d, want %d", sent["default"], sent["max_topic_alias 0"], got, saved)
	}
	t.Logf("upstream bytes for %d messages on %d topics: %d with 10 aliases, %d without", topics*rounds, topics, sent["default"], sent["max_topic_alias 0"])
}
