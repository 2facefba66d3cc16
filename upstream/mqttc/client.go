package mqttc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

// Errors of a Client.
var (
	// ErrWindowFull: Publish would exceed the caller's window (Inflight) or
	// the server's Receive Maximum; read Acks first.
	ErrWindowFull = errors.New("mqttc: window full")
	// ErrClosed: Disconnect or Close ended the connection.
	ErrClosed = errors.New("mqttc: connection closed")
	// ErrNoPingresp: the server did not answer a PINGREQ within the keep-alive.
	ErrNoPingresp = errors.New("no PINGRESP within the keep-alive")
)

// TooLargeError is a publish larger than the server's Maximum Packet Size
// (MQTT 5.0 [MQTT-3.1.2-24]): it can never be sent to this server. Nothing
// was written; the window is unchanged.
type TooLargeError struct {
	Topic     string
	Size, Max int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("publish %s: %d bytes over the server's maximum packet size %d", e.Topic, e.Size, e.Max)
}

// Unwrap yields packet.ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return packet.ErrTooLarge }

// Ack is the completion of one publish.
type Ack struct {
	PacketID uint16 // 0 for QoS 0
	QoS      byte   // the QoS it was sent with
	// ReasonCode is the PUBACK (QoS 1) or PUBREC (QoS 2) reason code of a
	// 5.0 server; 0 otherwise. 0x80 and above: the server refused the
	// message, it was not delivered [MQTT-3.4.2-1].
	ReasonCode   packet.Code
	ReasonString string
}

// Refused reports whether the server refused the message.
func (a Ack) Refused() bool { return a.ReasonCode.IsError() }

// Incoming is a PUBLISH from the server.
type Incoming struct {
	Message
	Dup      bool
	PacketID uint16
	c        *Client
	acked    bool
}

// Ack acknowledges the message: PUBACK for QoS 1, PUBREC for QoS 2 (the
// client answers the server's PUBREL with PUBCOMP); nothing for QoS 0.
// Call it once the message is safe, in the order the messages came
// [MQTT-4.6.0-2]. A second call does nothing.
func (m *Incoming) Ack() error {
	if m.acked || m.QoS == 0 {
		return nil
	}
	m.acked = true
	if m.QoS == 1 {
		return m.c.send(&packet.Puback{PacketID: m.PacketID}, true)
	}
	m.c.mu.Lock()
	m.c.inQoS2[m.PacketID] = true
	m.c.mu.Unlock()
	return m.c.send(&packet.Pubrec{PacketID: m.PacketID}, true)
}

// entry is a publish awaiting its completion.
type entry struct {
	seq  uint64
	rec  bool // QoS 2: PUBREC received, PUBREL sent
	done bool
	ack  Ack
}

// Client is one MQTT connection. See the package documentation for which
// methods may be called concurrently.
type Client struct {
	conn      net.Conn
	r         *bufio.Reader
	version   byte
	info      ConnackInfo
	maxIn     int // our packet size limit
	maxOut    int // the server's (0: none)
	maxQoS12  int // the server's Receive Maximum
	keepAlive time.Duration

	wmu  sync.Mutex // held while encoding into wbuf and writing it out
	wbuf []byte

	mu      sync.Mutex
	seq     uint64   // of the last publish registered
	pending []*entry // publishes in Publish order, from head
	head    int
	pubs    map[uint16]*entry // QoS 1 and 2 publishes by packet id
	waiters map[uint16]chan packet.Packet
	nextID  uint16
	inQoS2  map[uint16]bool // incoming QoS 2 ids PUBREC'd, awaiting PUBREL
	err     error

	// Outgoing Topic Aliases (5.0, section 3.3.2.3.4), the publisher's
	// (under wmu). They belong to this connection [MQTT-3.3.2-7]: a new
	// connection is a new Client that starts with none.
	aliasMax int               // the most: ours and the server's Topic Alias Maximum [MQTT-3.3.2-9]
	aliases  map[string]uint16 // topic -> alias the server has been sent (or is, in wbuf)
	outProps packet.Properties // scratch: the properties of the PUBLISH being encoded
	outAlias uint16

	closing   atomic.Bool  // Disconnect sent
	lastWrite atomic.Int64 // unix nanoseconds
	pingSent  atomic.Int64 // unix nanoseconds of the outstanding PINGREQ; 0: none

	acks chan Ack
	msgs chan *Incoming
	done chan struct{}
	wg   sync.WaitGroup
}

