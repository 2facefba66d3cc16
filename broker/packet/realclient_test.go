package packet_test

// Cross-checks against real MQTT 5.0 clients: mosquitto_pub, mosquitto_sub,
// Debian's python3-paho-mqtt, MQTT.js (run with node, as in MQTT X) and a
// mosquitto broker's MQTT 5.0 bridge connect to a tiny server in the test that
// decodes what they send with this package and answers with packets this
// package encodes. The clients finishing their work shows they accepted the
// CONNACK, SUBACK, PUBACK, PUBREC, PUBCOMP, UNSUBACK and PUBLISH we encoded;
// what they print shows they read our properties as we meant them.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// clientTimeout bounds a client run; generous for a loaded machine.
const clientTimeout = 60 * time.Second

// server is a one-connection MQTT 5.0 server: it records every packet the
// client sends, decoded by DecodeVersion at the CONNECT's level, and sends
// back what answer returns for it.
type server struct {
	addr   *net.TCPAddr
	mu     sync.Mutex
	got    []packet.Packet
	done   chan struct{}      // closed when the connection ends
	seen   chan packet.Packet // each packet as it arrives, if there is room
	err    error              // why it ended, if not DISCONNECT or EOF
	answer func(p packet.Packet) []packet.Packet

	wmu     sync.Mutex // held for writes to nc
	nc      net.Conn
	version byte
}

func startServer(t *testing.T, answer func(p packet.Packet) []packet.Packet) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: ln.Addr().(*net.TCPAddr), done: make(chan struct{}), answer: answer,
		seen: make(chan packet.Packet, 64)}
	t.Cleanup(func() {
		// Errors irrelevant: the test is over. Closing the connection ends
		// the serving goroutine, which is waited for.
		ln.Close()
		s.wmu.Lock()
		if s.nc != nil {
			s.nc.Close()
		}
		s.wmu.Unlock()
		<-s.done
	})
	go func() {
		defer close(s.done)
		nc, err := ln.Accept()
		if err != nil {
			s.err = err
			return
		}
		defer nc.Close()                              // error irrelevant: the exchange is over
		nc.SetDeadline(time.Now().Add(clientTimeout)) // a failure shows on the read
		s.wmu.Lock()
		s.nc = nc
		s.wmu.Unlock()
		s.err = s.serve(nc)
	}()
	return s
}

func (s *server) serve(nc net.Conn) error {
	br := bufio.NewReader(nc)
	version := packet.Version5 // the highest level accepted for CONNECT
	for {
		first, body, err := packet.ReadFrame(br, 0)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p, err := packet.DecodeVersion(version, first, body)
		if err != nil {
			return err
		}
		if c, ok := p.(*packet.Connect); ok {
			version = c.ProtocolLevel
			s.wmu.Lock()
			s.version = version
			s.wmu.Unlock()
		}
		s.mu.Lock()
		s.got = append(s.got, p)
		s.mu.Unlock()
		select {
		case s.seen <- p:
		default: // nobody waits for packets this far on
		}
		var out []byte
		for _, a := range s.answer(p) {
			out = a.AppendVersion(out, version)
		}
		s.wmu.Lock()
		_, err = nc.Write(out)
		s.wmu.Unlock()
		if err != nil {
			return err
		}
		if _, ok := p.(*packet.Disconnect); ok {
			return nil
		}
	}
}

