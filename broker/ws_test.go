package broker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// mqttjsDisconnectScript connects MQTT.js 5 as MQTT X does (MQTT 5.0,
// clean start, keep-alive 60) with client id "victim" and prints one JSON
// line per event: connected, the broker's DISCONNECT with its reason code,
// close. With "takeover" a second client with the same id connects once
// the first is in.
const mqttjsDisconnectScript = `
const mqtt = require('mqtt')
const out = (o) => console.log(JSON.stringify(o))
const [url, mode] = process.argv.slice(2)
const opts = { protocolVersion: 5, clean: true, keepalive: 60, clientId: 'victim', reconnectPeriod: 0, connectTimeout: 5000 }
const c = mqtt.connect(url, opts)
c.on('error', (err) => out({ ev: 'error', err: err.message }))
c.on('connect', () => {
  out({ ev: 'connected' })
  if (mode === 'takeover') {
    const c2 = mqtt.connect(url, opts)
    c2.on('connect', () => out({ ev: 'second-connected' }))
  }
})
c.on('disconnect', (packet) => out({ ev: 'disconnect', reasonCode: packet.reasonCode }))
c.on('close', () => { out({ ev: 'close' }); process.exit(0) })
`

// TestWebSocketServerDisconnect: an MQTT 5.0 client over WebSocket gets
// the broker's DISCONNECT with its reason code before the connection
// closes (section 4.13, [MQTT-4.13.2-1]): MQTT.js for session taken over
// 0x8E, keep-alive timeout 0x8D and shutdown 0x8B.
func TestWebSocketServerDisconnect(t *testing.T) {
	modules := needBrokerMQTTjs(t)
	node := mqtttest.NeedTool(t, "node")
	script := mqtttest.WriteFile(t, "disconnect.js", mqttjsDisconnectScript)
	for _, tc := range []struct {
		name string
		want packet.Code
	}{
		{"takeover", packet.ErrSessionTakenOver},
		{"keepalive", packet.ErrKeepAliveTimeout},
		{"shutdown", packet.ErrServerShuttingDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "keepalive" {
				old := keepAliveDeadline
				keepAliveDeadline = func(uint16) time.Duration { return 300 * time.Millisecond }
				t.Cleanup(func() { keepAliveDeadline = old })
			}
			b := newTestBroker(t, Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "ws"}}})
			ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script, "ws://"+b.Addrs()[0].String()+"/mqtt", tc.name)
			cmd.Env = append(cmd.Environ(), "NODE_PATH="+modules)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var events []map[string]any
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var ev map[string]any
				if json.Unmarshal(sc.Bytes(), &ev) != nil {
					continue // not an event line
				}
				events = append(events, ev)
				if ev["ev"] == "connected" && tc.name == "shutdown" {
					go b.Close() // the cleanup's Close then has nothing to do
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("node: %v (events %v)", err, events)
			}
			var got []string
			for _, ev := range events {
				s := ev["ev"].(string)
				if s == "disconnect" {
					code, _ := ev["reasonCode"].(float64)
					s += " " + packet.Code(code).Error()
				}
				if s != "second-connected" { // its order against the DISCONNECT is not fixed
					got = append(got, s)
				}
			}
			want := []string{"connected", "disconnect " + tc.want.Error(), "close"}
			if !slices.Equal(got, want) {
				t.Fatalf("MQTT.js events %q, want %q", got, want)
			}
		})
	}
}

// TestWebSocketCloseFrame: after its DISCONNECT the broker ends a
// WebSocket connection with a close frame (RFC 6455 section 7.1.2), not by
// dropping the TCP connection: a Go WebSocket client reads the DISCONNECT,
// then a normal closure.
func TestWebSocketCloseFrame(t *testing.T) {
	b := newTestBroker(t, Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "ws"}}})
	dial := func() *websocket.Conn {
		t.Helper()
		wc, _, err := websocket.Dial(t.Context(), "ws://"+b.Addrs()[0].String()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { wc.CloseNow() }) // may be closed already
		connect := &packet.Connect{ProtocolName: "MQTT", ProtocolLevel: packet.Version5, ClientID: "same", CleanSession: true}
		if err := wc.Write(t.Context(), websocket.MessageBinary, connect.Append(nil)); err != nil {
			t.Fatal(err)
		}
		return wc
	}
	read := func(wc *websocket.Conn) (packet.Packet, error) {
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		_, msg, err := wc.Read(ctx)
		if err != nil {
			return nil, err
		}
		p, err := packet.DecodeVersion(packet.Version5, msg[0], msg[2:]) // one short packet per message
		if err != nil {
			t.Fatalf("decode %x: %v", msg, err)
		}
		return p, nil
	}
	old := dial()
	if p, err := read(old); err != nil || p.Type() != packet.CONNACK {
		t.Fatalf("first packet %v, %v; want CONNACK", p, err)
	}
	dial() // takes the session over
	p, err := read(old)
	if d, ok := p.(*packet.Disconnect); err != nil || !ok || d.ReasonCode != packet.ErrSessionTakenOver {
		t.Fatalf("received %#v, %v; want DISCONNECT 0x8E", p, err)
	}
	_, err = read(old)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure {
		t.Fatalf("after DISCONNECT: %v; want a close frame with status 1000", err)
	}
}

// TestWebSocketStream: MQTT packets are a stream across WebSocket
// messages: a packet split over two messages and two packets in one are
// read as such [MQTT-6.0.0-2]; a text message closes the connection
// [MQTT-6.0.0-1].
func TestWebSocketStream(t *testing.T) {
	b := newTestBroker(t, Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "ws"}}})
	wc, _, err := websocket.Dial(t.Context(), "ws://"+b.Addrs()[0].String()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.CloseNow() // may be closed already
	write := func(typ websocket.MessageType, p []byte) {
		t.Helper()
		if err := wc.Write(t.Context(), typ, p); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	expect := func(want packet.Packet) {
		t.Helper()
		w := want.Append(nil)
		for len(got) < len(w) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			_, msg, err := wc.Read(ctx)
			cancel()
			if err != nil {
				t.Fatalf("waiting for %s: %v", want.Type(), err)
			}
			got = append(got, msg...)
		}
		if string(got[:len(w)]) != string(w) {
			t.Fatalf("received %x, want %s %x", got, want.Type(), w)
		}
		got = got[len(w):]
	}
	connect := (&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: packet.Version311, ClientID: "split", CleanSession: true}).Append(nil)
	write(websocket.MessageBinary, connect[:5])
	write(websocket.MessageBinary, connect[5:])
	expect(&packet.Connack{})
	two := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 1}}}).Append(nil)
	two = (&packet.Pingreq{}).Append(two)
	write(websocket.MessageBinary, two)
	expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})
	expect(&packet.Pingresp{})
	write(websocket.MessageText, (&packet.Pingreq{}).Append(nil))
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if _, msg, err := wc.Read(ctx); err == nil {
		t.Fatalf("after a text message: received %x, want the connection closed", msg)
	}
	waitFor(t, "the client gone", func() bool { return b.Stats().ClientsConnected == 0 })
}
