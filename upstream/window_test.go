package upstream_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// readPacket reads one MQTT control packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for { // remaining length, a variable byte integer [MQTT-2.2.3]
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return h, body, err
}

// TestWindowIsExact: an upstream that never acknowledges gets exactly
// inflight publishes, and one more per PUBACK (AWS IoT Core disconnects a
// client with more unacknowledged publishes than it allows). The server is an
// in-process fake: mosquitto has no limit to show this against.
func TestWindowIsExact(t *testing.T) { forEachVersion(t, testWindowIsExact) }

func testWindowIsExact(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t, "mqtt://"+ln.Addr().String())
	cfg.Inflight = 5
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	for i := range 20 {
		if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/a", Payload: []byte{byte(i)}, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	// MQTT 5.0: the server's Receive Maximum of 3 narrows the window of 5
	// [MQTT-3.3.4-9]; 3.1.1 has none.
	connack, window := []byte{0x20, 0x02, 0x00, 0x00}, cfg.Inflight
	if cfg.ProtocolVersion == 5 {
		connack, window = []byte{0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x03}, 3
	}
	var ids [][]byte // packet ids of the publishes received, in order
	// next reads until a PUBLISH arrives (answering CONNECT and PINGREQ), or
	// the deadline passes (nil, false).
	next := func(wait time.Duration) bool {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(wait)) // a failed set shows as a read error
		for {
			h, body, err := readPacket(r)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			switch h >> 4 {
			case 1: // CONNECT: accept [MQTT-3.2]
				if _, err := c.Write(connack); err != nil {
					t.Fatal(err)
				}
			case 12: // PINGREQ
				if _, err := c.Write([]byte{0xd0, 0x00}); err != nil {
					t.Fatal(err)
				}
			case 3: // PUBLISH, QoS 1: topic, then the packet id [MQTT-3.3.2]
				tl := int(body[0])<<8 | int(body[1])
				ids = append(ids, body[2+tl:4+tl])
				return true
			}
		}
	}
	for len(ids) < window {
		if !next(20 * time.Second) {
			t.Fatalf("got %d publishes, want %d", len(ids), window)
		}
	}
	if next(time.Second) {
		t.Fatalf("a publish beyond the window of %d arrived unacknowledged", window)
	}
	puback := append([]byte{0x40, 0x02}, ids[0]...)
	if _, err := c.Write(puback); err != nil {
		t.Fatal(err)
	}
	if !next(20 * time.Second) {
		t.Fatal("no publish after a PUBACK freed a place in the window")
	}
	if next(time.Second) {
		t.Fatalf("two publishes after one PUBACK: more than %d unacknowledged", window)
	}
}