func newClient(conn net.Conn, r *bufio.Reader, o ConnectOptions, info ConnackInfo) *Client {
	c := &Client{conn: conn, r: r, version: o.Version, info: info, maxIn: int(o.MaxPacketSize),
		maxOut: int(info.MaximumPacketSize), maxQoS12: int(info.ReceiveMaximum), keepAlive: info.KeepAlive,
		pubs: map[uint16]*entry{}, waiters: map[uint16]chan packet.Packet{}, inQoS2: map[uint16]bool{},
		acks: make(chan Ack, o.Inflight), msgs: make(chan *Incoming, 256), done: make(chan struct{})}
	if o.Version == packet.Version5 && min(o.TopicAliases, info.TopicAliasMaximum) > 0 {
		c.aliasMax = int(min(o.TopicAliases, info.TopicAliasMaximum))
		c.aliases = make(map[string]uint16, min(c.aliasMax, 64))
	}
	c.lastWrite.Store(time.Now().UnixNano())
	c.wg.Go(c.readLoop)
	if c.keepAlive > 0 {
		c.wg.Go(c.pingLoop)
	}
	return c
}

// Info returns what the server said in its CONNACK.
func (c *Client) Info() ConnackInfo { return c.info }

// Acks delivers one Ack per Publish, in Publish order.
func (c *Client) Acks() <-chan Ack { return c.acks }

// Messages delivers the PUBLISHes of the server in order. Each must be
// acknowledged with its Ack; while the caller does not read, the client
// reads no further packets.
func (c *Client) Messages() <-chan *Incoming { return c.msgs }

// Pending returns how many publishes have not had their Ack read from
// Acks yet.
func (c *Client) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) - c.head + len(c.acks)
}

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (nil while it is up).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail ends the connection with err (the first reason is kept).
func (c *Client) fail(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
		close(c.done)
	}
	c.mu.Unlock()
	if first {
		_ = c.conn.Close()
	}
}

// Close ends the connection without DISCONNECT and waits for the client's
// goroutines.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// Disconnect sends DISCONNECT (5.0: with code, normally 0x00 "normal
// disconnection", which makes the server discard the will [MQTT-3.14.4-3])
// and closes the connection.
func (c *Client) Disconnect(code packet.Code) error {
	c.closing.Store(true) // the server closes its end in answer: no error
	err := c.send(&packet.Disconnect{ReasonCode: code}, true)
	_ = c.Close()
	return err
}

// send encodes p and, with flush, writes everything buffered.
func (c *Client) send(p packet.Packet, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	c.wbuf = p.AppendVersion(c.wbuf, c.version)
	if !flush {
		return nil
	}
	return c.flushLocked()
}

// flushWhenOver is the buffered size at which Publish writes out at once.
const flushWhenOver = 64 << 10

// flushLocked writes wbuf out (c.wmu held) and completes the QoS 0
// publishes in it.
func (c *Client) flushLocked() error {
	if len(c.wbuf) == 0 {
		return c.Err()
	}
	_, err := c.conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	if err != nil {
		err = fmt.Errorf("write: %w", err)
		c.fail(err)
		return err
	}
	c.lastWrite.Store(time.Now().UnixNano())
	c.mu.Lock()
	for i := c.head; i < len(c.pending); i++ {
		if e := c.pending[i]; e.ack.QoS == 0 {
			e.done = true
		}
	}
	c.deliverLocked()
	c.mu.Unlock()
	return nil
}

