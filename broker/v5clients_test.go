package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgegw/gateway/internal/mqtttest"
)

// The broker against real MQTT 5.0 clients: MQTT.js (what MQTT X is built
// on) over TCP and WebSocket, mosquitto_pub/_sub -V mqttv5 and Debian's
// python3-paho-mqtt with protocol=MQTTv5.

// mqttjsBrokerScript connects two MQTT.js 5 clients as MQTT X does by
// default (MQTT 5.0, clean start, keep-alive 60): "sub" with an empty
// client id subscribes t/# at QoS 2; "pub" publishes t/0, t/1 and t/2 at
// QoS 0, 1 and 2, and nobody/x at QoS 1 (no subscriber: reason code 0x10).
// It prints one JSON object per event and ends when sub has all three.
const mqttjsBrokerScript = `
const mqtt = require('mqtt')
const out = (o) => console.log(JSON.stringify(o))
const url = process.argv[2]
const opts = (id) => ({ protocolVersion: 5, clean: true, keepalive: 60, clientId: id, reconnectPeriod: 0, connectTimeout: 5000 })
const fail = (err) => { out({ ev: 'error', err: err.message }); process.exit(1) }
const sub = mqtt.connect(url, opts(''))
sub.on('error', fail)
let got = []
sub.on('connect', (connack) => {
  const p = connack.properties || {}
  out({ ev: 'sub-connect', reasonCode: connack.reasonCode, assigned: (p.assignedClientIdentifier || '').startsWith('auto-') })
  sub.subscribe('t/#', { qos: 2 }, (err, granted) => {
    if (err) fail(err)
    out({ ev: 'subscribe', qos: granted.map((g) => g.qos) })
    const pub = mqtt.connect(url, opts('mqttx_4f2a9c1e'))
    pub.on('error', fail)
    // MQTT.js hands a success code (0x10 included) to no callback.
    const codes = []
    pub.on('packetreceive', (packet) => { if (packet.cmd === 'puback' && packet.reasonCode) codes.push(packet.reasonCode) })
    pub.on('connect', async (connack) => {
      const p = Object.assign({}, connack.properties)
      out({ ev: 'pub-connect', reasonCode: connack.reasonCode, sessionPresent: connack.sessionPresent, properties: p })
      for (const q of [0, 1, 2]) {
        await pub.publishAsync('t/' + q, 'm' + q, { qos: q, properties: { userProperties: { q: String(q) } } })
      }
      await pub.publishAsync('nobody/x', 'lost', { qos: 1 })
      out({ ev: 'nobody', pubackCodes: codes })
      pub.end()
    })
  })
})
sub.on('message', (topic, payload, packet) => {
  got.push(topic + ' ' + payload.toString() + ' ' + packet.qos + ' ' + JSON.stringify(packet.properties || {}))
  if (got.length === 3) {
    out({ ev: 'messages', got: got.sort() })
    sub.end()
  }
})
`

// TestMQTTjsV5Broker: MQTT.js 5 connecting like MQTT X over TCP and
// WebSocket is accepted, told the broker's limits, and publishes and
// receives at every QoS with reason codes.
func TestMQTTjsV5Broker(t *testing.T) {
	modules := needBrokerMQTTjs(t)
	node := mqtttest.NeedTool(t, "node")
	b := newTestBroker(t, Config{Listeners: []Listener{{Address: "127.0.0.1:0"}, {Address: "127.0.0.1:0", Protocol: "ws"}}})
	script := mqtttest.WriteFile(t, "broker.js", mqttjsBrokerScript)
	for i, url := range []string{"mqtt://" + b.Addrs()[0].String(), "ws://" + b.Addrs()[1].String() + "/mqtt"} {
		t.Run([]string{"tcp", "ws"}[i], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script, url)
			cmd.Env = append(cmd.Environ(), "NODE_PATH="+modules)
			outb, err := cmd.CombinedOutput()
			out := string(outb)
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			checkJSONEvents(t, out, map[string]string{
				"sub-connect": `{"ev":"sub-connect","reasonCode":0,"assigned":true}`,
				"subscribe":   `{"ev":"subscribe","qos":[2]}`,
				"pub-connect": `{"ev":"pub-connect","reasonCode":0,"sessionPresent":false,"properties":{"receiveMaximum":1024,"maximumPacketSize":1048576,"topicAliasMaximum":10}}`,
				"nobody":      `{"ev":"nobody","pubackCodes":[16]}`,
				"messages":    `{"ev":"messages","got":["t/0 m0 0 {\"userProperties\":{\"q\":\"0\"}}","t/1 m1 1 {\"userProperties\":{\"q\":\"1\"}}","t/2 m2 2 {\"userProperties\":{\"q\":\"2\"}}"]}`,
			})
		})
	}
}

