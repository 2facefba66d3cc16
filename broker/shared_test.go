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
	"github.com/edgegw/gateway/internal/mqtttest"
)

// joinShared connects an MQTT 5.0 client subscribed to $share/g/s/# at
// QoS 2, with the given Receive Maximum (0: none) and Session Expiry
// Interval.
func joinShared(t *testing.T, b *Broker, id string, recvMax uint16, expiry uint32, present bool) *rawClient {
	t.Helper()
	c := tcpClient(t, b)
	props := &packet.Properties{SessionExpiry: u32(expiry)}
	if recvMax != 0 {
		props.ReceiveMaximum = u16(recvMax)
	}
	c.connect5(&packet.Connect{ClientID: id, CleanSession: !present, Properties: props}, present)
	if !present {
		c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/s/#", QoS: 2}}})
		c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{2}})
	}
	return c
}

// recvPayload receives a PUBLISH and returns its payload, acknowledging it
// when ack is set.
func (c *rawClient) recvPayload(ack bool) string {
	c.t.Helper()
	p, ok := c.recv().(*packet.Publish)
	if !ok {
		c.t.Fatalf("received %#v, want PUBLISH", p)
	}
	if ack {
		switch p.QoS {
		case 1:
			c.send(&packet.Puback{PacketID: p.PacketID})
		case 2:
			c.send(&packet.Pubrec{PacketID: p.PacketID})
			c.expect(&packet.Pubrel{PacketID: p.PacketID})
			c.send(&packet.Pubcomp{PacketID: p.PacketID})
		}
	}
	return string(p.Payload)
}

// publishAcked publishes payload on s/x at qos from a 3.1.1 client and
// waits for its acknowledgement.
func publishAcked(pub *rawClient, id uint16, qos byte, payload string) {
	pub.t.Helper()
	pub.send(&packet.Publish{QoS: qos, PacketID: id, Topic: "s/x", Payload: []byte(payload)})
	if qos == 1 {
		pub.expect(&packet.Puback{PacketID: id})
		return
	}
	pub.expect(&packet.Pubrec{PacketID: id})
	pub.send(&packet.Pubrel{PacketID: id})
	pub.expect(&packet.Pubcomp{PacketID: id})
}

// TestSharedFullMember: a member of a shared subscription whose queue is
// full does not take the group's messages while another has room; when
// every member is full, the publisher waits as for a normal subscriber
// (flow control) instead of a message being dropped or a queue growing.
func TestSharedFullMember(t *testing.T) {
	b := newTestBroker(t, Config{MaxQueuedMessages: 1, StallTimeout: time.Minute})
	a := joinShared(t, b, "a", 1, 0, false) // takes one message and never acknowledges it
	m := joinShared(t, b, "m", 1, 0, false)
	pub := tcpClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)

	publishAcked(pub, 1, 1, "1") // a's turn: in flight to a
	if got := a.recvPayload(false); got != "1" {
		t.Fatalf("a got %q, want 1", got)
	}
	publishAcked(pub, 2, 1, "2") // m's turn
	if got := m.recvPayload(true); got != "2" {
		t.Fatalf("m got %q, want 2", got)
	}
	publishAcked(pub, 3, 1, "3")              // a's turn: queued behind 1, a's queue is full now
	for i, want := range []string{"4", "5"} { // m's turn, then a's, but a has no room: m
		publishAcked(pub, uint16(4+i), 1, want)
		if got := m.recvPayload(true); got != want {
			t.Fatalf("m got %q, want %s", got, want)
		}
	}

	// m stops acknowledging: it takes 6 in flight and 7 in its queue; then
	// both members are full and 8 is admitted over the limit of m (its
	// turn, connected) while the publisher's PUBACK waits.
	publishAcked(pub, 6, 1, "6")
	p6 := m.recv().(*packet.Publish)
	if string(p6.Payload) != "6" {
		t.Fatalf("m got %q, want 6", p6.Payload)
	}
	publishAcked(pub, 7, 1, "7")
	pub.send(&packet.Publish{QoS: 1, PacketID: 8, Topic: "s/x", Payload: []byte("8")})
	pub.send(&packet.Pingreq{})
	pub.expect(&packet.Pingresp{}) // before the PUBACK of 8, held
	m.send(&packet.Puback{PacketID: p6.PacketID})
	for _, want := range []string{"7", "8"} {
		if got := m.recvPayload(true); got != want {
			t.Fatalf("m got %q, want %s", got, want)
		}
	}
	pub.expect(&packet.Puback{PacketID: 8})
	a.send(&packet.Puback{PacketID: 1})
	if got := a.recvPayload(true); got != "3" {
		t.Fatalf("a got %q, want 3", got)
	}
	if st := b.Stats(); st.Dropped != 0 {
		t.Fatalf("Dropped %d, want 0", st.Dropped)
	}
}