// Flush writes out the buffered publishes. Call it when the window is full
// or there is nothing more to publish right now.
func (c *Client) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// Publish buffers m and returns its packet id (0 for QoS 0) without waiting
// for anything; Flush writes it out, and its Ack comes on Acks. A QoS above
// the server's Maximum QoS is lowered to it, a retain flag the server does
// not support ([MQTT-3.2.2-14]) is cleared. A message over the server's
// Maximum Packet Size with its topic in full is a *TooLargeError (an alias
// that would make it fit does not count: after a reconnect it goes in full);
// with the window full ErrWindowFull. Only the caller's goroutine publishes.
//
// With ConnectOptions.TopicAliases and a server that allows them (5.0), the
// first topics published get a Topic Alias each, first come first served:
// the first PUBLISH of a topic carries the topic and its alias, later ones
// the alias and an empty topic (section 3.3.2.3.4). Once the aliases are
// all taken, further topics go in full, and no alias is ever moved to
// another topic (see aliasFor). A Topic Alias in m.Properties is not sent:
// the client manages them. m.NoTopicAlias keeps a message out of this.
func (c *Client) Publish(m *Message) (uint16, error) {
	qos := min(m.QoS, c.info.MaximumQoS)
	p := &packet.Publish{QoS: qos, Retain: m.Retain && c.info.RetainAvailable, Topic: m.Topic, Payload: m.Payload}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// Too large or not is judged with the topic in full and no alias, as
	// the message goes on a new connection: whether it can be delivered
	// does not depend on the aliases of this one.
	p.Properties = c.publishProps(m, 0)
	if size := p.SizeVersion(c.version); c.maxOut > 0 && size > c.maxOut {
		return 0, &TooLargeError{Topic: m.Topic, Size: size, Max: c.maxOut}
	}
	var alias uint16
	var known bool
	if !m.NoTopicAlias {
		alias, known = c.aliasFor(m.Topic)
	}
	if alias != 0 {
		p.Properties = c.publishProps(m, alias)
		switch {
		case known:
			p.Topic = ""
		case c.maxOut > 0 && p.SizeVersion(c.version) > c.maxOut:
			// Setting the alias adds its 3 bytes: this one goes without.
			alias = 0
			p.Properties = c.publishProps(m, 0)
		}
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if len(c.pending)-c.head+len(c.acks) >= cap(c.acks) || (qos > 0 && len(c.pubs) >= c.maxQoS12) {
		c.mu.Unlock()
		return 0, ErrWindowFull
	}
	e := &entry{ack: Ack{QoS: qos}}
	if qos > 0 {
		id, ok := c.allocLocked()
		if !ok {
			c.mu.Unlock()
			return 0, ErrWindowFull
		}
		p.PacketID, e.ack.PacketID = id, id
		c.pubs[id] = e
	}
	c.seq++
	e.seq = c.seq
	c.pending = append(c.pending, e)
	c.mu.Unlock()
	c.wbuf = p.AppendVersion(c.wbuf, c.version)
	if alias != 0 && !known {
		// Set once the PUBLISH that sets it is on its way: the packets
		// leave in wbuf's order, so the server has the topic before the
		// first PUBLISH that carries the alias alone.
		c.aliases[m.Topic] = alias
	}
	if len(c.wbuf) >= flushWhenOver {
		return p.PacketID, c.flushLocked()
	}
	return p.PacketID, nil
}

// aliasCost is what a Topic Alias adds to a PUBLISH: the property's
// identifier and its two-byte value (section 3.3.2.3.4).
const aliasCost = 3

// aliasFor returns the Topic Alias to publish topic with (0: none) and
// whether the server knows it already, from an earlier PUBLISH on this
// connection. The caller holds wmu.
//
// The policy is first come first served, with no replacement: the first
// aliasMax topics keep their aliases for the connection's life; the broker
// (broker's aliasOut) and Mosquitto's outgoing aliases do the same. A
// gateway publishes the same points in turn, poll after poll: replacing
// (LRU) with more topics than aliases would move every alias before its
// reuse and send each topic in full plus 3 bytes, while fixed aliases keep
// saving on the first topics. A topic of aliasCost bytes or less gains
// nothing from an alias and takes none.
func (c *Client) aliasFor(topic string) (alias uint16, known bool) {
	if c.aliasMax == 0 {
		return 0, false
	}
	if a, ok := c.aliases[topic]; ok {
		return a, true
	}
	if len(c.aliases) >= c.aliasMax || len(topic) <= aliasCost {
		return 0, false
	}
	return uint16(len(c.aliases) + 1), false // 1..aliasMax, never 0 [MQTT-3.3.2-8]
}

// publishProps returns the properties to publish m with: its own, with
// the Topic Alias alias (0: none) instead of any m carries. A changed set
// is the client's scratch space, valid until the next PUBLISH is built;
// the caller holds wmu.
func (c *Client) publishProps(m *Message, alias uint16) *packet.Properties {
	if alias == 0 && (m.Properties == nil || m.Properties.TopicAlias == nil) {
		return m.Properties
	}
	c.outProps = packet.Properties{}
	if m.Properties != nil {
		c.outProps = *m.Properties
	}
	c.outProps.TopicAlias = nil
	if alias != 0 {
		c.outAlias = alias
		c.outProps.TopicAlias = &c.outAlias
	}
	return &c.outProps
}

// allocLocked returns a packet id no publish, SUBSCRIBE or UNSUBSCRIBE in
// flight uses [MQTT-2.2.1-3].
func (c *Client) allocLocked() (uint16, bool) {
	for range 65535 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if c.pubs[c.nextID] == nil && c.waiters[c.nextID] == nil {
			return c.nextID, true
		}
	}
	return 0, false
}

