package broker

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// TestV5ResendOverMaximumPacketSize: a QoS 1 message in flight when the
// connection broke is resent to the resuming connection [MQTT-4.4.0-1]
// only if it fits the new connection's Maximum Packet Size; a larger one
// is discarded as if delivered and counted [MQTT-3.1.2-25].
func TestV5ResendOverMaximumPacketSize(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := tcpClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", CleanSession: true, Properties: &packet.Properties{SessionExpiry: u32(600)}}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 1}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	pub := pipeClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	big := strings.Repeat("x", 300)
	for i, payload := range []string{"1", big, "2"} {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "t", Payload: []byte(payload)})
		pub.expect(&packet.Puback{PacketID: uint16(i + 1)})
	}
	for _, want := range []string{"1", big, "2"} {
		if p := c.recv().(*packet.Publish); string(p.Payload) != want {
			t.Fatalf("received %q, want %q", p.Payload, want)
		}
	}
	c.nc.Close() // none acknowledged
	waitOffline(t, b, "c")

	c = tcpClient(t, b)
	c.connect5(&packet.Connect{ClientID: "c", Properties: &packet.Properties{SessionExpiry: u32(600), MaximumPacketSize: u32(100)}}, true)
	var got []string
	for range 2 {
		p := c.recv().(*packet.Publish)
		if !p.Dup {
			t.Errorf("resend of %q without DUP", p.Payload)
		}
		got = append(got, string(p.Payload))
		c.send(&packet.Puback{PacketID: p.PacketID})
	}
	c.send(&packet.Pingreq{})
	c.expect(&packet.Pingresp{}) // and not the large message
	if want := []string{"1", "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resent %q, want %q", got, want)
	}
	if n := b.Stats().TooLarge; n != 1 {
		t.Fatalf("TooLarge %d, want 1", n)
	}
	b.mu.Lock()
	s := b.sessions["c"]
	b.mu.Unlock()
	s.mu.Lock()
	inflight := len(s.inflight)
	s.mu.Unlock()
	if inflight != 0 {
		t.Fatalf("%d messages still in flight, want none", inflight)
	}
}

// TestV5QuotaExceeded: at max_memory an MQTT 5.0 QoS 1 or 2 PUBLISH is
// refused with 0x97 Quota exceeded (section 3.4.2.1) and routed to nobody;
// a 3.1.1 one is routed and acknowledged as before (its publisher waits for
// the connected subscriber); an empty retained message, which frees
// memory, is taken, and after it the 5.0 publisher is served again.
func TestV5QuotaExceeded(t *testing.T) {
	b := newTestBroker(t, Config{MaxMemory: 1000, StallTimeout: time.Minute})
	sub := tcpClient(t, b)
	sub.connect(&packet.Connect{ClientID: "sub", CleanSession: true}, false)
	sub.subscribe(1, "#", 1)
	v3 := tcpClient(t, b)
	v3.connect(&packet.Connect{ClientID: "v3", CleanSession: true}, false)
	v5 := tcpClient(t, b)
	v5.connect5(&packet.Connect{ClientID: "v5", CleanSession: true}, false)
	received := func(want string) {
		t.Helper()
		p := sub.recv().(*packet.Publish)
		if string(p.Payload) != want {
			t.Fatalf("subscriber got %q (topic %s), want %q", p.Payload, p.Topic, want)
		}
		sub.send(&packet.Puback{PacketID: p.PacketID})
	}

	full := strings.Repeat("r", 950)
	v3.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "r", Payload: []byte(full)})
	v3.expect(&packet.Puback{PacketID: 1})
	received(full)

	big := strings.Repeat("x", 100)
	v5.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "q", Payload: []byte(big)})
	v5.expect(&packet.Puback{PacketID: 1, ReasonCode: packet.ErrQuotaExceeded})
	v5.send(&packet.Publish{QoS: 2, PacketID: 2, Topic: "q", Payload: []byte(big)})
	v5.expect(&packet.Pubrec{PacketID: 2, ReasonCode: packet.ErrQuotaExceeded})
	if st := b.Stats(); st.MemoryDropped != 2 || st.Dropped != 2 {
		t.Errorf("MemoryDropped %d, Dropped %d; want 2 refusals counted in both", st.MemoryDropped, st.Dropped)
	}

	v3.send(&packet.Publish{QoS: 1, PacketID: 2, Topic: "q", Payload: []byte("v3 " + big)})
	received("v3 " + big)
	v3.expect(&packet.Puback{PacketID: 2})

	v5.send(&packet.Publish{QoS: 1, PacketID: 3, Retain: true, Topic: "r"}) // deletes the retained message
	v5.expect(&packet.Puback{PacketID: 3})
	received("")
	// The QoS 2 exchange ended with 0x97 (section 4.3.3): its packet id
	// is free, and the message is taken now.
	v5.send(&packet.Publish{QoS: 2, PacketID: 2, Topic: "q", Payload: []byte(big)})
	v5.expect(&packet.Pubrec{PacketID: 2})
	v5.send(&packet.Pubrel{PacketID: 2})
	v5.expect(&packet.Pubcomp{PacketID: 2})
	received(big)
}