// wait waits for the connection to end and returns what the client sent.
func (s *server) wait(t *testing.T) []packet.Packet {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(clientTimeout):
		t.Fatal("connection did not end")
	}
	if s.err != nil {
		t.Fatalf("server: %v", s.err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

// push sends p to the client, encoded for its version.
func (s *server) push(t *testing.T, p packet.Packet) {
	t.Helper()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.nc == nil {
		t.Fatal("push before the client connected")
	}
	if _, err := s.nc.Write(p.AppendVersion(nil, s.version)); err != nil {
		t.Fatalf("push %T: %v", p, err)
	}
}

// next waits for the next packet of type T the client sends, skipping
// others.
func next[T packet.Packet](t *testing.T, s *server) T {
	t.Helper()
	timeout := time.After(clientTimeout)
	for {
		select {
		case p := <-s.seen:
			if v, ok := p.(T); ok {
				return v
			}
		case <-s.done:
			var zero T
			t.Fatalf("connection ended before a %T: %v", zero, s.err)
		case <-timeout:
			var zero T
			t.Fatalf("no %T within %v", zero, clientTimeout)
		}
	}
}

// find returns the packets of type T among got.
func find[T packet.Packet](got []packet.Packet) []T {
	var r []T
	for _, p := range got {
		if v, ok := p.(T); ok {
			r = append(r, v)
		}
	}
	return r
}

// run runs a client program and returns its combined output; it fails the
// test if the program fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// connack is the CONNACK the server sends: Success with server properties.
func connack(assignedID string) *packet.Connack {
	return &packet.Connack{Properties: &packet.Properties{
		AssignedClientID:     assignedID,
		ServerKeepAlive:      new(uint16(30)),
		ReceiveMaximum:       new(uint16(10)),
		TopicAliasMaximum:    new(uint16(5)),
		RetainAvailable:      new(true),
		MaximumPacketSize:    new(uint32(1 << 20)),
		WildcardSubAvailable: new(true),
		SubIDAvailable:       new(true),
		SharedSubAvailable:   new(true),
		User:                 []packet.UserProperty{{Key: "server", Value: "test"}},
	}}
}

// acks answers the publish flow of a client: PUBACK and PUBREC with reason
// code 0x10 and a reason string, PUBCOMP for PUBREL.
func acks(p packet.Packet) []packet.Packet {
	switch p := p.(type) {
	case *packet.Publish:
		why := &packet.Properties{ReasonString: "nobody listens"}
		switch p.QoS {
		case 1:
			return []packet.Packet{&packet.Puback{PacketID: p.PacketID, ReasonCode: packet.CodeNoMatchingSubscribers, Properties: why}}
		case 2:
			return []packet.Packet{&packet.Pubrec{PacketID: p.PacketID, ReasonCode: packet.CodeNoMatchingSubscribers, Properties: why}}
		}
	case *packet.Pubrel:
		return []packet.Packet{&packet.Pubcomp{PacketID: p.PacketID, Properties: &packet.Properties{ReasonString: "done"}}}
	case *packet.Pingreq:
		return []packet.Packet{&packet.Pingresp{}}
	}
	return nil
}

func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// TestMosquittoPubV5 decodes the CONNECT (with will), PUBLISH, PUBREL and
// DISCONNECT of mosquitto_pub -V mqttv5 with every property it can set, and
// answers with CONNACK, PUBACK, PUBREC and PUBCOMP that it accepts.
func TestMosquittoPubV5(t *testing.T) {
	pub := mqtttest.NeedTool(t, "mosquitto_pub")
	for _, qos := range []string{"1", "2"} {
		t.Run("qos"+qos, func(t *testing.T) {
			s := startServer(t, func(p packet.Packet) []packet.Packet {
				if _, ok := p.(*packet.Connect); ok {
					return []packet.Packet{connack("")}
				}
				return acks(p)
			})
			out := run(t, pub, "-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(s.addr.Port), "-d",
				"-i", "pub5", "-k", "30", "-x", "120", "-u", "user", "-P", "pw",
				"-q", qos, "-t", "a/b", "-m", "hello",
				"-D", "connect", "receive-maximum", "7",
				"-D", "connect", "maximum-packet-size", "65000",
				"-D", "connect", "topic-alias-maximum", "3",
				"-D", "connect", "request-problem-information", "0",
				"-D", "connect", "request-response-information", "1",
				"-D", "connect", "user-property", "ck", "cv",
				"-D", "publish", "payload-format-indicator", "1",
				"-D", "publish", "message-expiry-interval", "60",
				"-D", "publish", "content-type", "text/plain",
				"-D", "publish", "response-topic", "re/ply",
				"-D", "publish", "correlation-data", "c0ffee",
				"-D", "publish", "topic-alias", "2",
				"-D", "publish", "user-property", "pk", "pv",
				"-D", "publish", "user-property", "pk", "pv2",
				"--will-topic", "w/t", "--will-payload", "gone", "--will-qos", "1", "--will-retain",
				"-D", "will", "payload-format-indicator", "1",
				"-D", "will", "message-expiry-interval", "9",
				"-D", "will", "content-type", "text/x",
				"-D", "will", "response-topic", "w/r",
				"-D", "will", "correlation-data", "wc",
				"-D", "will", "user-property", "wk", "wv",
				"-D", "disconnect", "session-expiry-interval", "0",
				"-D", "disconnect", "user-property", "dk", "dv",
			)
			got := s.wait(t)

			connects := find[*packet.Connect](got)
			if len(connects) != 1 {
				t.Fatalf("got %d CONNECT, want 1", len(connects))
			}
			checkEqual(t, "CONNECT", connects[0], &packet.Connect{
				ProtocolName: "MQTT", ProtocolLevel: 5, CleanSession: true, KeepAlive: 30, ClientID: "pub5",
				WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "w/t", WillPayload: []byte("gone"),
				UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pw"),
				Properties: &packet.Properties{SessionExpiry: new(uint32(120)),
					RequestProblemInfo: new(false), RequestResponseInfo: new(true),
					ReceiveMaximum: new(uint16(7)), TopicAliasMaximum: new(uint16(3)),
					User: []packet.UserProperty{{Key: "ck", Value: "cv"}}, MaximumPacketSize: new(uint32(65000))},
				WillProperties: &packet.Properties{PayloadFormat: new(byte(1)), MessageExpiry: new(uint32(9)),
					ContentType: "text/x", ResponseTopic: "w/r", CorrelationData: []byte("wc"),
					User: []packet.UserProperty{{Key: "wk", Value: "wv"}}},
			})

			pubs := find[*packet.Publish](got)
			if len(pubs) != 1 {
				t.Fatalf("got %d PUBLISH, want 1", len(pubs))
			}
			id := pubs[0].PacketID
			if id == 0 {
				t.Error("PUBLISH packet id 0")
			}
			checkEqual(t, "PUBLISH", pubs[0], &packet.Publish{QoS: byte(qos[0] - '0'), Topic: "a/b", PacketID: id,
				Payload: []byte("hello"), Properties: &packet.Properties{PayloadFormat: new(byte(1)),
					MessageExpiry: new(uint32(60)), ContentType: "text/plain", ResponseTopic: "re/ply",
					CorrelationData: []byte("c0ffee"), TopicAlias: new(uint16(2)),
					User: []packet.UserProperty{{Key: "pk", Value: "pv"}, {Key: "pk", Value: "pv2"}}}})
			if qos == "2" {
				checkEqual(t, "PUBREL", find[*packet.Pubrel](got), []*packet.Pubrel{{PacketID: id}})
				if !strings.Contains(out, "received PUBREC") || !strings.Contains(out, "received PUBCOMP") {
					t.Errorf("mosquitto_pub did not report PUBREC and PUBCOMP:\n%s", out)
				}
			} else if !strings.Contains(out, "received PUBACK") || !strings.Contains(out, "RC:16") {
				t.Errorf("mosquitto_pub did not report PUBACK with reason 16:\n%s", out)
			}
			checkEqual(t, "DISCONNECT", find[*packet.Disconnect](got), []*packet.Disconnect{{
				Properties: &packet.Properties{SessionExpiry: new(uint32(0)),
					User: []packet.UserProperty{{Key: "dk", Value: "dv"}}}}})
		})
	}
}

// TestMosquittoSubV5 decodes the SUBSCRIBE of mosquitto_sub -V mqttv5 with a
// subscription identifier, and checks that it prints the properties of the
// PUBLISH we encode.
func TestMosquittoSubV5(t *testing.T) {
	sub := mqtttest.NeedTool(t, "mosquitto_sub")
	msgProps := &packet.Properties{PayloadFormat: new(byte(1)), MessageExpiry: new(uint32(50)),
		ContentType: "text/plain", ResponseTopic: "re/ply", CorrelationData: []byte("cd"),
		// One identifier: libmosquitto 2.0 takes a second one for a
		// duplicate property, although [MQTT-3.3.4-4] allows several.
		SubscriptionIDs: []uint32{7}, TopicAlias: new(uint16(3)),
		User: []packet.UserProperty{{Key: "u1", Value: "v1"}, {Key: "u1", Value: "v2"}}}
	s := startServer(t, func(p packet.Packet) []packet.Packet {
		switch p := p.(type) {
		case *packet.Connect:
			return []packet.Packet{connack("")}
		case *packet.Subscribe:
			// The second filter is refused with a 5.0 reason code; the
			// client goes on with the first.
			return []packet.Packet{
				&packet.Suback{PacketID: p.PacketID, ReturnCodes: []byte{byte(packet.CodeGrantedQoS1), byte(packet.ErrSharedSubsNotSupported)},
					Properties: &packet.Properties{ReasonString: "no shared"}},
				// libmosquitto 2.0.11 takes an alias with its topic, but not
				// a later PUBLISH with the alias alone: a protocol error.
				&packet.Publish{QoS: 1, PacketID: 1, Topic: "a/x", Payload: []byte("one"), Properties: msgProps},
			}
		}
		return acks(p)
	})
	out := run(t, sub, "-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(s.addr.Port),
		"-i", "sub5", "-q", "1", "-t", "a/+", "-t", "$share/g/b", "-C", "1",
		"-D", "connect", "topic-alias-maximum", "5",
		"-D", "subscribe", "subscription-identifier", "7",
		"-D", "subscribe", "user-property", "sk", "sv",
		"-F", "%t|%p|%q|%F|%E|%C|%R|%D|%S|%P")
	got := s.wait(t)

	checkEqual(t, "SUBSCRIBE", find[*packet.Subscribe](got), []*packet.Subscribe{{
		PacketID:      find[*packet.Subscribe](got)[0].PacketID,
		Subscriptions: []packet.Subscription{{Filter: "a/+", QoS: 1}, {Filter: "$share/g/b", QoS: 1}},
		Properties: &packet.Properties{SubscriptionIDs: []uint32{7},
			User: []packet.UserProperty{{Key: "sk", Value: "sv"}}}}})
	checkEqual(t, "PUBACK", find[*packet.Puback](got), []*packet.Puback{{PacketID: 1}})
	if len(find[*packet.Disconnect](got)) != 1 {
		t.Errorf("no DISCONNECT from mosquitto_sub")
	}
	// %t|%p|%q|%F|%E|%C|%R|%D|%S|%P: topic, payload, qos, then the
	// properties, user properties last.
	if want := "a/x|one|1|1|50|text/plain|re/ply|cd|7|u1:v1 u1:v2\n"; out != want {
		t.Errorf("mosquitto_sub printed %q, want %q", out, want)
	}
}

// pahoScript is a paho-mqtt 1.6 client (Debian's python3-paho-mqtt) with
// protocol MQTTv5: it connects with an empty client id and a will with a
// Will Delay Interval, subscribes with every subscription option,
// publishes at QoS 1 with properties, receives one QoS 2 message,
// unsubscribes and disconnects with reason code 0x04. It prints one JSON
// object per callback.
const pahoScript = `
import json, sys
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions
from paho.mqtt.reasoncodes import ReasonCodes

def out(**kw):
    print(json.dumps(kw), flush=True)

def props(p):
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in p.json().items()} if p else {}

state = {"message": False, "unsubscribed": False}

def finish(c):
    if state["message"] and state["unsubscribed"]:
        dp = Properties(PacketTypes.DISCONNECT)
        dp.SessionExpiryInterval = 0
        dp.ReasonString = "bye"
        c.disconnect(ReasonCodes(PacketTypes.DISCONNECT, "Disconnect with will message"), dp)

def on_connect(c, u, flags, rc, p):
    out(cb="connect", rc=rc.value, present=flags["session present"], props=props(p))
    sp = Properties(PacketTypes.SUBSCRIBE)
    sp.SubscriptionIdentifier = 9
    c.subscribe([("a/+", SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True, retainHandling=2)),
                 ("$share/g/b", SubscribeOptions(qos=2, retainHandling=1))], properties=sp)

def on_subscribe(c, u, mid, rcs, p):
    out(cb="subscribe", rcs=[r.value for r in rcs], props=props(p))
    pp = Properties(PacketTypes.PUBLISH)
    pp.PayloadFormatIndicator = 1
    pp.MessageExpiryInterval = 30
    pp.ContentType = "application/json"
    pp.ResponseTopic = "re/ply"
    pp.CorrelationData = b"id-1"
    pp.UserProperty = [("k", "1"), ("k", "2")]
    c.publish("p/q", "{}", qos=1, properties=pp)

def on_publish(c, u, mid):
    out(cb="publish")
    c.unsubscribe(["a/+", "$share/g/b"])

def on_message(c, u, m):
    out(cb="message", topic=m.topic, payload=m.payload.decode(), qos=m.qos, props=props(m.properties))
    state["message"] = True
    finish(c)

def on_unsubscribe(c, u, mid, p, rcs):
    rcs = rcs if isinstance(rcs, list) else [rcs]
    out(cb="unsubscribe", rcs=[r.value for r in rcs], props=props(p))
    state["unsubscribed"] = True
    finish(c)

c = mqtt.Client(client_id="", protocol=mqtt.MQTTv5)
c.on_connect, c.on_subscribe, c.on_publish = on_connect, on_subscribe, on_publish
c.on_message, c.on_unsubscribe = on_message, on_unsubscribe
wp = Properties(PacketTypes.WILLMESSAGE)
wp.WillDelayInterval = 5
wp.UserProperty = ("wk", "wv")
c.will_set("w/t", "gone", qos=1, retain=False, properties=wp)
cp = Properties(PacketTypes.CONNECT)
cp.SessionExpiryInterval = 60
cp.ReceiveMaximum = 20
cp.TopicAliasMaximum = 4
cp.UserProperty = ("ck", "cv")
c.connect("127.0.0.1", int(sys.argv[1]), keepalive=45, clean_start=True, properties=cp)
c.loop_forever()
`

// TestPahoV5 runs python3-paho-mqtt with protocol=MQTTv5 against the test
// server: CONNACK with an Assigned Client Identifier, SUBACK, UNSUBACK,
// PUBACK and a QoS 2 PUBLISH with properties from this package; CONNECT,
// SUBSCRIBE with all subscription options, PUBLISH, PUBREC, UNSUBSCRIBE and
// DISCONNECT from paho.
func TestPahoV5(t *testing.T) {
	needPaho(t)
	s := startServer(t, func(p packet.Packet) []packet.Packet {
		switch p := p.(type) {
		case *packet.Connect:
			return []packet.Packet{connack("auto-1")}
		case *packet.Subscribe:
			return []packet.Packet{
				&packet.Suback{PacketID: p.PacketID, ReturnCodes: []byte{1, byte(packet.ErrNotAuthorized)},
					Properties: &packet.Properties{ReasonString: "half"}},
				&packet.Publish{QoS: 2, PacketID: 1, Topic: "a/z", Payload: []byte("for paho"),
					Properties: &packet.Properties{ContentType: "text/plain", SubscriptionIDs: []uint32{9, 300},
						User: []packet.UserProperty{{Key: "x", Value: "y"}}}},
			}
		case *packet.Pubrec:
			return []packet.Packet{&packet.Pubrel{PacketID: p.PacketID}}
		case *packet.Unsubscribe:
			return []packet.Packet{&packet.Unsuback{PacketID: p.PacketID,
				ReasonCodes: []packet.Code{packet.CodeSuccess, packet.CodeNoSubscriptionExisted}}}
		}
		return acks(p)
	})
	script := mqtttest.WriteFile(t, "client.py", pahoScript)
	out := run(t, "/usr/bin/python3", script, strconv.Itoa(s.addr.Port))
	got := s.wait(t)

	c := find[*packet.Connect](got)[0]
	checkEqual(t, "CONNECT", c, &packet.Connect{ProtocolName: "MQTT", ProtocolLevel: 5, CleanSession: true,
		KeepAlive: 45, WillFlag: true, WillQoS: 1, WillTopic: "w/t", WillPayload: []byte("gone"),
		Properties: &packet.Properties{SessionExpiry: new(uint32(60)), ReceiveMaximum: new(uint16(20)),
			TopicAliasMaximum: new(uint16(4)), User: []packet.UserProperty{{Key: "ck", Value: "cv"}}},
		WillProperties: &packet.Properties{WillDelay: new(uint32(5)),
			User: []packet.UserProperty{{Key: "wk", Value: "wv"}}}})
	subs := find[*packet.Subscribe](got)
	if len(subs) != 1 {
		t.Fatalf("got %d SUBSCRIBE, want 1", len(subs))
	}
	checkEqual(t, "SUBSCRIBE", subs[0].Subscriptions, []packet.Subscription{
		{Filter: "a/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
		{Filter: "$share/g/b", QoS: 2, RetainHandling: 1}})
	checkEqual(t, "SUBSCRIBE properties", subs[0].Properties, &packet.Properties{SubscriptionIDs: []uint32{9}})
	pubs := find[*packet.Publish](got)
	if len(pubs) != 1 {
		t.Fatalf("got %d PUBLISH, want 1", len(pubs))
	}
	checkEqual(t, "PUBLISH properties", pubs[0].Properties, &packet.Properties{PayloadFormat: new(byte(1)),
		MessageExpiry: new(uint32(30)), ContentType: "application/json", ResponseTopic: "re/ply",
		CorrelationData: []byte("id-1"), User: []packet.UserProperty{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}})
	checkEqual(t, "PUBREC", find[*packet.Pubrec](got), []*packet.Pubrec{{PacketID: 1}})
	checkEqual(t, "UNSUBSCRIBE filters", find[*packet.Unsubscribe](got)[0].Filters, []string{"a/+", "$share/g/b"})
	checkEqual(t, "DISCONNECT", find[*packet.Disconnect](got), []*packet.Disconnect{{
		ReasonCode: packet.CodeDisconnectWithWill,
		Properties: &packet.Properties{SessionExpiry: new(uint32(0)), ReasonString: "bye"}}})

	// What paho read from our packets.
	checkEvents(t, out, map[string]string{
		"connect":     `{"cb":"connect","present":0,"props":{"AssignedClientIdentifier":"auto-1","MaximumPacketSize":1048576,"ReceiveMaximum":10,"RetainAvailable":1,"ServerKeepAlive":30,"SharedSubscriptionAvailable":1,"SubscriptionIdentifierAvailable":1,"TopicAliasMaximum":5,"UserProperty":[["server","test"]],"WildcardSubscriptionAvailable":1},"rc":0}`,
		"subscribe":   `{"cb":"subscribe","props":{"ReasonString":"half"},"rcs":[1,135]}`,
		"message":     `{"cb":"message","payload":"for paho","props":{"ContentType":"text/plain","SubscriptionIdentifier":[9,300],"UserProperty":[["x","y"]]},"qos":2,"topic":"a/z"}`,
		"unsubscribe": `{"cb":"unsubscribe","props":{},"rcs":[0,17]}`,
		"publish":     `{"cb":"publish"}`,
	}, "cb")
}

// needPaho fails the test (skips it with -short) when Debian's
// python3-paho-mqtt is missing; scripts/test installs it.
func needPaho(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import paho.mqtt.client").Run(); err != nil {
		if testing.Short() {
			t.Skip("python3-paho-mqtt not installed")
		}
		t.Fatalf("python3-paho-mqtt not installed (scripts/test installs it): %v", err)
	}
}

// mqttjsScript is an MQTT.js 5 client (npm "mqtt", run with node)
// connecting as MQTT X does by default (MQTT 5.0, clean start, keep-alive
// 60, an "mqttx_" client id), with connect and will properties added. It
// subscribes with every subscription option, publishes at QoS 2 with
// properties, receives two messages (the second one named by a topic alias
// alone), unsubscribes and disconnects with reason code 0x04. It prints one
// JSON object per event.
const mqttjsScript = `
const mqtt = require('mqtt')
const out = (o) => console.log(JSON.stringify(o))
const client = mqtt.connect('mqtt://127.0.0.1:' + process.argv[2], {
  protocolVersion: 5, clean: true, keepalive: 60, clientId: 'mqttx_4f2a9c1e', reconnectPeriod: 0,
  properties: { sessionExpiryInterval: 300, receiveMaximum: 16, maximumPacketSize: 100000,
    topicAliasMaximum: 8, requestResponseInformation: true, requestProblemInformation: false,
    userProperties: { app: 'mqttx' } },
  will: { topic: 'w/js', payload: Buffer.from('bye'), qos: 2, retain: false,
    properties: { willDelayInterval: 10, payloadFormatIndicator: true, messageExpiryInterval: 20,
      contentType: 'text/plain', responseTopic: 'w/r', correlationData: Buffer.from('wc'),
      userProperties: { w: 'v' } } },
})
let messages = 0, published = false, ending = false
function maybeEnd() {
  if (ending || messages < 2 || !published) return
  ending = true
  client.unsubscribe(['a/+', 'b/#'], { properties: { userProperties: { u: 'v' } } }, (err, packet) => {
    out({ ev: 'unsubscribe', err: err ? err.message : null, packet: packet ? { reasonCode: packet.reasonCode, properties: packet.properties } : null })
    client.end(false, { reasonCode: 4, properties: { sessionExpiryInterval: 0, reasonString: 'done' } }, () => out({ ev: 'end' }))
  })
}
client.on('error', (err) => { out({ ev: 'error', err: err.message }); process.exitCode = 1; client.end(true) })
client.on('connect', (connack) => {
  out({ ev: 'connect', sessionPresent: connack.sessionPresent, reasonCode: connack.reasonCode, properties: connack.properties })
  client.subscribe({ 'a/+': { qos: 1, nl: true, rap: true, rh: 2 }, 'b/#': { qos: 2, rh: 1 } },
    { properties: { subscriptionIdentifier: 5, userProperties: { s: 't' } } }, (err, granted) => {
      out({ ev: 'subscribe', err: err ? err.message : null, granted })
      client.publish('p/js', '{"v":1}', { qos: 2, properties: { payloadFormatIndicator: true,
        messageExpiryInterval: 30, contentType: 'application/json', responseTopic: 're/js',
        correlationData: Buffer.from('id-2'), userProperties: { k: ['1', '2'] } } }, (err) => {
        out({ ev: 'publish', err: err ? err.message : null })
        published = true
        maybeEnd()
      })
    })
})
client.on('message', (topic, payload, packet) => {
  out({ ev: 'message', topic, payload: payload.toString(), qos: packet.qos, properties: packet.properties })
  messages++
  maybeEnd()
})
`

// TestMQTTjsV5 runs MQTT.js 5 (what MQTT X is built on) with its MQTT X
// defaults against the test server.
func TestMQTTjsV5(t *testing.T) {
	modules := needMQTTjs(t)
	node := mqtttest.NeedTool(t, "node")
	s := startServer(t, func(p packet.Packet) []packet.Packet {
		switch p := p.(type) {
		case *packet.Connect:
			return []packet.Packet{connack("")}
		case *packet.Subscribe:
			return []packet.Packet{
				// b/# is asked at QoS 2 and granted at QoS 1.
				&packet.Suback{PacketID: p.PacketID, ReturnCodes: []byte{1, 1}},
				&packet.Publish{QoS: 1, PacketID: 1, Topic: "a/js", Payload: []byte("first"),
					Properties: &packet.Properties{TopicAlias: new(uint16(2)), SubscriptionIDs: []uint32{5},
						ContentType: "text/plain", User: []packet.UserProperty{{Key: "x", Value: "y"}}}},
				// [MQTT-3.3.2-10] the client takes the alias it allowed.
				&packet.Publish{Payload: []byte("second"), Properties: &packet.Properties{TopicAlias: new(uint16(2))}},
			}
		case *packet.Unsubscribe:
			return []packet.Packet{&packet.Unsuback{PacketID: p.PacketID,
				ReasonCodes: []packet.Code{packet.CodeSuccess, packet.CodeNoSubscriptionExisted}}}
		}
		return acks(p)
	})
	script := mqtttest.WriteFile(t, "client.js", mqttjsScript)
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, strconv.Itoa(s.addr.Port))
	cmd.Env = append(cmd.Environ(), "NODE_PATH="+modules)
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	got := s.wait(t)

	checkEqual(t, "CONNECT", find[*packet.Connect](got), []*packet.Connect{{ProtocolName: "MQTT",
		ProtocolLevel: 5, CleanSession: true, KeepAlive: 60, ClientID: "mqttx_4f2a9c1e",
		WillFlag: true, WillQoS: 2, WillTopic: "w/js", WillPayload: []byte("bye"),
		Properties: &packet.Properties{SessionExpiry: new(uint32(300)), RequestProblemInfo: new(false),
			RequestResponseInfo: new(true), ReceiveMaximum: new(uint16(16)), TopicAliasMaximum: new(uint16(8)),
			User: []packet.UserProperty{{Key: "app", Value: "mqttx"}}, MaximumPacketSize: new(uint32(100000))},
		WillProperties: &packet.Properties{PayloadFormat: new(byte(1)), MessageExpiry: new(uint32(20)),
			ContentType: "text/plain", ResponseTopic: "w/r", CorrelationData: []byte("wc"),
			WillDelay: new(uint32(10)), User: []packet.UserProperty{{Key: "w", Value: "v"}}}}})
	subs := find[*packet.Subscribe](got)
	if len(subs) != 1 {
		t.Fatalf("got %d SUBSCRIBE, want 1", len(subs))
	}
	checkEqual(t, "SUBSCRIBE", subs[0].Subscriptions, []packet.Subscription{
		{Filter: "a/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
		{Filter: "b/#", QoS: 2, RetainHandling: 1}})
	checkEqual(t, "SUBSCRIBE properties", subs[0].Properties, &packet.Properties{SubscriptionIDs: []uint32{5},
		User: []packet.UserProperty{{Key: "s", Value: "t"}}})
	pubs := find[*packet.Publish](got)
	if len(pubs) != 1 {
		t.Fatalf("got %d PUBLISH, want 1", len(pubs))
	}
	checkEqual(t, "PUBLISH", pubs[0], &packet.Publish{QoS: 2, Topic: "p/js", PacketID: pubs[0].PacketID,
		Payload: []byte(`{"v":1}`), Properties: &packet.Properties{PayloadFormat: new(byte(1)),
			MessageExpiry: new(uint32(30)), ContentType: "application/json", ResponseTopic: "re/js",
			CorrelationData: []byte("id-2"), User: []packet.UserProperty{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}}})
	checkEqual(t, "PUBREL", find[*packet.Pubrel](got), []*packet.Pubrel{{PacketID: pubs[0].PacketID}})
	checkEqual(t, "PUBACK", find[*packet.Puback](got), []*packet.Puback{{PacketID: 1}})
	unsubs := find[*packet.Unsubscribe](got)
	if len(unsubs) != 1 {
		t.Fatalf("got %d UNSUBSCRIBE, want 1", len(unsubs))
	}
	checkEqual(t, "UNSUBSCRIBE", unsubs[0], &packet.Unsubscribe{PacketID: unsubs[0].PacketID,
		Filters: []string{"a/+", "b/#"}, Properties: &packet.Properties{User: []packet.UserProperty{{Key: "u", Value: "v"}}}})
	checkEqual(t, "DISCONNECT", find[*packet.Disconnect](got), []*packet.Disconnect{{
		ReasonCode: packet.CodeDisconnectWithWill,
		Properties: &packet.Properties{SessionExpiry: new(uint32(0)), ReasonString: "done"}}})

	// What MQTT.js read from our CONNACK, SUBACK and PUBLISH packets.
	checkEvents(t, out, map[string]string{
		"connect":   `{"ev":"connect","sessionPresent":false,"reasonCode":0,"properties":{"serverKeepAlive":30,"receiveMaximum":10,"topicAliasMaximum":5,"retainAvailable":true,"userProperties":{"server":"test"},"maximumPacketSize":1048576,"wildcardSubscriptionAvailable":true,"subscriptionIdentifiersAvailable":true,"sharedSubscriptionAvailable":true}}`,
		"subscribe": `{"ev":"subscribe","err":null,"granted":[{"topic":"a/+","qos":1,"nl":true,"rap":true,"rh":2,"properties":{"subscriptionIdentifier":5,"userProperties":{"s":"t"}}},{"topic":"b/#","qos":1,"rh":1,"properties":{"subscriptionIdentifier":5,"userProperties":{"s":"t"}}}]}`,
		"publish":   `{"ev":"publish","err":null}`,
		"end":       `{"ev":"end"}`,
	}, "ev")
	var msgs []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, `"ev":"message"`) {
			msgs = append(msgs, strings.TrimSpace(line))
		}
	}
	checkEqual(t, "MQTT.js messages", msgs, []string{
		`{"ev":"message","topic":"a/js","payload":"first","qos":1,"properties":{"contentType":"text/plain","subscriptionIdentifier":5,"topicAlias":2,"userProperties":{"x":"y"}}}`,
		`{"ev":"message","topic":"a/js","payload":"second","qos":0,"properties":{"topicAlias":2}}`,
	})
}