// TestSharedOfflineMember: a member whose connection is lost does not keep
// the group's messages while another member is connected: what was queued
// for it and its unacknowledged QoS 1 messages go to the connected member,
// and new messages too; a QoS 2 message it was sent stays its own, resent
// when it reconnects [MQTT-4.8.2-4].
func TestSharedOfflineMember(t *testing.T) {
	b := newTestBroker(t, Config{})
	a := joinShared(t, b, "a", 2, 600, false)
	m := joinShared(t, b, "m", 0, 600, false)
	pub := tcpClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)

	var mGot []string
	for i, qos := range []byte{1, 1, 2, 1, 1, 1} {
		payload := string(rune('1' + i))
		publishAcked(pub, uint16(i+1), qos, payload)
		if i%2 == 1 { // m's turns
			mGot = append(mGot, m.recvPayload(true))
		}
	}
	// a has 1 (QoS 1) and 3 (QoS 2) in flight, 5 queued (Receive Maximum 2).
	for _, want := range []string{"1", "3"} {
		if got := a.recvPayload(false); got != want {
			t.Fatalf("a got %q, want %s", got, want)
		}
	}
	a.nc.Close()
	// 1 and 5 move to m; 3 does not [MQTT-4.8.2-5].
	for range 2 {
		mGot = append(mGot, m.recvPayload(true))
	}
	publishAcked(pub, 7, 1, "7") // a's turn, but a is offline
	mGot = append(mGot, m.recvPayload(true))
	slices.Sort(mGot)
	if want := []string{"1", "2", "4", "5", "6", "7"}; !reflect.DeepEqual(mGot, want) {
		t.Fatalf("m got %q, want %q", mGot, want)
	}

	a = joinShared(t, b, "a", 2, 600, true)
	p := a.recv().(*packet.Publish)
	if !p.Dup || p.QoS != 2 || string(p.Payload) != "3" {
		t.Fatalf("a got %+v after reconnecting, want the QoS 2 message 3 resent", p)
	}
	a.send(&packet.Pingreq{})
	a.expect(&packet.Pingresp{}) // and nothing else
}

// TestSharedOfflineAcrossRestart: messages queued for offline members go
// to the first member that comes back, also after a restart of the broker
// (the stored queue knows their group).
func TestSharedOfflineAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	b1 := newTestBroker(t, Config{PersistencePath: db}) // closed below; a second Close does nothing
	for _, id := range []string{"a", "m"} {
		c := joinShared(t, b1, id, 0, 600, false)
		c.send(&packet.Disconnect{})
		c.expectClosed()
		waitOffline(t, b1, id)
	}
	pub := tcpClient(t, b1)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	for i := range 4 { // two for each offline member
		publishAcked(pub, uint16(i+1), 1, string(rune('1'+i)))
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := newTestBroker(t, Config{PersistencePath: db})
	m := joinShared(t, b2, "m", 0, 600, true)
	var got []string
	for range 4 {
		got = append(got, m.recvPayload(true))
	}
	slices.Sort(got)
	if want := []string{"1", "2", "3", "4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("m got %q, want %q", got, want)
	}
	a := joinShared(t, b2, "a", 0, 600, true)
	a.send(&packet.Pingreq{})
	a.expect(&packet.Pingresp{}) // nothing left for a
}

// pahoSharedScript: two python3-paho-mqtt MQTTv5 members of a shared
// subscription with persistent sessions go offline; a publisher sends
// four QoS 1 messages; the second member comes back and gets all four,
// those queued for the first member included.
const pahoSharedScript = `
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port = int(sys.argv[1])
def out(**kw): print(json.dumps(kw, sort_keys=True), flush=True)
def member(cid, clean, on_message=None):
    ev = threading.Event()
    c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
    c.on_connect = lambda c, u, flags, rc, props: ev.set()
    if on_message: c.on_message = on_message
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 600
    c.connect("127.0.0.1", port, keepalive=60, clean_start=clean, properties=p)
    c.loop_start()
    if not ev.wait(10): sys.exit("no connack")
    return c
for cid in ("m1", "m2"):
    c = member(cid, True)
    subscribed = threading.Event()
    c.on_subscribe = lambda c, u, mid, rcs, props: subscribed.set()
    c.subscribe("$share/g/s/#", qos=1)
    if not subscribed.wait(10): sys.exit("no suback")
    c.disconnect(); c.loop_stop()
p = member("pub", True)
for i in range(4):
    p.publish("s/%d" % i, "m%d" % i, qos=1).wait_for_publish()
p.disconnect(); p.loop_stop()
got = []
done = threading.Event()
def on_message(c, u, m):
    got.append(m.topic)
    if len(got) == 4: done.set()
c = member("m2", False, on_message)
if not done.wait(10): sys.exit("messages missing: %s" % got)
out(ev="m2", topics=sorted(got))
c.disconnect(); c.loop_stop()
`

// TestPahoPythonSharedOffline: with python3-paho-mqtt MQTTv5, a member of
// a shared subscription that comes back gets the group's messages queued
// while every member was offline, also those queued for another member.
func TestPahoPythonSharedOffline(t *testing.T) {
	py := mqtttest.NeedTool(t, "/usr/bin/python3")
	b := newTestBroker(t, Config{})
	script := mqtttest.WriteFile(t, "shared.py", pahoSharedScript)
	_, port := hostPort(b, 0)
	out, err := runTool(t, py, script, port)
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	checkJSONEvents(t, out, map[string]string{"m2": `{"ev":"m2","topics":["s/0","s/1","s/2","s/3"]}`})
}