// TestMosquittoV5QuotaExceeded: mosquitto_pub -V mqttv5 -d shows the
// reason code 0x97 (151) of a PUBACK at max_memory.
func TestMosquittoV5QuotaExceeded(t *testing.T) {
	b := newTestBroker(t, Config{MaxMemory: 1000})
	if out, err := mosquittoPub(t, b, "-V", "mqttv5", "-t", "r", "-r", "-q", "1", "-m", strings.Repeat("r", 990)); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	out, _ := mosquittoPub(t, b, "-V", "mqttv5", "-d", "-t", "q", "-q", "1", "-m", strings.Repeat("x", 100))
	if !strings.Contains(out, "received PUBACK (Mid: 1, RC:151)") {
		t.Fatalf("mosquitto_pub -d output lacks PUBACK with RC:151:\n%s", out)
	}
}

// mqttjsAliasScript: an MQTT.js 5 client with a Topic Alias Maximum of 2
// subscribes t/#; a second client publishes t/a t/b t/c t/a t/c t/b t/a.
// It prints each message's topic and the Topic Alias it came with (0:
// none).
const mqttjsAliasScript = `
const mqtt = require('mqtt')
const url = process.argv[2]
const fail = (err) => { console.log(JSON.stringify({ ev: 'error', err: err.message })); process.exit(1) }
const opts = (id, extra) => Object.assign({ protocolVersion: 5, clean: true, keepalive: 60, clientId: id, reconnectPeriod: 0, connectTimeout: 5000 }, extra)
const seq = ['t/a', 't/b', 't/c', 't/a', 't/c', 't/b', 't/a']
const got = []
const sub = mqtt.connect(url, opts('sub', { properties: { topicAliasMaximum: 2 } }))
sub.on('error', fail)
sub.on('message', (topic, payload, packet) => {
  got.push(topic + ' ' + payload.toString() + ' ' + ((packet.properties || {}).topicAlias || 0))
  if (got.length === seq.length) {
    console.log(JSON.stringify({ ev: 'got', got }))
    sub.end(); pub.end()
  }
})
let pub
sub.on('connect', async () => {
  await sub.subscribeAsync('t/#', { qos: 0 })
  pub = mqtt.connect(url, opts('pub', {}))
  pub.on('error', fail)
  pub.on('connect', async () => {
    for (const [i, t] of seq.entries()) await pub.publishAsync(t, String(i), { qos: 1 })
  })
})
`

// TestMQTTjsTopicAliasesPastMaximum: MQTT.js 5 with a Topic Alias Maximum
// of 2 gets every topic right: the first two topics by alias after their
// first message, the third always by name, as aliases are not replaced
// (see aliasOut). (libmosquitto 2.0's mosquitto_sub announces a maximum
// with -D but cannot resolve an alias.)
func TestMQTTjsTopicAliasesPastMaximum(t *testing.T) {
	b := newTestBroker(t, Config{})
	out := runMQTTjs(t, mqttjsAliasScript, "mqtt://"+b.Addrs()[0].String())
	checkJSONEvents(t, out, map[string]string{
		"got": `{"ev":"got","got":["t/a 0 1","t/b 1 2","t/c 2 0","t/a 3 1","t/c 4 0","t/b 5 2","t/a 6 1"]}`,
	})
}

// runMQTTjs runs an MQTT.js script with the broker URL as its argument and
// returns its output; it fails the test when the script fails.
func runMQTTjs(t *testing.T, script, url string) string {
	t.Helper()
	modules := needBrokerMQTTjs(t)
	node := mqtttest.NeedTool(t, "node")
	path := mqtttest.WriteFile(t, "script.js", script)
	ctx, cancel := context.WithTimeout(t.Context(), 4*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path, url)
	cmd.Env = append(cmd.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return string(out)
}
