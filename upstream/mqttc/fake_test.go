package mqttc_test

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/upstream/mqttc"
)

// fakeServer accepts one connection, reads its CONNECT, answers with
// connack and runs serve. It stands in for a server that misbehaves in ways
// mosquitto never does.
func fakeServer(t *testing.T, connack packet.Packet, serve func(c net.Conn, r *bufio.Reader)) string {
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
