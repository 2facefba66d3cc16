package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway/broker/packet"
)

// loadClient is what a load run needs of an MQTT client: paho (3.1.1), or
// rawClient for the same traffic at MQTT 5.0 and 3.1.1 from one client
// implementation, so that the two protocol versions are compared without a
// difference of client library.
type loadClient interface {
	// Subscribe subscribes filter and calls fn with every message's payload
	// (on one goroutine).
	Subscribe(filter string, qos byte, fn func(payload []byte)) error
	// Publish sends a message; wait returns once it is acknowledged (QoS
	// 1/2; at once for QoS 0).
	Publish(topic string, qos byte, payload []byte) (wait func() error)
	Close()
}

// dial connects to url: tcp://host:port with paho at MQTT 3.1.1,
// mqtt5://host:port and mqtt311://host:port with rawClient.
func dial(url, id string) (loadClient, error) {
	for scheme, v := range map[string]byte{"mqtt5://": packet.Version5, "mqtt311://": packet.Version311} {
		if addr, ok := strings.CutPrefix(url, scheme); ok {
			return dialRaw(addr, id, v)
		}
	}
	c, err := connect(url, id, nil)
	if err != nil {
		return nil, err
	}
	return pahoClient{c}, nil
}

type pahoClient struct{ c mqtt.Client }

func (p pahoClient) Subscribe(filter string, qos byte, fn func([]byte)) error {
	tok := p.c.Subscribe(filter, qos, func(_ mqtt.Client, m mqtt.Message) { fn(m.Payload()) })
	if !tok.WaitTimeout(10 * time.Second) {
		return errors.New("subscribe: timeout")
	}
	return tok.Error()
}

func (p pahoClient) Publish(topic string, qos byte, payload []byte) func() error {
	tok := p.c.Publish(topic, qos, false, payload)
	return func() error { return waitTok(tok) }
}

func (p pahoClient) Close() { p.c.Disconnect(0) }

// rawClient is a minimal MQTT client on broker/packet: QoS 0 and 1 (QoS 2
// publishes wait for PUBCOMP), one reader goroutine, writes under a mutex.
type rawClient struct {
	nc      net.Conn
	version byte
	wmu     sync.Mutex
	bw      *bufio.Writer
	mu      sync.Mutex
	nextID  uint16
	waiting map[uint16]chan error
	onMsg   func([]byte)
	subDone chan struct{}
	props   *packet.Properties // MQTT 5.0 properties of every PUBLISH (-props)
}

func dialRaw(addr, id string, version byte) (*rawClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	c := &rawClient{nc: nc, version: version, bw: bufio.NewWriterSize(nc, 64<<10),
		waiting: map[uint16]chan error{}, subDone: make(chan struct{}, 1)}
	br := bufio.NewReaderSize(nc, 64<<10)
	c.write(&packet.Connect{ProtocolName: "MQTT", ProtocolLevel: version, CleanSession: true, KeepAlive: 60, ClientID: id})
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, body, err := packet.ReadFrame(br, 0)
	if err == nil {
		var p packet.Packet
		p, err = packet.DecodeVersion(version, first, body)
		if ack, ok := p.(*packet.Connack); err == nil && (!ok || ack.ReturnCode != 0 || ack.ReasonCode != 0) {
			err = fmt.Errorf("refused: %+v", p)
		}
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	nc.SetReadDeadline(time.Time{})
	go c.read(br)
	return c, nil
}

func (c *rawClient) write(p packet.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.bw.Write(p.AppendVersion(nil, c.version)) // a failure shows on Flush
	return c.bw.Flush()
}

func (c *rawClient) read(br *bufio.Reader) {
	// As the broker decodes: the PUBLISH packet reused, its message
	// properties (unused here) checked but not decoded, so that a 5.0
	// subscriber does not spend more than a 3.1.1 one on what it ignores.
	var dec packet.Decoder
	for {
		first, body, err := packet.ReadFrame(br, 0)
		if err != nil {
			c.failAll(err)
			return
		}
		p, err := dec.Decode(c.version, first, body)
		if err != nil {
			c.failAll(err)
			return
		}
		switch p := p.(type) {
		case *packet.Publish:
			if c.onMsg != nil {
				c.onMsg(p.Payload)
			}
			switch p.QoS {
			case 1:
				c.write(&packet.Puback{PacketID: p.PacketID})
			case 2:
				c.write(&packet.Pubrec{PacketID: p.PacketID})
			}
		case *packet.Pubrel:
			c.write(&packet.Pubcomp{PacketID: p.PacketID})
		case *packet.Puback:
			c.done(p.PacketID, nil)
		case *packet.Pubrec:
			c.write(&packet.Pubrel{PacketID: p.PacketID})
		case *packet.Pubcomp:
			c.done(p.PacketID, nil)
		case *packet.Suback:
			c.subDone <- struct{}{}
		}
	}
}

func (c *rawClient) done(id uint16, err error) {
	c.mu.Lock()
	ch := c.waiting[id]
	delete(c.waiting, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- err
	}
}

func (c *rawClient) failAll(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range c.waiting {
		ch <- err
		delete(c.waiting, id)
	}
}

func (c *rawClient) Subscribe(filter string, qos byte, fn func([]byte)) error {
	c.onMsg = fn // before the SUBSCRIBE: the reader sees it after
	if err := c.write(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}); err != nil {
		return err
	}
	select {
	case <-c.subDone:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("subscribe: timeout")
	}
}

func (c *rawClient) Publish(topic string, qos byte, payload []byte) func() error {
	p := &packet.Publish{QoS: qos, Topic: topic, Payload: payload, Properties: c.props}
	var ch chan error
	if qos > 0 {
		ch = make(chan error, 1)
		c.mu.Lock()
		for {
			c.nextID++
			if _, used := c.waiting[c.nextID]; c.nextID != 0 && !used {
				break
			}
		}
		p.PacketID = c.nextID
		c.waiting[p.PacketID] = ch
		c.mu.Unlock()
	}
	if err := c.write(p); err != nil {
		return func() error { return err }
	}
	if ch == nil {
		return func() error { return nil }
	}
	return func() error {
		select {
		case err := <-ch:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("publish: no ack within 30s")
		}
	}
}

func (c *rawClient) Close() {
	c.write(&packet.Disconnect{}) // closing anyway
	c.nc.Close()
}
