// Package mqttc is the uplink's own MQTT client: MQTT 3.1.1 (protocol level
// 4) and MQTT 5.0 (level 5) over a connection the caller dials, built on the
// encoder and decoder of broker/packet.
//
// It is small and shaped for the store-and-forward forwarder rather than for
// general use:
//   - publishing is pipelined: Publish encodes into a write buffer and returns
//     at once; Flush writes the buffer out (one write for many publishes);
//     completions come back on Acks in the order of the Publish calls, one per
//     publish, whatever the QoS (QoS 0: once flushed; QoS 1: PUBACK; QoS 2:
//     PUBCOMP). No goroutine or token per message.
//   - the caller bounds its window; the client refuses to exceed it, and the
//     server's Receive Maximum (MQTT 5.0 [MQTT-3.3.4-9]).
//   - incoming PUBLISHes come in order on Messages and are acknowledged only
//     when the caller calls Ack (a command is acknowledged upstream once the
//     local side has it).
//   - it keeps no session state beyond the connection: the caller's durable
//     queue is the one source of truth for what still has to go up. A client
//     never resends a PUBLISH (no DUP): after a reconnect the caller
//     publishes again on the new client, whose Topic Aliases (5.0) start
//     empty, so every topic goes in full once more [MQTT-3.3.2-7].
//
// Concurrency: Publish and Flush are called from one goroutine (the
// publisher); Subscribe, Unsubscribe, Ack and Disconnect may be called from
// any goroutine; Acks and Messages are each read by one goroutine. The client
// runs one reader goroutine and, with a keep-alive, one pinger.
package mqttc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

// Message is a message to publish, or one received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the MQTT 5.0 PUBLISH properties (nil: none); a 3.1.1
	// connection leaves them out.
	Properties *packet.Properties
	// NoTopicAlias publishes the topic in full without a Topic Alias, and
	// sets up none for it: for a topic sent once per connection (a birth
	// message), which an alias would not shorten but would take one of the
	// few the server allows.
	NoTopicAlias bool
}

// ConnectOptions are the fields of the CONNECT packet and the client's limits.
type ConnectOptions struct {
	Version       byte // packet.Version311 (default) or packet.Version5
	ClientID      string
	Username      string // sent when not empty
	Password      []byte // sent when not nil
	KeepAlive     time.Duration
	CleanStart    bool   // Clean Session in 3.1.1
	SessionExpiry uint32 // MQTT 5.0: seconds the server keeps the session after the connection ends
	Will          *Message

	// Inflight is the caller's window: the most publishes (of any QoS)
	// whose completion has not been read from Acks yet. Default 100.
	Inflight int
	// MaxIncoming is what we tell a 5.0 server as our Receive Maximum: the
	// most unacknowledged QoS 1 and 2 messages it sends us. Default 64.
	MaxIncoming uint16
	// MaxPacketSize bounds the packets we accept (5.0: sent as Maximum
	// Packet Size). 0: 16 MiB.
	MaxPacketSize uint32
	// TopicAliases (5.0) is the most Topic Aliases the client sets up on
	// the connection for the topics it publishes to; the server's Topic
	// Alias Maximum bounds it further (section 3.2.2.3.8). 0: none. See
	// Client.Publish.
	TopicAliases uint16
}

// ConnackInfo is what the server said in its CONNACK.
type ConnackInfo struct {
	SessionPresent bool
	ReasonCode     packet.Code // 5.0 reason code; 3.1.1: the return code's counterpart
	ReasonString   string
	// Limits of a 5.0 server (a 3.1.1 server: the defaults of 5.0).
	ReceiveMaximum    uint16 // its window for our QoS 1 and 2 publishes (absent: 65535)
	MaximumPacketSize uint32 // 0: no limit
	TopicAliasMaximum uint16 // the most Topic Aliases we may send (absent: 0, none)
	MaximumQoS        byte   // absent: 2
	RetainAvailable   bool   // absent: true
	SubIDAvailable    bool   // Subscription Identifiers (absent: true; 3.1.1: false)
	AssignedClientID  string // when we sent an empty client id
	// KeepAlive is the keep-alive in force: the server's Server Keep Alive
	// when it sent one [MQTT-3.2.2-21], else ours. 0: none.
	KeepAlive time.Duration
}

// ConnectError is a CONNACK that refused the connection.
type ConnectError struct {
	Version      byte
	ReturnCode   packet.ConnackCode // 3.1.1
	ReasonCode   packet.Code        // 5.0; for 3.1.1 the return code's counterpart
	ReasonString string             // 5.0, optional
}

func (e *ConnectError) Error() string {
	if e.Version != packet.Version5 {
		return fmt.Sprintf("connack: %v (return code %d)", e.ReturnCode, e.ReturnCode)
	}
	s := fmt.Sprintf("connack: connection refused: 0x%02x %s", byte(e.ReasonCode), e.ReasonCode.Name())
	if e.ReasonString != "" {
		s += " (" + e.ReasonString + ")"
	}
	return s
}

// Unwrap yields the reason code, for errors.Is(err, packet.ErrNotAuthorized).
func (e *ConnectError) Unwrap() error { return e.ReasonCode }

// DisconnectError is a DISCONNECT the server sent (5.0).
type DisconnectError struct {
	ReasonCode      packet.Code
	ReasonString    string
	ServerReference string
}

func (e *DisconnectError) Error() string {
	s := fmt.Sprintf("disconnected by the server: 0x%02x %s", byte(e.ReasonCode), e.ReasonCode.Name())
	if e.ReasonString != "" {
		s += " (" + e.ReasonString + ")"
	}
	return s
}