// deliverLocked hands the completed publishes at the head to Acks, in order.
// Never blocks: Publish keeps pending plus Acks within its capacity.
func (c *Client) deliverLocked() {
	for c.head < len(c.pending) && c.pending[c.head].done {
		c.acks <- c.pending[c.head].ack
		c.pending[c.head] = nil
		c.head++
	}
	if c.head == len(c.pending) {
		c.pending, c.head = c.pending[:0], 0
	} else if c.head > 1024 && 2*c.head > len(c.pending) {
		n := copy(c.pending, c.pending[c.head:])
		clear(c.pending[n:])
		c.pending, c.head = c.pending[:n], 0
	}
}

// Subscribe subscribes and returns the SUBACK's codes, one per
// subscription: the granted QoS, or (0x80 and above) a refusal. It waits
// for the SUBACK until ctx is done or the connection ends.
func (c *Client) Subscribe(ctx context.Context, subs ...packet.Subscription) ([]packet.Code, error) {
	return c.SubscribeWith(ctx, nil, subs...)
}

// SubscribeWith is Subscribe with MQTT 5.0 SUBSCRIBE properties (nil:
// none), such as a Subscription Identifier, which the server then puts in
// each PUBLISH these subscriptions match (section 3.8.2.1.2). Send one only
// when the CONNACK said Subscription Identifiers are available
// (ConnackInfo.SubIDAvailable): to a server that does not support them it
// is a Protocol Error (section 3.2.2.3.12). A 3.1.1 connection leaves props
// out.
func (c *Client) SubscribeWith(ctx context.Context, props *packet.Properties, subs ...packet.Subscription) ([]packet.Code, error) {
	if c.version != packet.Version5 {
		props = nil
	}
	p, err := c.request(ctx, func(id uint16) packet.Packet {
		return &packet.Subscribe{PacketID: id, Subscriptions: subs, Properties: props}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	sa, ok := p.(*packet.Suback)
	if !ok || len(sa.ReturnCodes) != len(subs) {
		err := fmt.Errorf("subscribe: SUBACK with %d codes for %d filters: %w", len(sa.ReturnCodes), len(subs), packet.ErrProtocol)
		c.fail(err)
		return nil, err
	}
	codes := make([]packet.Code, len(sa.ReturnCodes))
	for i, b := range sa.ReturnCodes {
		codes[i] = packet.Code(b)
	}
	return codes, nil
}

// Unsubscribe unsubscribes the filters and returns the UNSUBACK's reason
// codes (5.0; nil for 3.1.1, whose UNSUBACK has none).
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) ([]packet.Code, error) {
	p, err := c.request(ctx, func(id uint16) packet.Packet { return &packet.Unsubscribe{PacketID: id, Filters: filters} })
	if err != nil {
		return nil, fmt.Errorf("unsubscribe: %w", err)
	}
	return p.(*packet.Unsuback).ReasonCodes, nil
}

// request sends the packet make builds with a fresh packet id and waits for
// the answer with the same id.
func (c *Client) request(ctx context.Context, build func(uint16) packet.Packet) (packet.Packet, error) {
	ch := make(chan packet.Packet, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	id, ok := c.allocLocked()
	if !ok {
		c.mu.Unlock()
		return nil, errors.New("no free packet id")
	}
	c.waiters[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, id)
		c.mu.Unlock()
	}()
	if err := c.send(build(id), true); err != nil {
		return nil, err
	}
	select {
	case p := <-ch:
		return p, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-c.done:
		return nil, c.Err()
	}
}

// readLoop reads and handles the server's packets until the connection ends.
func (c *Client) readLoop() {
	for {
		first, body, err := packet.ReadFrame(c.r, c.maxIn)
		if err != nil {
			if c.closing.Load() {
				c.fail(ErrClosed)
				return
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by the server")
			}
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		t := packet.Type(first >> 4)
		p, err := packet.DecodeVersion(c.version, first, body)
		if err != nil {
			c.fail(fmt.Errorf("decode %s from the server: %w", t, err))
			return
		}
		if err := c.handle(p); err != nil {
			c.fail(fmt.Errorf("%s from the server: %w", t, err))
			return
		}
	}
}

// handle handles one packet from the server.
func (c *Client) handle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Puback:
		return c.complete(p.PacketID, 1, p.ReasonCode, p.Properties)
	case *packet.Pubrec:
		c.mu.Lock()
		e := c.pubs[p.PacketID]
		if e == nil || e.ack.QoS != 2 || e.rec {
			c.mu.Unlock()
			return fmt.Errorf("packet id %d: no QoS 2 publish awaits PUBREC: %w", p.PacketID, packet.ErrProtocol)
		}
		c.mu.Unlock()
		if p.ReasonCode.IsError() { // refused: no PUBREL, the id is free (MQTT 5.0 section 4.3.3)
			return c.complete(p.PacketID, 2, p.ReasonCode, p.Properties)
		}
		c.mu.Lock()
		e.rec = true
		c.mu.Unlock()
		return c.send(&packet.Pubrel{PacketID: p.PacketID}, true)
	case *packet.Pubcomp:
		c.mu.Lock()
		e := c.pubs[p.PacketID]
		rec := e != nil && e.rec
		c.mu.Unlock()
		if !rec {
			return fmt.Errorf("packet id %d: no PUBREL awaits PUBCOMP: %w", p.PacketID, packet.ErrProtocol)
		}
		return c.complete(p.PacketID, 2, 0, nil)
	case *packet.Publish:
		return c.incoming(p)
	case *packet.Pubrel:
		// [MQTT-4.3.3-11] answer PUBREL with PUBCOMP, also for an id we do
		// not know (a PUBREL of an earlier connection of the session).
		c.mu.Lock()
		delete(c.inQoS2, p.PacketID)
		c.mu.Unlock()
		return c.send(&packet.Pubcomp{PacketID: p.PacketID}, true)
	case *packet.Suback, *packet.Unsuback:
		var id uint16
		if s, ok := p.(*packet.Suback); ok {
			id = s.PacketID
		} else {
			id = p.(*packet.Unsuback).PacketID
		}
		c.mu.Lock()
		ch := c.waiters[id]
		delete(c.waiters, id)
		c.mu.Unlock()
		if ch == nil {
			return fmt.Errorf("packet id %d: no request awaits it: %w", id, packet.ErrProtocol)
		}
		ch <- p
		return nil
	case *packet.Pingresp:
		c.pingSent.Store(0)
		return nil
	case *packet.Disconnect:
		e := &DisconnectError{ReasonCode: p.ReasonCode}
		if p.Properties != nil {
			e.ReasonString, e.ServerReference = p.Properties.ReasonString, p.Properties.ServerReference
		}
		return e
	}
	return fmt.Errorf("not expected from a server: %w", packet.ErrProtocol)
}