// mqttjsSharedScript: two MQTT.js 5 members of $share/g/s/#: "slow"
// (Receive Maximum 1) never acknowledges, "fast" does; "pub" publishes ten
// QoS 1 messages. It prints how many fast got while slow held its share,
// then ends slow's session and prints what fast has once slow's messages
// came to it.
const mqttjsSharedScript = `
const mqtt = require('mqtt')
const out = (o) => console.log(JSON.stringify(o))
const url = process.argv[2]
const fail = (err) => { out({ ev: 'error', err: err.message }); process.exit(1) }
const connect = (id, extra) => new Promise((resolve) => {
  const c = mqtt.connect(url, Object.assign({ protocolVersion: 5, clean: true, keepalive: 60, clientId: id, reconnectPeriod: 0, connectTimeout: 5000 }, extra))
  c.on('error', fail)
  c.on('connect', () => resolve(c))
})
const N = 10
let slowGot = 0
const fastGot = new Set()
let wake = () => {}
const until = (cond) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('timeout: fast has ' + [...fastGot])), 10000)
  wake = () => { if (cond()) { clearTimeout(timer); resolve() } }
  wake()
})
async function main() {
  // customHandleAcks never calls back: no PUBACK, as a stuck consumer.
  const slow = await connect('slow', { properties: { receiveMaximum: 1 }, customHandleAcks: () => { slowGot++ } })
  await slow.subscribeAsync('$share/g/s/#', { qos: 1 })
  const fast = await connect('fast', {})
  fast.on('message', (topic, payload) => { fastGot.add(payload.toString()); wake() })
  await fast.subscribeAsync('$share/g/s/#', { qos: 1 })
  const pub = await connect('pub', {})
  for (let i = 0; i < N; i++) await pub.publishAsync('s/x', String(i), { qos: 1 })
  // slow holds one in flight and at most one queued (max_queued_messages 1).
  await until(() => fastGot.size >= N - 2)
  out({ ev: 'split', fastAtLeast: fastGot.size >= N - 2, slowGot })
  slow.end(true) // its session ends: what it held goes to fast
  await until(() => fastGot.size === N)
  out({ ev: 'moved', fast: fastGot.size })
  fast.end(); pub.end()
}
main().catch(fail)
`

// TestMQTTjsSharedStuckMember: with MQTT.js 5 members, a member that stops
// acknowledging keeps only what fits its queue; the group's other
// messages go to the member with room, without loss, and what the stuck
// member held goes there when its session ends.
func TestMQTTjsSharedStuckMember(t *testing.T) {
	b := newTestBroker(t, Config{MaxQueuedMessages: 1, StallTimeout: time.Minute})
	out := runMQTTjs(t, mqttjsSharedScript, "mqtt://"+b.Addrs()[0].String())
	checkJSONEvents(t, out, map[string]string{
		"split": `{"ev":"split","fastAtLeast":true,"slowGot":1}`,
		"moved": `{"ev":"moved","fast":10}`,
	})
	if st := b.Stats(); st.Dropped != 0 {
		t.Fatalf("Dropped %d, want 0", st.Dropped)
	}
}

// TestSharedMemberACL: a member of a shared subscription that the ACL does
// not let read a topic is passed over for its messages: the member that
// may read them gets every one, whatever the turn (before, the group lost
// each message whose turn fell on the denied member).
func TestSharedMemberACL(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	for _, u := range []string{"all", "public"} {
		if err := auth.SetPassword(pw, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	acl := mqtttest.WriteFile(t, "acl", "user all\ntopic readwrite s/#\nuser public\ntopic read s/#\ntopic deny s/secret\n")
	b := newTestBroker(t, Config{PasswordFile: pw, ACLFile: acl, Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}})
	join := func(user string) *rawClient {
		c := tcpClient(t, b)
		c.connect5(&packet.Connect{ClientID: user, CleanSession: true, UsernameFlag: true, Username: user,
			PasswordFlag: true, Password: []byte("pw")}, false)
		c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/s/#", QoS: 1}}})
		c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
		return c
	}
	all, public := join("all"), join("public")
	const n = 6
	for i := range n {
		if err := b.Publish(t.Context(), gateway.Message{Topic: "s/secret", Payload: []byte{'0' + byte(i)}, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got, want := all.recvPayload(true), string([]byte{'0' + byte(i)}); got != want {
			t.Fatalf("member all got %q, want %q", got, want)
		}
	}
	// The denied member gets the next open message, not a secret one.
	if err := b.Publish(t.Context(), gateway.Message{Topic: "s/open", Payload: []byte("open"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), gateway.Message{Topic: "s/open", Payload: []byte("open"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if got := public.recvPayload(true); got != "open" {
		t.Errorf("member public got %q, want the open message", got)
	}
}