// checkEvents checks that each JSON line of out whose field key is one of
// want's keys equals that JSON object, fields in any order, and that every
// key of want has a line.
func checkEvents(t *testing.T, out string, want map[string]string, key string) {
	t.Helper()
	byKey := map[string]map[string]any{}
	for line := range strings.Lines(out) {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("client output %q: %v\n%s", line, err, out)
		}
		if k, ok := ev[key].(string); ok {
			byKey[k] = ev
		}
	}
	for k, w := range want {
		ev, ok := byKey[k]
		if !ok {
			t.Errorf("client printed no %s:\n%s", k, out)
			continue
		}
		var wantEv map[string]any
		if err := json.Unmarshal([]byte(w), &wantEv); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ev, wantEv) {
			b, _ := json.Marshal(ev) // decoded JSON always encodes
			wb, _ := json.Marshal(wantEv)
			t.Errorf("client %s:\n got %s\nwant %s", k, b, wb)
		}
	}
}

// needMQTTjs returns the node_modules folder with MQTT.js, which
// scripts/test installs with npm ci; without it the test fails (skips with
// -short).
func needMQTTjs(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "node", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mqtt", "package.json")); err != nil {
		if testing.Short() {
			t.Skip("MQTT.js not installed")
		}
		t.Fatalf("MQTT.js not installed (npm ci --prefix testdata/node; scripts/test does): %v", err)
	}
	return dir
}