// complete records the acknowledgement of publish id (qos 1 or 2).
func (c *Client) complete(id uint16, qos byte, code packet.Code, props *packet.Properties) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.pubs[id]
	if e == nil || e.ack.QoS != qos {
		return fmt.Errorf("packet id %d: no QoS %d publish awaits it: %w", id, qos, packet.ErrProtocol)
	}
	delete(c.pubs, id)
	e.done = true
	e.ack.ReasonCode = code
	if props != nil {
		e.ack.ReasonString = props.ReasonString
	}
	c.deliverLocked()
	return nil
}

// incoming hands a PUBLISH of the server to Messages.
func (c *Client) incoming(p *packet.Publish) error {
	if p.Properties != nil && p.Properties.TopicAlias != nil {
		// We send no Topic Alias Maximum: 0, the server may send no alias [MQTT-3.3.2-11].
		return fmt.Errorf("topic alias %d: none allowed: %w", *p.Properties.TopicAlias, packet.ErrTopicAliasInvalid)
	}
	if p.QoS == 2 {
		c.mu.Lock()
		seen := c.inQoS2[p.PacketID]
		c.mu.Unlock()
		if seen { // a resend of a message we already have [MQTT-4.3.3-10]
			return c.send(&packet.Pubrec{PacketID: p.PacketID}, true)
		}
	}
	m := &Incoming{Message: Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain,
		Properties: p.Properties}, Dup: p.Dup, PacketID: p.PacketID, c: c}
	select {
	case c.msgs <- m:
	case <-c.done:
	}
	return nil
}

// pingLoop sends PINGREQ when nothing was written for half the keep-alive
// ([MQTT-3.1.2-23] asks for a packet within it), and ends the connection
// when a PINGREQ stays unanswered for the keep-alive.
func (c *Client) pingLoop() {
	every := max(c.keepAlive/4, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		now := time.Now()
		if sent := c.pingSent.Load(); sent != 0 {
			if now.Sub(time.Unix(0, sent)) >= c.keepAlive {
				c.fail(fmt.Errorf("%w (%s)", ErrNoPingresp, c.keepAlive))
				return
			}
			continue
		}
		if now.Sub(time.Unix(0, c.lastWrite.Load())) >= c.keepAlive/2 {
			c.pingSent.Store(now.UnixNano())
			if err := c.send(&packet.Pingreq{}, true); err != nil {
				return
			}
		}
	}
}
