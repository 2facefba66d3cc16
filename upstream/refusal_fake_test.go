package upstream_test

import (
	"bufio"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/upstream"
)

// fakeV5 accepts MQTT 5.0 connections on ln one after the other, answers
// CONNECT with connack, and hands each PUBLISH to onPublish, which returns
// the PUBACK to send (nil: none). Mosquitto never refuses with 0x97 or
// announces a small Maximum Packet Size, hence a fake server.
func fakeV5(t *testing.T, ln net.Listener, connack *packet.Connack, onPublish func(conn int, p *packet.Publish) *packet.Puback) {
	go func() {
		for conn := 0; ; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					first, body, err := packet.ReadFrame(r, 0)
					if err != nil {
						return
					}
					p, err := packet.DecodeVersion(packet.Version5, first, body)
					if err != nil {
						t.Errorf("fake server: %v", err)
						return
					}
					var out packet.Packet
					switch p := p.(type) {
					case *packet.Connect:
						out = connack
					case *packet.Pingreq:
						out = &packet.Pingresp{}
					case *packet.Publish:
						if a := onPublish(conn, p); a != nil {
							out = a
						}
					}
					if out != nil {
						if _, err := c.Write(out.AppendVersion(nil, packet.Version5)); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
}

// TestV5RefusalKeptOrDropped: a publish refused with 0x97 Quota exceeded
// stays in the queue and is sent again on the next connection; a message
// over the server's Maximum Packet Size is dropped (it can never be
// delivered) and counted as refused, and the next one goes on.
func TestV5RefusalKeptOrDropped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	maxSize := uint32(200)
	got := make(chan string, 10) // "conn:payload" of each PUBLISH
	fakeV5(t, ln, &packet.Connack{Properties: &packet.Properties{MaximumPacketSize: &maxSize}},
		func(conn int, p *packet.Publish) *packet.Puback {
			got <- string(rune('0'+conn)) + ":" + string(p.Payload)
			a := &packet.Puback{PacketID: p.PacketID}
			if conn == 0 && string(p.Payload) == "quota" {
				a.ReasonCode, a.Properties = packet.ErrQuotaExceeded, &packet.Properties{ReasonString: "slow down"}
			}
			return a
		})
	cfg := versionConfig("mqtt://"+ln.Addr().String(), 5)
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	for _, payload := range []string{strings.Repeat("x", 300), "quota"} {
		if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/a", Payload: []byte(payload), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	for len(seen) < 2 {
		select {
		case s := <-got:
			seen = append(seen, s)
		case <-time.After(20 * time.Second):
			t.Fatalf("publishes seen: %q, want quota refused then sent again", seen)
		}
	}
	if seen[0] != "0:quota" || seen[1] != "1:quota" {
		t.Errorf("publishes seen %q, want [0:quota 1:quota]: refused with 0x97, sent again on the next connection; the large one never", seen)
	}
	g.waitEmpty(t)
	testutil.WaitFor(t, 5*time.Second, "two refusals counted", func() bool { return g.fwd.Status().Refused == 2 })
	if s := g.fwd.Status(); !strings.Contains(s.LastReason, "PUBACK 0x97 Quota exceeded: slow down") {
		t.Errorf("last reason %q, want the 0x97 refusal with its reason string", s.LastReason)
	}
}

// TestV5BirthTakesNoTopicAlias: the birth message, sent once per
// connection, takes none of the server's Topic Aliases: with a Topic Alias
// Maximum of 1 the forwarded topic gets it, and its second message goes as
// the alias alone.
func TestV5BirthTakesNoTopicAlias(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 10) // "topic|alias" of each PUBLISH
	fakeV5(t, ln, &packet.Connack{Properties: &packet.Properties{TopicAliasMaximum: new(uint16(1))}},
		func(_ int, p *packet.Publish) *packet.Puback {
			var alias uint16
			if p.Properties != nil && p.Properties.TopicAlias != nil {
				alias = *p.Properties.TopicAlias
			}
			got <- p.Topic + "|" + strconv.Itoa(int(alias))
			return &packet.Puback{PacketID: p.PacketID}
		})
	cfg := versionConfig("mqtt://"+ln.Addr().String(), 5)
	cfg.Birth = &gateway.Message{Topic: "edge/gw1/status", Payload: []byte("online"), QoS: 1}
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	for range 2 {
		if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/a", Payload: []byte("v"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []string{"edge/gw1/status|0", "edge/gw1/site/a|1", "|1"} {
		select {
		case s := <-got:
			if s != want {
				t.Errorf("publish %d: %q, want %q", i+1, s, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("publish %d did not come", i+1)
		}
	}
}

// TestStatusAddsUp: every message taken from the buffer is counted once,
// in Acked (the upstream accepted it) or in Dropped (removed unsent or
// refused for good: expired, over the server's Maximum Packet Size,
// refused with a code that is not retried), so that, from an empty buffer,
// depth + Acked + Dropped = the messages accepted. A refusal that is
// retried (0x97) counts in neither until the message is settled.
func TestStatusAddsUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	maxSize := uint32(200)
	fakeV5(t, ln, &packet.Connack{Properties: &packet.Properties{MaximumPacketSize: &maxSize}},
		func(conn int, p *packet.Publish) *packet.Puback {
			a := &packet.Puback{PacketID: p.PacketID}
			switch string(p.Payload) {
			case "denied":
				a.ReasonCode = packet.ErrNotAuthorized // for good: dropped
			case "quota":
				if conn == 0 {
					a.ReasonCode = packet.ErrQuotaExceeded // retried on the next connection
				}
			}
			return a
		})
	cfg := versionConfig("mqtt://"+ln.Addr().String(), 5)
	cfg.Forward[0].MessageExpiry = time.Minute
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	now := time.Now()
	msgs := []gateway.Message{
		{Topic: "site/a", Payload: []byte("ok1"), QoS: 1, Time: now},
		{Topic: "site/a", Payload: []byte("old"), QoS: 1, Time: now.Add(-time.Hour)},    // expired
		{Topic: "site/a", Payload: []byte(strings.Repeat("x", 300)), QoS: 1, Time: now}, // too large
		{Topic: "site/a", Payload: []byte("denied"), QoS: 1, Time: now},
		{Topic: "site/a", Payload: []byte("quota"), QoS: 1, Time: now},
		{Topic: "site/a", Payload: []byte("ok2"), QoS: 1, Time: now},
	}
	for _, m := range msgs {
		if err := g.in.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	g.waitEmpty(t)
	var s upstream.Status
	testutil.WaitFor(t, 5*time.Second, "every message counted", func() bool {
		s = g.fwd.Status()
		return s.Acked+s.Dropped == int64(len(msgs))
	})
	if s.Acked != 3 || s.Dropped != 3 || s.Expired != 1 {
		t.Errorf("Acked %d Dropped %d Expired %d, want 3 (ok1, quota after its retry, ok2), 3 (old, too large, denied), 1", s.Acked, s.Dropped, s.Expired)
	}
	if s.Refused != 3 { // too large (0x95), denied (0x87), quota (0x97) once
		t.Errorf("Refused %d, want 3", s.Refused)
	}
}