// TestMosquittoV5: mosquitto_pub and mosquitto_sub with -V mqttv5 and
// -V mqttv311 on one broker: each message reaches subscribers of both
// versions.
func TestMosquittoV5(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub5 := startMosquittoSub(t, b, 0, "-V", "mqttv5", "-t", "x/#", "-q", "1", "-v")
	sub3 := startMosquittoSub(t, b, 0, "-V", "mqttv311", "-t", "x/#", "-q", "1", "-v")
	if out, err := mosquittoPub(t, b, "-V", "mqttv5", "-t", "x/5", "-q", "1", "-m", "five",
		"-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type", "text/plain"); err != nil {
		t.Fatalf("mosquitto_pub -V mqttv5: %v: %s", err, out)
	}
	if out, err := mosquittoPub(t, b, "-V", "mqttv311", "-t", "x/3", "-q", "2", "-m", "three"); err != nil {
		t.Fatalf("mosquitto_pub -V mqttv311: %v: %s", err, out)
	}
	for _, sub := range []*subProc{sub5, sub3} {
		sub.expectLine(t, "x/5 five")
		sub.expectLine(t, "x/3 three")
	}
	// No subscriber: 0x10 is no error for mosquitto_pub.
	if out, err := mosquittoPub(t, b, "-V", "mqttv5", "-t", "nobody", "-q", "1", "-m", "m"); err != nil {
		t.Fatalf("mosquitto_pub to no subscriber: %v: %s", err, out)
	}
}

// pahoV5Script is Debian's python3-paho-mqtt with protocol=MQTTv5: a
// session with a Session Expiry Interval of 60 subscribes and goes away; a
// second client publishes to it (the persistent session matches, so
// reason code 0); the first comes back without Clean Start, finds its
// session and gets the message.
const pahoV5Script = `
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port = int(sys.argv[1])
def out(**kw): print(json.dumps(kw, sort_keys=True), flush=True)
ev = threading.Event()
def connect(cid, clean):
    c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
    def on_connect(c, u, flags, rc, props):
        out(cb="connect-" + cid + ("-clean" if clean else ""), rc=rc.value, present=flags["session present"])
        ev.set()
    c.on_connect = on_connect
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 60
    ev.clear()
    c.connect("127.0.0.1", port, keepalive=60, clean_start=clean, properties=p)
    c.loop_start()
    if not ev.wait(10): sys.exit("no connack")
    return c
s = connect("py5", True)
r = s.subscribe("py/#", qos=1)
got = threading.Event()
s.on_subscribe = lambda c, u, mid, rcs, props: got.set()
if not got.wait(10): sys.exit("no suback")
s.disconnect(); s.loop_stop()
p = connect("pub5", True)
acked = threading.Event()
def on_publish(c, u, mid): acked.set()
p.on_publish = on_publish
pp = Properties(PacketTypes.PUBLISH)
pp.UserProperty = [("k", "v")]
p.publish("py/x", "queued", qos=1, properties=pp)
if not acked.wait(10): sys.exit("no puback")
p.disconnect(); p.loop_stop()
msg = threading.Event()
def on_message(c, u, m):
    out(cb="message", topic=m.topic, payload=m.payload.decode(), qos=m.qos)
    msg.set()
s = mqtt.Client(client_id="py5", protocol=mqtt.MQTTv5)
s.on_message = on_message
def on_connect(c, u, flags, rc, props):
    out(cb="connect-py5-resume", rc=rc.value, present=flags["session present"])
s.on_connect = on_connect
pr = Properties(PacketTypes.CONNECT)
pr.SessionExpiryInterval = 0
s.connect("127.0.0.1", port, keepalive=60, clean_start=False, properties=pr)
s.loop_start()
if not msg.wait(10): sys.exit("no message")
s.disconnect(); s.loop_stop()
`

// TestPahoPythonV5Session: a persistent session under MQTT 5.0 (Session
// Expiry Interval, Clean Start) with Debian's python3-paho-mqtt.
func TestPahoPythonV5Session(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	b := newTestBroker(t, Config{})
	script := mqtttest.WriteFile(t, "session.py", pahoV5Script)
	_, port := hostPort(b, 0)
	out, err := runTool(t, "/usr/bin/python3", script, port)
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	checkJSONEventsKey(t, out, "cb", map[string]string{
		"connect-py5-clean":  `{"cb":"connect-py5-clean","rc":0,"present":0}`,
		"connect-pub5-clean": `{"cb":"connect-pub5-clean","rc":0,"present":0}`,
		"connect-py5-resume": `{"cb":"connect-py5-resume","rc":0,"present":1}`,
		"message":            `{"cb":"message","topic":"py/x","payload":"queued","qos":1}`,
	})
	// py5's session ended with its last connection (expiry 0).
	waitFor(t, "session py5 gone", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.sessions["py5"] == nil
	})
}

func checkJSONEvents(t *testing.T, out string, want map[string]string) {
	t.Helper()
	checkJSONEventsKey(t, out, "ev", want)
}