// Unwrap yields the reason code.
func (e *DisconnectError) Unwrap() error { return e.ReasonCode }

// Defaults.
const (
	defaultInflight    = 100
	defaultMaxIncoming = 64
	defaultMaxPacket   = 16 << 20
)

// Connect sends CONNECT on conn and reads the CONNACK; cancelling ctx (or
// its deadline) abandons the attempt. On success the client owns conn; on
// failure the caller closes it. A refusal is a *ConnectError.
func Connect(ctx context.Context, conn net.Conn, o ConnectOptions) (*Client, ConnackInfo, error) {
	if o.Version == 0 {
		o.Version = packet.Version311
	}
	if o.Version != packet.Version311 && o.Version != packet.Version5 {
		return nil, ConnackInfo{}, fmt.Errorf("connect: protocol level %d: want 4 (3.1.1) or 5 (5.0)", o.Version)
	}
	if o.Inflight <= 0 {
		o.Inflight = defaultInflight
	}
	if o.MaxIncoming == 0 {
		o.MaxIncoming = defaultMaxIncoming
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = defaultMaxPacket
	}
	ka := o.KeepAlive.Round(time.Second) / time.Second
	if ka > 65535 {
		return nil, ConnackInfo{}, fmt.Errorf("connect: keep-alive %s over 65535 s", o.KeepAlive)
	}
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolLevel: o.Version, CleanSession: o.CleanStart,
		KeepAlive: uint16(ka), ClientID: o.ClientID,
		UsernameFlag: o.Username != "", Username: o.Username, PasswordFlag: o.Password != nil, Password: o.Password}
	if w := o.Will; w != nil {
		cp.WillFlag, cp.WillTopic, cp.WillPayload, cp.WillQoS, cp.WillRetain = true, w.Topic, w.Payload, w.QoS, w.Retain
		cp.WillProperties = w.Properties
	}
	if o.Version == packet.Version5 {
		props := &packet.Properties{ReceiveMaximum: &o.MaxIncoming, MaximumPacketSize: &o.MaxPacketSize}
		if o.SessionExpiry > 0 {
			props.SessionExpiry = &o.SessionExpiry
		}
		cp.Properties = props
	}

	// The deadline of ctx, and its cancellation, bound the CONNECT round trip.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d) // a failed set shows up as a failed read or write
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (*Client, ConnackInfo, error) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return nil, ConnackInfo{}, err
	}
	if _, err := conn.Write(cp.Append(nil)); err != nil {
		return fail(fmt.Errorf("connect: write CONNECT: %w", err))
	}
	r := bufio.NewReaderSize(conn, 32<<10)
	first, body, err := packet.ReadFrame(r, int(o.MaxPacketSize))
	if err != nil {
		return fail(fmt.Errorf("connect: read CONNACK: %w", err))
	}
	if packet.Type(first>>4) != packet.CONNACK {
		return fail(fmt.Errorf("connect: got %s instead of CONNACK: %w", packet.Type(first>>4), packet.ErrProtocol))
	}
	p, err := packet.DecodeVersion(o.Version, first, body)
	if err != nil {
		return fail(fmt.Errorf("connect: decode CONNACK: %w", err))
	}
	if !stop() {
		return fail(errors.New("connect: abandoned"))
	}
	_ = conn.SetDeadline(time.Time{})
	ca := p.(*packet.Connack)
	info, err := connackInfo(o, ca)
	if err != nil {
		return nil, info, err
	}
	c := newClient(conn, r, o, info)
	return c, info, nil
}

// connackInfo reads a CONNACK; a refusal is a *ConnectError.
func connackInfo(o ConnectOptions, ca *packet.Connack) (ConnackInfo, error) {
	version := o.Version
	info := ConnackInfo{SessionPresent: ca.SessionPresent, ReceiveMaximum: 65535, MaximumQoS: 2, RetainAvailable: true,
		KeepAlive: o.KeepAlive.Round(time.Second)}
	if version != packet.Version5 {
		if ca.ReturnCode != packet.Accepted {
			return info, &ConnectError{Version: version, ReturnCode: ca.ReturnCode, ReasonCode: ca.ReturnCode.Reason()}
		}
		return info, nil
	}
	info.ReasonCode = ca.ReasonCode
	if p := ca.Properties; p != nil {
		info.ReasonString = p.ReasonString
		if p.ReceiveMaximum != nil {
			info.ReceiveMaximum = *p.ReceiveMaximum
		}
		if p.MaximumPacketSize != nil {
			info.MaximumPacketSize = *p.MaximumPacketSize
		}
		if p.TopicAliasMaximum != nil {
			info.TopicAliasMaximum = *p.TopicAliasMaximum
		}
		if p.MaximumQoS != nil {
			info.MaximumQoS = *p.MaximumQoS
		}
		info.SubIDAvailable = p.SubIDAvailable == nil || *p.SubIDAvailable // section 3.2.2.3.12
		if p.RetainAvailable != nil {
			info.RetainAvailable = *p.RetainAvailable
		}
		info.AssignedClientID = p.AssignedClientID
		if p.ServerKeepAlive != nil {
			info.KeepAlive = time.Duration(*p.ServerKeepAlive) * time.Second
		}
	}
	if ca.ReasonCode.IsError() {
		return info, &ConnectError{Version: version, ReturnCode: ca.ReasonCode.ConnackCode(), ReasonCode: ca.ReasonCode,
			ReasonString: info.ReasonString}
	}
	return info, nil
}
