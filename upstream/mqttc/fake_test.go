package mqttc_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/upstream/mqttc"
)

// fakeServer accepts one connection, reads its CONNECT, answers with
// connack and runs serve. It stands in for a server that misbehaves in ways
// mosquitto never does.
func fakeServer(t testing.TB, connack packet.Packet, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		if _, _, err := packet.ReadFrame(r, 0); err != nil {
			return
		}
		if _, err := c.Write(connack.AppendVersion(nil, packet.Version5)); err != nil {
			return
		}
		serve(c, r)
	}()
	return ln.Addr().String()
}

// waitErr waits until the client's connection ends and returns why.
func waitErr(t *testing.T, c *mqttc.Client) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
		return nil
	}
}

// drain reads packets until the connection ends.
func drain(r *bufio.Reader) {
	for {
		if _, _, err := packet.ReadFrame(r, 0); err != nil {
			return
		}
	}
}

// TestMalformedFromServer: a packet that does not decode ends the
// connection with an error naming it; so does an acknowledgement of a
// packet id nothing awaits.
func TestMalformedFromServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"puback too short", []byte{0x40, 0x01, 0x00}, "PUBACK"},
		{"suback bad code", []byte{0x90, 0x03, 0x00, 0x01, 0x05}, "SUBACK"},
		{"unknown puback id", []byte{0x40, 0x02, 0x12, 0x34}, "PUBACK from the server: packet id 4660"},
		{"connect from a server", (&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 4}).Append(nil), "CONNECT"},
		{"publish with a topic alias", []byte{0x30, 0x07, 0x00, 0x01, 'a', 0x03, 0x23, 0x00, 0x01}, "PUBLISH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, &packet.Connack{}, func(c net.Conn, r *bufio.Reader) {
				_, _ = c.Write(tc.bytes)
				drain(r)
			})
			c, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x"})
			err := waitErr(t, c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestServerDisconnect: a 5.0 server's DISCONNECT is reported with its
// reason code and string.
func TestServerDisconnect(t *testing.T) {
	addr := fakeServer(t, &packet.Connack{}, func(c net.Conn, r *bufio.Reader) {
		d := &packet.Disconnect{ReasonCode: packet.ErrQuotaExceeded, Properties: &packet.Properties{ReasonString: "slow down"}}
		_, _ = c.Write(d.AppendVersion(nil, packet.Version5))
		drain(r)
	})
	c, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x"})
	err := waitErr(t, c)
	var de *mqttc.DisconnectError
	if !errors.As(err, &de) || de.ReasonCode != packet.ErrQuotaExceeded || !strings.Contains(err.Error(), "slow down") {
		t.Fatalf("err = %v, want a DisconnectError 0x97 with the reason string", err)
	}
}

// TestNoPingresp: a server that reads but never answers PINGREQ is noticed
// within the keep-alive (plus a tick).
func TestNoPingresp(t *testing.T) {
	addr := fakeServer(t, &packet.Connack{}, func(_ net.Conn, r *bufio.Reader) { drain(r) })
	start := time.Now()
	c, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", KeepAlive: time.Second})
	err := waitErr(t, c)
	if !errors.Is(err, mqttc.ErrNoPingresp) {
		t.Fatalf("err = %v, want ErrNoPingresp", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("noticed after %s with a keep-alive of 1s", d)
	}
}

// TestServerLimits: the server's Receive Maximum bounds the QoS 1 and 2
// publishes in flight, its Maximum Packet Size refuses a larger publish
// before anything is written, its Maximum QoS lowers the QoS, and its
// Server Keep Alive is the one in force.
func TestServerLimits(t *testing.T) {
	recv, size, maxQoS, ka := uint16(2), uint32(64), byte(1), uint16(7)
	connack := &packet.Connack{Properties: &packet.Properties{ReceiveMaximum: &recv, MaximumPacketSize: &size,
		MaximumQoS: &maxQoS, ServerKeepAlive: &ka}}
	got := make(chan *packet.Publish, 10)
	addr := fakeServer(t, connack, func(_ net.Conn, r *bufio.Reader) {
		for {
			first, body, err := packet.ReadFrame(r, 0)
			if err != nil {
				return
			}
			if p, err := packet.DecodeVersion(packet.Version5, first, body); err == nil {
				if p, ok := p.(*packet.Publish); ok {
					got <- p
				}
			}
		}
	})
	c, info := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", KeepAlive: time.Second})
	if info.ReceiveMaximum != 2 || info.MaximumPacketSize != 64 || info.KeepAlive != 7*time.Second {
		t.Errorf("info = %+v", info)
	}
	var tl *mqttc.TooLargeError
	if _, err := c.Publish(&mqttc.Message{Topic: "big", QoS: 1, Payload: make([]byte, 100)}); !errors.As(err, &tl) || !errors.Is(err, packet.ErrTooLarge) {
		t.Fatalf("publish over the maximum packet size: %v", err)
	}
	for range 2 {
		if _, err := c.Publish(&mqttc.Message{Topic: "a", QoS: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Publish(&mqttc.Message{Topic: "a", QoS: 1}); !errors.Is(err, mqttc.ErrWindowFull) {
		t.Fatalf("third publish with Receive Maximum 2: %v", err)
	}
	if _, err := c.Publish(&mqttc.Message{Topic: "a", QoS: 0}); err != nil {
		t.Fatalf("QoS 0 is outside Receive Maximum: %v", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p := <-got
		if p.Topic != "a" || (i < 2 && p.QoS != 1) {
			t.Errorf("publish %d: %s at QoS %d, want QoS 1 (the server's maximum)", i, p.Topic, p.QoS)
		}
	}
}

// wirePublishes runs a fake 5.0 server that answers connack and sends
// each PUBLISH it reads, as "topic|alias" (alias 0: none; the topic is
// what the packet carries, "" for an alias alone), on the channel.
func wirePublishes(t testing.TB, connack *packet.Connack) (string, <-chan string) {
	t.Helper()
	got := make(chan string, 100)
	addr := fakeServer(t, connack, func(_ net.Conn, r *bufio.Reader) {
		for {
			first, body, err := packet.ReadFrame(r, 0)
			if err != nil {
				return
			}
			p, err := packet.DecodeVersion(packet.Version5, first, body)
			if err != nil {
				got <- "decode: " + err.Error()
				return
			}
			if p, ok := p.(*packet.Publish); ok {
				var alias uint16
				if p.Properties != nil && p.Properties.TopicAlias != nil {
					alias = *p.Properties.TopicAlias
				}
				got <- p.Topic + "|" + strconv.Itoa(int(alias))
			}
		}
	})
	return addr, got
}

// publishAll publishes a QoS 0 message to each topic, flushes, and returns
// what the server read.
func publishAll(t *testing.T, c *mqttc.Client, got <-chan string, topics ...string) []string {
	t.Helper()
	for _, tp := range topics {
		if _, err := c.Publish(&mqttc.Message{Topic: tp, Payload: []byte("v")}); err != nil {
			t.Fatalf("publish %s: %v", tp, err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	var wire []string
	for range topics {
		select {
		case w := <-got:
			wire = append(wire, w)
		case <-time.After(10 * time.Second):
			t.Fatalf("the server read %q, then nothing", wire)
		}
	}
	return wire
}

// TestTopicAliases: with MQTT 5.0 the first PUBLISH of a topic carries the
// topic and a new Topic Alias, the later ones the alias and an empty topic
// (section 3.3.2.3.4). Aliases are 1 up to the smaller of the server's
// Topic Alias Maximum [MQTT-3.3.2-9] and ours, first come first served;
// once taken, further topics go in full and no alias moves. A topic too
// short to gain takes none; no maximum from the server, or none of ours,
// means no aliases.
func TestTopicAliases(t *testing.T) {
	const a, b, c = "edge/gw1/site/boiler/temperature", "edge/gw1/site/boiler/pressure", "edge/gw1/site/pump/state"
	topics := []string{a, b, a, c, b, "x/y", c, a}
	for _, tc := range []struct {
		name   string
		server *uint16 // its Topic Alias Maximum; nil: absent
		ours   uint16
		want   []string
	}{
		{"server 2, ours 10", new(uint16(2)), 10,
			[]string{a + "|1", b + "|2", "|1", c + "|0", "|2", "x/y|0", c + "|0", "|1"}},
		{"server 10, ours 1", new(uint16(10)), 1,
			[]string{a + "|1", b + "|0", "|1", c + "|0", b + "|0", "x/y|0", c + "|0", "|1"}},
		{"server 10, ours 10", new(uint16(10)), 10,
			[]string{a + "|1", b + "|2", "|1", c + "|3", "|2", "x/y|0", "|3", "|1"}},
		{"server absent", nil, 10,
			[]string{a + "|0", b + "|0", a + "|0", c + "|0", b + "|0", "x/y|0", c + "|0", a + "|0"}},
		{"server 0", new(uint16(0)), 10,
			[]string{a + "|0", b + "|0", a + "|0", c + "|0", b + "|0", "x/y|0", c + "|0", a + "|0"}},
		{"ours 0", new(uint16(10)), 0,
			[]string{a + "|0", b + "|0", a + "|0", c + "|0", b + "|0", "x/y|0", c + "|0", a + "|0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, got := wirePublishes(t, &packet.Connack{Properties: &packet.Properties{TopicAliasMaximum: tc.server}})
			cl, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", TopicAliases: tc.ours})
			if wire := publishAll(t, cl, got, topics...); !slices.Equal(wire, tc.want) {
				t.Errorf("on the wire:\n got %q\nwant %q", wire, tc.want)
			}
		})
	}
}

// TestTopicAliasesPerConnection: a new connection knows no aliases
// [MQTT-3.3.2-7]: its first PUBLISH of a topic carries the topic again.
func TestTopicAliasesPerConnection(t *testing.T) {
	const topic = "edge/gw1/site/boiler/temperature"
	connack := &packet.Connack{Properties: &packet.Properties{TopicAliasMaximum: new(uint16(10))}}
	for i := range 2 {
		addr, got := wirePublishes(t, connack)
		c, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", TopicAliases: 10})
		want := []string{topic + "|1", "|1"}
		if wire := publishAll(t, c, got, topic, topic); !slices.Equal(wire, want) {
			t.Errorf("connection %d: on the wire %q, want %q", i+1, wire, want)
		}
		_ = c.Close() // the next connection is a new client
	}
}

// TestTopicAliasProperties: the alias goes with the message's own
// properties, which are not changed; a Topic Alias the caller set is not
// sent (the client manages them), and the raw PUBLISH that uses an alias
// has a zero-length topic.
func TestTopicAliasProperties(t *testing.T) {
	const topic = "edge/gw1/site/boiler/temperature"
	raw := make(chan []byte, 10)
	connack := &packet.Connack{Properties: &packet.Properties{TopicAliasMaximum: new(uint16(10))}}
	addr := fakeServer(t, connack, func(_ net.Conn, r *bufio.Reader) {
		for {
			first, body, err := packet.ReadFrame(r, 0)
			if err != nil {
				return
			}
			if packet.Type(first>>4) == packet.PUBLISH {
				raw <- append([]byte{first}, body...)
			}
		}
	})
	c, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", TopicAliases: 10})
	props := &packet.Properties{User: []packet.UserProperty{{Key: "ts", Value: "2026-12-02T12:00:00.000Z"}},
		TopicAlias: new(uint16(7))}
	for range 2 {
		if _, err := c.Publish(&mqttc.Message{Topic: topic, Payload: []byte("21.5"), Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if *props.TopicAlias != 7 || len(props.User) != 1 {
		t.Errorf("the caller's properties changed: %+v", props)
	}
	for i, wantTopic := range []string{topic, ""} {
		b := <-raw
		// QoS 0: the body starts with the topic's two-byte length.
		if n := int(b[1])<<8 | int(b[2]); n != len(wantTopic) {
			t.Errorf("publish %d: topic length %d on the wire, want %d", i+1, n, len(wantTopic))
		}
		p, err := packet.DecodeVersion(packet.Version5, b[0], b[1:])
		if err != nil {
			t.Fatal(err)
		}
		pub := p.(*packet.Publish)
		if pub.Topic != wantTopic || pub.Properties == nil || pub.Properties.TopicAlias == nil || *pub.Properties.TopicAlias != 1 ||
			len(pub.Properties.User) != 1 || pub.Properties.User[0].Key != "ts" {
			t.Errorf("publish %d: topic %q properties %+v, want %q with alias 1 and the ts user property", i+1, pub.Topic, pub.Properties, wantTopic)
		}
	}
}

// TestTopicAliasOverMaxPacketSize: a message that fits the server's
// Maximum Packet Size with its topic but not with the 3 bytes of a new
// alias goes without one; the next message of the topic then sets it. A
// message too large with its topic in full is refused even when it would
// fit as the alias alone: on the next connection it goes in full.
func TestTopicAliasOverMaxPacketSize(t *testing.T) {
	const topic = "edge/gw1/site/boiler/temperature"
	plain := (&packet.Publish{Topic: topic, Payload: make([]byte, 10)}).SizeVersion(packet.Version5)
	size := uint32(plain + 1) // room for the topic, not for topic and alias
	connack := &packet.Connack{Properties: &packet.Properties{TopicAliasMaximum: new(uint16(10)), MaximumPacketSize: &size}}
	addr, got := wirePublishes(t, connack)
	c, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", TopicAliases: 10})
	for _, n := range []int{10, 1, 1} {
		if _, err := c.Publish(&mqttc.Message{Topic: topic, Payload: make([]byte, n)}); err != nil {
			t.Fatalf("a message of %d bytes: %v", n, err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{topic + "|0", topic + "|1", "|1"}
	for i, w := range want {
		if g := <-got; g != w {
			t.Errorf("publish %d: %q on the wire, want %q", i+1, g, w)
		}
	}
	var tl *mqttc.TooLargeError
	if _, err := c.Publish(&mqttc.Message{Topic: topic, Payload: make([]byte, 12)}); !errors.As(err, &tl) || tl.Size != plain+2 {
		t.Errorf("a message 1 byte over with its topic in full, known alias: %v, want a TooLargeError of %d bytes", err, plain+2)
	}
}

// TestNoTopicAlias: a message marked NoTopicAlias goes with its topic in
// full and takes no alias, so that a topic sent once per connection leaves
// the server's few aliases to the topics that repeat.
func TestNoTopicAlias(t *testing.T) {
	const status, data = "edge/gw1/status", "edge/gw1/site/boiler/temperature"
	addr, got := wirePublishes(t, &packet.Connack{Properties: &packet.Properties{TopicAliasMaximum: new(uint16(1))}})
	c, _ := connect(t, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", TopicAliases: 10})
	for _, m := range []mqttc.Message{{Topic: status, NoTopicAlias: true}, {Topic: data}, {Topic: data}, {Topic: status}} {
		if _, err := c.Publish(&m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{status + "|0", data + "|1", "|1", status + "|0"} {
		if g := <-got; g != want {
			t.Errorf("publish %d: %q on the wire, want %q", i+1, g, want)
		}
	}
}

// BenchmarkPublishTopicAlias: the client's CPU per QoS 0 publish of a
// 54-byte topic (50 topics in turn, a 31-byte user property, a 4-byte
// payload) with Topic Aliases off and on, written to a server that reads
// and discards. Reported: wire-B/msg.
//
//	go test -run '^$' -bench PublishTopicAlias ./upstream/mqttc/
func BenchmarkPublishTopicAlias(b *testing.B) {
	topics := make([]string, 50)
	for i := range topics {
		topics[i] = fmt.Sprintf("sites/boiler-room/pi-boiler-room/boiler-%02d/temperature", i)
	}
	props := &packet.Properties{User: []packet.UserProperty{{Key: "ts", Value: "2026-12-02T12:00:00.000Z"}}}
	for _, aliases := range []uint16{0, 100} {
		b.Run(fmt.Sprintf("aliases=%d", aliases), func(b *testing.B) {
			read := make(chan int64, 1)
			addr := fakeServer(b, &packet.Connack{Properties: &packet.Properties{TopicAliasMaximum: new(uint16(100))}},
				func(_ net.Conn, r *bufio.Reader) {
					n, _ := io.Copy(io.Discard, r) // until the client closes
					read <- n
				})
			c, _ := connect(b, addr, mqttc.ConnectOptions{Version: packet.Version5, ClientID: "x", TopicAliases: aliases, Inflight: 1000})
			m := mqttc.Message{Payload: []byte("21.5"), Properties: props}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m.Topic = topics[i%len(topics)]
				if _, err := c.Publish(&m); errors.Is(err, mqttc.ErrWindowFull) {
					if err := c.Flush(); err != nil {
						b.Fatal(err)
					}
					for len(c.Acks()) > 0 {
						<-c.Acks()
					}
					if _, err := c.Publish(&m); err != nil {
						b.Fatal(err)
					}
				} else if err != nil {
					b.Fatal(err)
				}
			}
			if err := c.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = c.Close()
			// The server's copy ends when the client has closed.
			select {
			case n := <-read:
				b.ReportMetric(float64(n)/float64(b.N), "wire-B/msg")
			case <-time.After(10 * time.Second):
				b.Fatal("the server did not see the connection end")
			}
		})
	}
}