// checkJSONEventsKey checks that for each key of want the client printed
// a JSON line whose field key has that value, equal to want's object.
func checkJSONEventsKey(t *testing.T, out, key string, want map[string]string) {
	t.Helper()
	got := map[string]map[string]any{}
	for line := range strings.Lines(out) {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue // not an event line (a library's warning)
		}
		if k, ok := ev[key].(string); ok {
			got[k] = ev
		}
	}
	for k, w := range want {
		var wantEv map[string]any
		if err := json.Unmarshal([]byte(w), &wantEv); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[k], wantEv) {
			t.Errorf("client %s:\n got %v\nwant %v\noutput:\n%s", k, got[k], wantEv, out)
		}
	}
}

// needBrokerMQTTjs returns the node_modules folder with MQTT.js, which
// scripts/test installs with npm ci; without it the test fails (skips with
// -short).
func needBrokerMQTTjs(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "testdata", "node", "node_modules"))
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

// pahoV5FeaturesScript: python3-paho-mqtt MQTTv5 clients: "r" subscribes
// pf/# with Subscription Identifier 5, "s1" and "s2" share
// $share/g/pf/#, "p" publishes four messages with every message property.
const pahoV5FeaturesScript = `
import json, sys, threading, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port = int(sys.argv[1])
def out(**kw): print(json.dumps(kw, sort_keys=True), flush=True)
lock = threading.Lock()
got = {"r": [], "s1": [], "s2": []}
done = threading.Event()
def client(cid, filt, subid=None):
    c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
    ready = threading.Event()
    def on_message(c, u, m):
        p = m.properties
        with lock:
            if cid == "r":
                got[cid].append({"topic": m.topic, "qos": m.qos, "user": getattr(p, "UserProperty", None),
                    "ct": getattr(p, "ContentType", None), "rt": getattr(p, "ResponseTopic", None),
                    "cd": getattr(p, "CorrelationData", b"").decode(), "pfi": getattr(p, "PayloadFormatIndicator", None),
                    "exp": 50 <= getattr(p, "MessageExpiryInterval", 0) <= 60, "subid": getattr(p, "SubscriptionIdentifier", None)})
            else:
                got[cid].append(m.topic)
            if len(got["r"]) == 4 and len(got["s1"]) + len(got["s2"]) == 4: done.set()
    c.on_message = on_message
    c.on_subscribe = lambda c, u, mid, rcs, props: ready.set()
    c.connect("127.0.0.1", port, keepalive=60, clean_start=True)
    c.loop_start()
    sp = None
    if subid:
        sp = Properties(PacketTypes.SUBSCRIBE)
        sp.SubscriptionIdentifier = subid
    c.subscribe(filt, qos=1, properties=sp)
    if not ready.wait(10): sys.exit("no suback for " + cid)
    return c
cs = [client("r", "pf/#", 5), client("s1", "$share/g/pf/#"), client("s2", "$share/g/pf/#")]
p = mqtt.Client(client_id="p", protocol=mqtt.MQTTv5)
p.connect("127.0.0.1", port, keepalive=60, clean_start=True)
p.loop_start()
for i in range(4):
    pp = Properties(PacketTypes.PUBLISH)
    pp.UserProperty = [("a", "1"), ("b", "x"), ("a", "2")]
    pp.ContentType = "text/plain"
    pp.ResponseTopic = "re/x"
    pp.CorrelationData = b"cd"
    pp.PayloadFormatIndicator = 1
    pp.MessageExpiryInterval = 60
    p.publish("pf/%d" % i, "m%d" % i, qos=1, properties=pp).wait_for_publish()
if not done.wait(10): sys.exit("messages missing: %s" % got)
out(ev="r", msgs=sorted(got["r"], key=lambda m: m["topic"]))
out(ev="shared", total=len(got["s1"]) + len(got["s2"]), each=[len(got["s1"]), len(got["s2"])], topics=sorted(got["s1"] + got["s2"]))
for c in cs + [p]:
    c.disconnect(); c.loop_stop()
`

// TestPahoPythonV5Features: message properties pass through unchanged and
// in order, with the Subscription Identifier, and a shared subscription
// splits the messages between its members, with python3-paho-mqtt MQTTv5.
func TestPahoPythonV5Features(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	b := newTestBroker(t, Config{})
	script := mqtttest.WriteFile(t, "features.py", pahoV5FeaturesScript)
	_, port := hostPort(b, 0)
	out, err := runTool(t, "/usr/bin/python3", script, port)
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	msg := func(i int) string {
		return fmt.Sprintf(`{"topic":"pf/%d","qos":1,"user":[["a","1"],["b","x"],["a","2"]],"ct":"text/plain","rt":"re/x","cd":"cd","pfi":1,"exp":true,"subid":[5]}`, i)
	}
	checkJSONEvents(t, out, map[string]string{
		"r":      `{"ev":"r","msgs":[` + msg(0) + "," + msg(1) + "," + msg(2) + "," + msg(3) + `]}`,
		"shared": `{"ev":"shared","total":4,"each":[2,2],"topics":["pf/0","pf/1","pf/2","pf/3"]}`,
	})
}
