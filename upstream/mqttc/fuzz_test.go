package mqttc_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/upstream/mqttc"
)

// FuzzFromServer feeds whatever a server might send after its CONNACK to a
// client with a QoS 1 and a QoS 2 publish in flight: the client must end the
// connection with an error or carry on, never panic or hang. Seeded with
// the packets a server sends.
func FuzzFromServer(f *testing.F) {
	seeds := []packet.Packet{
		&packet.Puback{PacketID: 1},
		&packet.Puback{PacketID: 1, ReasonCode: packet.ErrNotAuthorized, Properties: &packet.Properties{ReasonString: "no"}},
		&packet.Pubrec{PacketID: 2},
		&packet.Pubcomp{PacketID: 2},
		&packet.Publish{QoS: 1, Topic: "cmd", PacketID: 7, Payload: []byte("x")},
		&packet.Publish{QoS: 2, Topic: "cmd", PacketID: 8, Payload: []byte("y")},
		&packet.Pubrel{PacketID: 8},
		&packet.Suback{PacketID: 3, ReturnCodes: []byte{1}},
		&packet.Unsuback{PacketID: 3},
		&packet.Pingresp{},
		&packet.Disconnect{ReasonCode: packet.ErrQuotaExceeded},
	}
	for _, v := range []byte{packet.Version311, packet.Version5} {
		var all []byte
		for _, p := range seeds {
			b := p.AppendVersion(nil, v)
			f.Add(v, b)
			all = append(all, b...)
		}
		f.Add(v, all)
	}
	f.Fuzz(func(t *testing.T, v byte, data []byte) {
		if v != packet.Version5 {
			v = packet.Version311
		}
		cli, srv := net.Pipe()
		go func() {
			defer srv.Close()
			r := bufio.NewReader(srv)
			if _, _, err := packet.ReadFrame(r, 0); err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, r) }() // whatever the client writes
			_, _ = srv.Write((&packet.Connack{}).AppendVersion(nil, v))
			_, _ = srv.Write(data)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := mqttc.Connect(ctx, cli, mqttc.ConnectOptions{Version: v, ClientID: "fuzz", Inflight: 4})
		if err != nil {
			cli.Close()
			return
		}
		defer c.Close()
		_, _ = c.Publish(&mqttc.Message{Topic: "a", QoS: 1})
		_, _ = c.Publish(&mqttc.Message{Topic: "a", QoS: 2})
		_ = c.Flush()
		for {
			select {
			case m := <-c.Messages():
				_ = m.Ack()
			case <-c.Acks():
			case <-c.Done():
				return
			case <-time.After(5 * time.Second):
				t.Fatal("the connection neither ended nor went on")
			}
		}
	})
}