// TestMosquittoBridgeV5 has a real mosquitto broker bridge to the test
// server with MQTT 5.0 (bridge_protocol_version mqttv50): its CONNECT and
// SUBSCRIBE (with the No Local and Retain As Published options Mosquitto
// sets on a bridge) decode, a message published to mosquitto reaches us
// with its user property, and one we send reaches a subscriber on mosquitto.
func TestMosquittoBridgeV5(t *testing.T) {
	pub := mqtttest.NeedTool(t, "mosquitto_pub")
	s := startServer(t, func(p packet.Packet) []packet.Packet {
		switch p := p.(type) {
		case *packet.Connect:
			return []packet.Packet{connack("")}
		case *packet.Subscribe:
			codes := make([]byte, len(p.Subscriptions))
			for i, sub := range p.Subscriptions {
				codes[i] = sub.QoS
			}
			return []packet.Packet{&packet.Suback{PacketID: p.PacketID, ReturnCodes: codes}}
		}
		return acks(p)
	})
	m := mqtttest.StartMosquitto(t, mqtttest.WithConfig(
		// mqtttest's "max_inflight_messages 0" (no limit) would make the
		// bridge send Receive Maximum 0, a Protocol Error (3.1.2.11.3) that
		// DecodeVersion refuses.
		"max_inflight_messages 20",
		"connection v5test",
		"address 127.0.0.1:"+strconv.Itoa(s.addr.Port),
		"bridge_protocol_version mqttv50",
		"cleansession true",
		"topic br/out/# out 1",
		"topic br/in/# in 1",
	))
	c := next[*packet.Connect](t, s)
	if c.ProtocolLevel != packet.Version5 {
		t.Fatalf("bridge CONNECT level %d, want 5", c.ProtocolLevel)
	}
	sub := next[*packet.Subscribe](t, s)
	checkEqual(t, "bridge SUBSCRIBE", sub.Subscriptions, []packet.Subscription{
		{Filter: "br/in/#", QoS: 1, NoLocal: true, RetainAsPublished: true}})

	// Out: mosquitto_pub -> mosquitto -> bridge -> us.
	run(t, pub, "-V", "mqttv5", "-p", strconv.Itoa(m.Port()), "-q", "1", "-t", "br/out/x", "-m", "up",
		"-D", "publish", "user-property", "a", "b", "-D", "publish", "content-type", "text/plain")
	up := next[*packet.Publish](t, s)
	checkEqual(t, "bridged PUBLISH", up, &packet.Publish{QoS: 1, Topic: "br/out/x", PacketID: up.PacketID,
		Payload: []byte("up"), Properties: &packet.Properties{ContentType: "text/plain",
			User: []packet.UserProperty{{Key: "a", Value: "b"}}}})
	// In: us -> bridge -> mosquitto -> a 3.1.1 subscriber, which gets the
	// message without its properties.
	rec := mqtttest.Subscribe(t, m.URL(), "br/in/#")
	s.push(t, &packet.Publish{QoS: 1, PacketID: 1, Topic: "br/in/y", Payload: []byte("down"),
		Properties: &packet.Properties{User: []packet.UserProperty{{Key: "c", Value: "d"}}}})
	checkEqual(t, "bridge PUBACK", next[*packet.Puback](t, s), &packet.Puback{PacketID: 1})
	if got := rec.Wait(t, 1, clientTimeout); len(got) != 1 || got[0].String() != "br/in/y down" {
		t.Errorf("subscriber on mosquitto got %v, want br/in/y down", got)
	}
}
