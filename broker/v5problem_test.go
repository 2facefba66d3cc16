package broker

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// problemSequence connects an MQTT 5.0 client to addr with the given
// Request Problem Information and Request Response Information (section
// 3.1.2.11.6, 3.1.2.11.7), sends packets the server answers with reason
// codes (no matching subscribers, no subscription existed, packet id not
// found...), ends with a protocol error, and returns what the server sent:
// one line per packet, "TYPE codes" and " props" when it had properties
// other than the CONNACK's limits.
func problemSequence(t *testing.T, addr string, problem, response bool) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close() // the server closes it first
	c := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc), version: packet.Version5}
	c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: packet.Version5, ClientID: "problem", CleanSession: true,
		Properties: &packet.Properties{RequestProblemInfo: new(problem), RequestResponseInfo: new(response)}})
	var got []string
	record := func(p packet.Packet) {
		var codes []string
		var props *packet.Properties
		switch p := p.(type) {
		case *packet.Connack:
			codes = append(codes, p.ReasonCode.Error())
			if pp := p.Properties; pp != nil {
				// The broker's limits differ from Mosquitto's: keep what
				// the request properties are about.
				props = &packet.Properties{ResponseInfo: pp.ResponseInfo, ReasonString: pp.ReasonString, User: pp.User}
			}
		case *packet.Puback:
			codes, props = append(codes, p.ReasonCode.Error()), p.Properties
		case *packet.Pubrec:
			codes, props = append(codes, p.ReasonCode.Error()), p.Properties
		case *packet.Pubcomp:
			codes, props = append(codes, p.ReasonCode.Error()), p.Properties
		case *packet.Suback:
			for _, rc := range p.ReturnCodes {
				codes = append(codes, packet.Code(rc).Error())
			}
			props = p.Properties
		case *packet.Unsuback:
			for _, rc := range p.ReasonCodes {
				codes = append(codes, rc.Error())
			}
			props = p.Properties
		case *packet.Disconnect:
			codes, props = append(codes, p.ReasonCode.Error()), p.Properties
		}
		line := p.Type().String() + " " + strings.Join(codes, ",")
		if props.Size() > 1 { // 1: the Property Length of none
			line += fmt.Sprintf(" props %+v", *props)
		}
		got = append(got, line)
	}
	// The server may close the connection instead of answering (Mosquitto
	// does at the second CONNECT): "closed" ends the list.
	for _, p := range []packet.Packet{
		nil, // the CONNACK
		&packet.Publish{Topic: "nobody/here", QoS: 1, PacketID: 1, Payload: []byte("x")},
		&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "some/topic", QoS: 1}}},
		&packet.Unsubscribe{PacketID: 3, Filters: []string{"never/subscribed"}},
		&packet.Pubrel{PacketID: 4},
		&packet.Publish{Topic: "nobody/here", QoS: 2, PacketID: 5, Payload: []byte("x")},
		&packet.Pubrel{PacketID: 5},
		&packet.Pingreq{},
		&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: packet.Version5, ClientID: "again", CleanSession: true},
	} {
		if p != nil {
			c.send(p)
		}
		c.nc.SetReadDeadline(time.Now().Add(testTimeout))
		first, body, err := packet.ReadFrame(c.br, 0)
		if err != nil {
			got = append(got, "closed")
			return got
		}
		r, err := packet.DecodeVersion(packet.Version5, first, body)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		record(r)
	}
	c.expectClosed()
	got = append(got, "closed")
	return got
}

// TestV5RequestProblemAndResponseInformation: whatever a client asks with
// Request Problem Information and Request Response Information, the broker
// sends no Reason String or User Property (so none on packets other than
// PUBLISH, CONNACK and DISCONNECT after Request Problem Information 0
// [MQTT-3.1.2-29]) and no Response Information (which a server may send
// when asked, section 3.1.2.11.6, and must not when not asked
// [MQTT-3.1.2-28]): as Mosquitto 2.0, which the same sequence is run
// against.
func TestV5RequestProblemAndResponseInformation(t *testing.T) {
	b := newTestBroker(t, Config{})
	m := mqtttest.StartMosquitto(t)
	want := []string{
		"CONNACK success",
		"PUBACK no matching subscribers",
		"SUBACK granted qos 1",
		"UNSUBACK no subscription existed",
		"PUBCOMP packet identifier not found",
		"PUBREC no matching subscribers",
		"PUBCOMP success",
		"PINGRESP ",
		"DISCONNECT protocol error",
		"closed",
	}
	for _, problem := range []bool{false, true} {
		for _, response := range []bool{true, false} {
			name := fmt.Sprintf("problem=%v,response=%v", problem, response)
			t.Run(name, func(t *testing.T) {
				got := problemSequence(t, b.Addrs()[0].String(), problem, response)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("the broker sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				ref := problemSequence(t, "127.0.0.1:"+strconv.Itoa(m.Port()), problem, response)
				for _, line := range ref {
					if strings.Contains(line, " props ") {
						t.Errorf("mosquitto sent %s: the broker's choice (none) is no longer Mosquitto's", line)
					}
				}
				t.Logf("mosquitto sent: %q", ref)
			})
		}
	}
}

// pahoRequestInfoScript is Debian's python3-paho-mqtt with
// protocol=MQTTv5, asking for Response Information and for no problem
// information: it prints the names of the CONNACK's properties and the
// UNSUBACK of a filter never subscribed (reason code 0x11, where a server
// could add a Reason String).
const pahoRequestInfoScript = `
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port = int(sys.argv[1])
def out(**kw): print(json.dumps(kw, sort_keys=True), flush=True)
def names(props): return sorted(k for k in vars(props) if k[0].isupper()) if props else []
done = threading.Event()
def on_connect(c, u, flags, rc, props):
    out(cb="connect", rc=rc.value, response_information="ResponseInformation" in names(props),
        reason_string="ReasonString" in names(props))
    c.unsubscribe("never/subscribed")
def on_unsubscribe(c, u, mid, props, rcs):
    rcs = rcs if isinstance(rcs, list) else [rcs]
    out(cb="unsuback", codes=[r.value for r in rcs], props=names(props))
    done.set()
c = mqtt.Client(client_id="rri", protocol=mqtt.MQTTv5)
c.on_connect, c.on_unsubscribe = on_connect, on_unsubscribe
p = Properties(PacketTypes.CONNECT)
p.RequestResponseInformation = 1
p.RequestProblemInformation = 0
c.connect("127.0.0.1", port, keepalive=60, properties=p)
c.loop_start()
if not done.wait(10): sys.exit("no unsuback")
c.disconnect(); c.loop_stop()
`

// TestPahoPythonRequestInformation: python3-paho-mqtt asking for Response
// Information and no problem information gets neither Response
// Information nor a Reason String, from the broker as from Mosquitto.
func TestPahoPythonRequestInformation(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	b := newTestBroker(t, Config{})
	m := mqtttest.StartMosquitto(t)
	script := mqtttest.WriteFile(t, "request_info.py", pahoRequestInfoScript)
	_, port := hostPort(b, 0)
	for name, port := range map[string]string{"broker": port, "mosquitto": strconv.Itoa(m.Port())} {
		out, err := runTool(t, "/usr/bin/python3", script, port)
		if err != nil {
			t.Fatalf("%s: python3: %v\n%s", name, err, out)
		}
		t.Logf("%s: %s", name, out)
		checkJSONEventsKey(t, out, "cb", map[string]string{
			"connect":  `{"cb":"connect","rc":0,"response_information":false,"reason_string":false}`,
			"unsuback": `{"cb":"unsuback","codes":[17],"props":[]}`,
		})
	}
}
