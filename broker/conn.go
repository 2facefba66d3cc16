package broker

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/topic"
)

// connectTimeout bounds the wait for the CONNECT packet of a new connection.
const connectTimeout = 10 * time.Second

// maxConnectSize bounds the first packet of a connection: before CONNECT
// is authenticated, a client gets no more memory than this (a CONNECT with
// a will and credentials fits easily; max_packet_size applies after it).
const maxConnectSize = 64 << 10

// readBufferSize is the read buffer of a connection: small, as idle
// connections must stay cheap, yet holding a dozen small PUBLISH packets.
const readBufferSize = 1024

// busyReadBufferSize is the read buffer of a connection whose client
// publishes in bursts (see growReader).
const busyReadBufferSize = 16 << 10

// writeLimit is the size of the batches the writer sends in one write.
const writeLimit = 64 << 10

// Bounds of what one connection may leave waiting; beyond either, the
// broker stops reading from the connection until the writer or the held
// acknowledgements catch up.
const (
	// maxHeldAcks bounds the acknowledgements held for one publisher (for
	// the publish hook, or while a subscriber's queue is full): far more
	// than clients keep in flight (paho's windows, mosquitto_pub's 20).
	maxHeldAcks = 1024
	// maxCtrlBytes bounds the control packets (acknowledgements,
	// PINGRESP...) queued for a client whose socket is full.
	maxCtrlBytes = 64 << 10
)

// errTakenOver closes a connection whose client id connected again.
var errTakenOver = errors.New("session taken over")

// errWrite wraps the error of a failed write to the client.
var errWrite = errors.New("write")

// errDisconnectWill ends a connection whose MQTT 5.0 client sent
// DISCONNECT with a reason code other than 0x00: the will is published
// [MQTT-3.1.2-10] (0x04 "Disconnect with Will Message" asks for it).
var errDisconnectWill = errors.New("client disconnected with a reason code: will published")

// receiveMaximum is the Receive Maximum the broker announces to MQTT 5.0
// clients (section 3.2.2.3.3): the QoS 1 and 2 PUBLISH packets a client
// may have unacknowledged. It is the bound of issue 11's flow control on
// held acknowledgements, so that a client that keeps to it never makes the
// broker stop reading; one that exceeds it is disconnected with 0x93
// [MQTT-3.3.4-9].
const receiveMaximum = maxHeldAcks

// disconnectTimeout bounds the write of a DISCONNECT the broker sends
// before closing an MQTT 5.0 connection.
const disconnectTimeout = time.Second

// conn is one client network connection. Its reader goroutine handles
// incoming packets; a writer goroutine, started on demand, sends the
// acknowledgements queued in ctrl and the session's messages.
type conn struct {
	b    *Broker
	nc   net.Conn
	br   *bufio.Reader
	log  *slog.Logger
	auth clientAuth // how the listener admits clients

	clientID string
	user     string
	version  byte
	sess     *session
	will     *message
	deadline time.Duration // read deadline from the keep-alive; 0 = none

	// MQTT 5.0 (set by the handshake): sendMax is the in-flight window
	// towards the client, max_inflight within the client's Receive Maximum
	// [MQTT-3.3.4-7]; maxOut the client's Maximum Packet Size (0: none)
	// [MQTT-3.1.2-24]; connExpiry the Session Expiry Interval of CONNECT.
	sendMax    int
	maxOut     int
	connExpiry uint32
	willExpiry uint32 // Message Expiry Interval of the will (seconds; 0 none)
	willDelay  uint32 // Will Delay Interval (seconds; 0 none)
	// aliasesIn are the client's topic aliases (reader goroutine only).
	aliasesIn [topicAliasMaximum + 1]string
	// aliasMaxOut is the client's Topic Alias Maximum; aliasesOut the
	// aliases the broker set on this connection (under the session's mu,
	// see session.appendPublish).
	aliasMaxOut uint16
	aliasesOut  map[string]uint16
	// out is the scratch space of the PUBLISH properties built for this
	// connection (under the session's mu, see publishPacket).
	out *outProps
	// dec decodes the client's PUBLISH packets (reader goroutine only, see
	// decode).
	dec *packet.Decoder
	// readNow is when the buffered packets arrived; zero until clock
	// reads it (reader goroutine only).
	readNow time.Time
	// soft (MQTT 5.0 after CONNACK): closeWith only stops the reader, and
	// finish sends DISCONNECT with the reason code before closing.
	soft atomic.Bool

	// The writer goroutine runs only while there is something to send, so
	// an idle connection costs one goroutine (the reader).
	writing atomic.Bool   // a writer goroutine is running
	pending atomic.Bool   // work arrived since the writer last looked
	done    chan struct{} // closed when the reader ends
	// wakeLater (reader goroutine only): wake the writer before blocking.
	wakeLater bool

	ctrlMu sync.Mutex
	ctrl   []byte // acknowledgements waiting for the writer
	// held (under ctrlMu) are the acknowledgements of PUBLISH packets
	// that may not leave yet, in the order the packets arrived: PUBACK and
	// PUBREC leave in that order [MQTT-4.6.0-2] [MQTT-4.6.0-3], so a ready
	// one waits behind a held one.
	held  []*heldAck
	held1 int // QoS 1 entries of held (under ctrlMu), for Receive Maximum
	// room is signalled when the writer took ctrl or held acks left; the
	// reader waits on it while paused (pauseReq).
	room     chan struct{}
	pauseReq bool          // reader goroutine only: ctrl or held is over its bound
	closing  chan struct{} // closed by closeWith

	closeOnce sync.Once
	reason    error // why the connection was closed by the broker

	retained retainedQueue // subscriptions whose retained messages are still to be sent
}

// heldAck is the acknowledgement of a QoS 1 or 2 PUBLISH waiting to be
// sent: until the publish hook stored the message (hook), and while a
// subscriber it was admitted to is over its queue limit (full).
type heldAck struct {
	id   uint16
	qos  byte
	code packet.Code // MQTT 5.0 reason code (0x10 no matching subscribers)
	hook bool        // waiting for the hook's done (under ctrlMu)
	full []*session  // sessions the message went to over their limit (under ctrlMu)
	// followers (under the session's mu, QoS 2 only) are the resends of
	// this packet id that arrived while the hook held it: they are
	// acknowledged, or refused, with it.
	followers []func(error)
}

// blockedOn returns a session the message waits for, or nil. The caller
// holds ctrlMu.
func (e *heldAck) blockedOn() *session {
	for len(e.full) > 0 {
		if s := e.full[0]; s.over.Load() {
			return s
		}
		e.full = e.full[1:]
	}
	return nil
}

func appendAck(buf []byte, id uint16, qos byte, code packet.Code, version byte) []byte {
	if qos == 2 {
		return (&packet.Pubrec{PacketID: id, ReasonCode: code}).AppendVersion(buf, version) // [MQTT-4.3.3-2]
	}
	return (&packet.Puback{PacketID: id, ReasonCode: code}).AppendVersion(buf, version) // [MQTT-4.3.2-2]
}

func (b *Broker) serveConn(nc net.Conn, ca clientAuth) {
	c := &conn{b: b, nc: nc, auth: ca, log: b.log.With("remote", nc.RemoteAddr().String()),
		done: make(chan struct{}), closing: make(chan struct{}), room: make(chan struct{}, 1)}
	if !b.addConn(c) {
		b.log.Warn("connection refused: broker closed or max_connections reached", "remote", nc.RemoteAddr().String())
		nc.Close() // refusing: nothing to report
		return
	}
	defer b.removeConn(c)
	c.br = bufio.NewReaderSize(nc, readBufferSize)
	// The handshake owns the writing side until CONNACK is out: CONNACK is
	// the first packet the server sends [MQTT-3.2.0-1], even when messages
	// for a resumed session are waiting.
	c.writing.Store(true)
	if err := c.handshake(); err != nil {
		c.log.Debug("connect failed", "err", err)
		nc.Close() // the handshake error was logged
		return
	}
	c.writing.Store(false)
	c.wakeWriter() // messages queued for a resumed session
	err := c.readLoop()
	var code packet.Code
	if c.wakeLater && errors.As(err, &code) {
		// The client broke a rule (an MQTT 5.0 client is then told so in
		// DISCONNECT): the acknowledgements of the packets before the bad
		// one, read in the same burst, go out first.
		c.wakeLater = false
		c.writeInline()
	}
	c.finish(err)
}

// shutdown closes the network connection; the reader then ends.
func (c *conn) shutdown() { c.closeWith(errBrokerClosing) }

// errBrokerClosing closes connections on Close. The broker going away is no
// DISCONNECT: their wills are published [MQTT-3.1.2-8].
var errBrokerClosing = errors.New("broker closing")

func (c *conn) closeWith(reason error) {
	c.closeOnce.Do(func() {
		c.reason = reason
		close(c.closing)
		if c.soft.Load() {
			// MQTT 5.0: the reader ends now (it checks closing before each
			// read) and finish sends DISCONNECT before closing.
			c.nc.SetReadDeadline(time.Now()) // a failure shows on the read
			return
		}
		c.nc.Close() // unblocks the reader; errors are irrelevant now
	})
}

// disconnectCode returns the reason code of the DISCONNECT the broker sends
// to an MQTT 5.0 client before closing its connection for reason (section
// 4.13, [MQTT-4.13.2-1]), or 0 for none: not to a client that went away,
// disconnected itself, or stopped reading.
func (c *conn) disconnectCode(reason error) packet.Code {
	var code packet.Code
	switch {
	case c.version != packet.Version5 || reason == nil:
		return 0
	case errors.Is(reason, errWrite), errors.Is(reason, errStalled), errors.Is(reason, errDisconnectWill):
		return 0
	case errors.Is(reason, errTakenOver):
		return packet.ErrSessionTakenOver
	case errors.Is(reason, errBrokerClosing):
		return packet.ErrServerShuttingDown
	case errors.Is(reason, os.ErrDeadlineExceeded):
		return packet.ErrKeepAliveTimeout // [MQTT-3.1.2-22]
	case errors.As(reason, &code) && packet.ValidReason(packet.DISCONNECT, code) && code.IsError():
		return code
	}
	return 0
}

// wakeWriter makes sure a writer goroutine will look at the queues.
func (c *conn) wakeWriter() {
	c.pending.Store(true)
	if c.writing.CompareAndSwap(false, true) {
		go c.writer()
	}
}

// writeInline is wakeWriter for the connection's own reader goroutine: when
// no writer runs, the reader sends its acknowledgements (and what they made
// room for) itself, saving a goroutine hand-off per packet. Only this
// client's connection can block it.
func (c *conn) writeInline() {
	c.pending.Store(true)
	if c.writing.CompareAndSwap(false, true) {
		c.writer()
	}
}

// send queues a control packet for the writer; the reader wakes the writer
// once the packets already buffered are handled, so that a burst of
// acknowledgements leaves in one write. Only the reader goroutine calls it.
func (c *conn) send(p packet.Packet) {
	c.ctrlMu.Lock()
	c.ctrl = p.AppendVersion(c.ctrl, c.version)
	if len(c.ctrl) > maxCtrlBytes {
		c.pauseReq = true
	}
	c.ctrlMu.Unlock()
	c.wakeLater = true
}

// signalRoom wakes a reader paused for room (see pause).
func (c *conn) signalRoom() {
	select {
	case c.room <- struct{}{}:
	default:
	}
}

// pause stops reading from the client while its control packets or held
// acknowledgements are over their bounds: a client that sends without
// reading (16 MB of PINGREQ) or publishes far ahead of a full subscriber
// waits in its own TCP window instead of the broker's memory. The write
// deadline (stall_timeout) bounds the wait for the writer; a stalled
// subscriber is disconnected after stall_timeout, which releases held
// acknowledgements.
func (c *conn) pause() error {
	c.pauseReq = false
	defer c.sess.waitingOn.Store(nil)
	for {
		c.ctrlMu.Lock()
		heldOver, ctrlOver := len(c.held) >= maxHeldAcks, len(c.ctrl) > maxCtrlBytes
		var on *session
		if heldOver && !ctrlOver { // not for a client that does not read: that one is stalled
			on = c.firstBlockedLocked()
		}
		c.ctrlMu.Unlock()
		if !heldOver && !ctrlOver {
			return nil
		}
		c.sess.waitingOn.Store(on) // see session.pausedBehindOther
		c.wakeLater = false
		c.wakeWriter()
		select {
		case <-c.room:
		case <-c.closing:
			return net.ErrClosed
		}
	}
}

// firstBlockedLocked returns the session the first held acknowledgement
// that waits for room waits for, or nil (the first waits for the publish
// hook, or none waits). The caller holds ctrlMu.
func (c *conn) firstBlockedLocked() *session {
	for _, e := range c.held {
		if e.hook {
			return nil
		}
		if s := e.blockedOn(); s != nil {
			return s
		}
	}
	return nil
}

// frameBuffered reports whether a whole packet is waiting in the read
// buffer, so reading it will not block.
func (c *conn) frameBuffered() bool {
	n := c.br.Buffered()
	if n < 2 {
		return false
	}
	hdr, _ := c.br.Peek(min(n, 5)) // within Buffered: cannot fail
	rl, size, err := packet.DecodeVarint(hdr[1:])
	return err == nil && n >= 1+size+rl
}

// writeNow writes p directly (before the writer runs).
func (c *conn) writeNow(p packet.Packet) error {
	buf := p.AppendVersion(nil, c.version)
	c.b.stats.bytesOut.Add(uint64(len(buf)))
	c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.StallTimeout)) // a failure shows on the write
	_, err := c.nc.Write(buf)
	return err
}

// handshake reads CONNECT, checks the client and attaches its session.
// The first packet is decoded at the highest level the broker speaks, MQTT
// 5.0, and the rest of the connection at the CONNECT's level.
func (c *conn) handshake() error {
	c.nc.SetReadDeadline(time.Now().Add(connectTimeout)) // a failure shows on the read
	first, body, err := packet.ReadFrame(c.br, min(c.b.cfg.MaxPacketSize, maxConnectSize))
	if err != nil {
		return fmt.Errorf("read connect: %w", err)
	}
	c.b.stats.bytesIn.Add(uint64(len(body) + 2))
	if packet.Type(first>>4) != packet.CONNECT { // [MQTT-3.1.0-1]
		return fmt.Errorf("first packet %s: not CONNECT", packet.Type(first>>4))
	}
	p, err := packet.DecodeVersion(packet.Version5, first, body)
	if errors.Is(err, packet.ErrUnsupportedVersion) { // [MQTT-3.1.2-2]
		c.writeNow(&packet.Connack{ReturnCode: packet.RefusedProtocolVersion}) // closing anyway
		return err
	}
	var code packet.Code
	if err != nil && errors.As(err, &code) && len(body) > 6 && body[6] == packet.Version5 {
		// [MQTT-4.13.1-1] a malformed MQTT 5.0 CONNECT may be answered
		// with CONNACK and the reason code before closing.
		c.version = packet.Version5
		c.writeNow(&packet.Connack{ReasonCode: code}) // closing anyway
	}
	if err != nil {
		return err
	}
	cp := p.(*packet.Connect)
	c.version = cp.ProtocolLevel
	c.clientID = cp.ClientID
	c.sendMax = c.b.cfg.MaxInflight
	v5 := c.version == packet.Version5
	refuse := func(code packet.Code) error {
		// One decision for both versions: the 3.1.1 return code is
		// Mosquitto's mapping of the reason code (Code.ConnackCode).
		c.writeNow(&packet.Connack{ReasonCode: code, ReturnCode: code.ConnackCode()}) // closing anyway
		return fmt.Errorf("client %q user %q: connect refused: %w", cp.ClientID, cp.Username, code)
	}
	props := cp.Properties
	if props == nil {
		props = &packet.Properties{}
	}
	if props.AuthMethod != "" {
		// Enhanced authentication (section 4.12) is not supported
		// [MQTT-4.12.0-1].
		c.log.Warn("connection refused: authentication method not supported", "method", props.AuthMethod, "client", cp.ClientID)
		return refuse(packet.ErrBadAuthMethod)
	}
	if v5 {
		if err := cp.CheckWillPayloadFormat(); err != nil { // section 3.1.3.2.3
			c.log.Warn("connection refused: will payload is not UTF-8 as its payload format indicator says", "client", cp.ClientID)
			return refuse(packet.ErrPayloadFormatInvalid)
		}
	}
	if code := c.checkClient(cp); code != packet.Accepted {
		return refuse(code.Reason())
	}
	if cp.WillFlag {
		c.will = &message{topic: cp.WillTopic, payload: cp.WillPayload, qos: cp.WillQoS, retain: cp.WillRetain,
			origin: c.clientID}
		if wp := cp.WillProperties; wp != nil {
			// The will's message properties, encoded as a PUBLISH's are
			// kept (see messageExpiry); the expiry is counted from when the
			// will is published.
			c.will.props = wp.AppendMessage(nil)
			if wp.WillDelay != nil {
				c.willDelay = *wp.WillDelay
			}
			if wp.MessageExpiry != nil {
				c.willExpiry = *wp.MessageExpiry
			}
		}
	}
	c.log = c.log.With("client", c.clientID)
	persistent, expiry := !cp.CleanSession, c.b.defaultExpiry()
	ack := &packet.Connack{}
	if v5 {
		ack.Properties = c.connackProperties(cp, props)
		if props.SessionExpiry != nil {
			c.connExpiry = *props.SessionExpiry
		}
		var capped bool
		expiry, capped = c.b.sessionExpiry(c.connExpiry)
		persistent = c.connExpiry > 0 // [MQTT-3.1.2-23]
		if capped {
			ack.Properties.SessionExpiry = new(uint32(max(1, expiry/time.Second)))
		}
		if props.ReceiveMaximum != nil {
			c.sendMax = min(c.sendMax, int(*props.ReceiveMaximum)) // [MQTT-3.3.4-7]
		}
		if props.MaximumPacketSize != nil {
			c.maxOut = int(*props.MaximumPacketSize)
		}
		if props.TopicAliasMaximum != nil && *props.TopicAliasMaximum > 0 {
			c.aliasMaxOut = *props.TopicAliasMaximum
			c.aliasesOut = map[string]uint16{}
		}
	}
	// Before attach: from then on a takeover may close the connection, and
	// closeWith must know to leave it to finish.
	c.soft.Store(v5)
	present := c.b.attach(c, cp.CleanSession, persistent, expiry)
	// [MQTT-3.2.2-1] [MQTT-3.2.2-2] session present only for a resumed session.
	ack.SessionPresent = present
	if err := c.writeNow(ack); err != nil {
		c.b.detach(c)
		return fmt.Errorf("write connack: %w", err)
	}
	c.keepAlive(cp.KeepAlive)
	// A member of shared subscriptions back online: what offline members
	// hold for its groups goes to connected members (see shareGroup.deliver).
	c.b.rebalanceSession(c.sess)
	c.log.Debug("client connected", "user", c.user, "version", c.version, "clean", cp.CleanSession, "keepalive", cp.KeepAlive, "expiry", expiry)
	return nil
}

// connackProperties returns what the broker announces to an MQTT 5.0
// client in CONNACK (section 3.2.2.3): its limits, and which optional
// features it has. Absent properties mean "available" or "no limit".
func (c *conn) connackProperties(cp *packet.Connect, props *packet.Properties) *packet.Properties {
	ap := &packet.Properties{
		ReceiveMaximum:    new(uint16(receiveMaximum)),
		MaximumPacketSize: new(uint32(c.b.cfg.MaxPacketSize)), // section 3.2.2.3.6
		TopicAliasMaximum: new(uint16(topicAliasMaximum)),     // section 3.2.2.3.8
		// Retain, wildcard subscriptions, QoS 2 and Subscription
		// Identifiers and shared subscriptions are available (absent). The
		// broker sends no Reason String or User Property on any packet
		// but PUBLISH, so Request Problem Information 0 needs nothing
		// [MQTT-3.1.2-29], and no Response Information, which it may send
		// when asked (section 3.1.2.11.6) and must not otherwise
		// [MQTT-3.1.2-28]: as Mosquitto 2.0 (see
		// TestV5RequestProblemAndResponseInformation). A Reason String
		// added one day must be left out after Request Problem
		// Information 0.
	}
	if cp.ClientID == "" {
		ap.AssignedClientID = c.clientID // [MQTT-3.2.2-16]
	}
	return ap
}

// checkClient applies the client-id rules and authentication.
func (c *conn) checkClient(cp *packet.Connect) packet.ConnackCode {
	if cp.ClientID == "" {
		// [MQTT-3.1.3-8] a 3.1.1 client without an id must ask for a clean
		// session; MQTT 5.0 has no such rule [MQTT-3.1.3-6] (section 3.1.3.1).
		if cp.ProtocolLevel == packet.Version31 || !cp.CleanSession && cp.ProtocolLevel != packet.Version5 {
			return packet.RefusedIdentifierRejected
		}
		var r [8]byte
		rand.Read(r[:])                                 // never fails (crypto/rand)
		c.clientID = "auto-" + hex.EncodeToString(r[:]) // [MQTT-3.1.3-6]
	}
	if cp.ProtocolLevel == packet.Version31 && len(cp.ClientID) > packet.MaxClientID31 {
		return packet.RefusedIdentifierRejected
	}
	if c.auth.certUser != certUserNone {
		return c.checkCertUser(cp)
	}
	if !cp.UsernameFlag {
		if !c.auth.anonymous {
			return packet.RefusedNotAuthorized
		}
		return packet.Accepted
	}
	if c.b.authn == nil && !c.auth.anonymous {
		// Nothing to check the user name against: on a listener that
		// refuses anonymous clients, a bare name proves nothing.
		c.log.Warn("connection refused: user name given but no password_file to check it", "user", cp.Username, "client", cp.ClientID)
		return packet.RefusedNotAuthorized
	}
	if c.b.authn != nil {
		if err := c.b.authn.Authenticate(cp.Username, cp.Password); err != nil {
			c.log.Warn("authentication failed", "user", cp.Username, "client", cp.ClientID, "err", err)
			if errors.Is(err, auth.ErrBusy) {
				return packet.RefusedServerUnavailable // the client retries later
			}
			return packet.RefusedBadUsernamePassword
		}
	}
	c.user = cp.Username
	return packet.Accepted
}

// checkCertUser takes the user name from the client certificate, on a
// listener with use_identity_as_username or use_subject_as_username: the
// user name and password of CONNECT are ignored (mosquitto.conf(5)). A
// certificate without a Common Name is refused with 0x04 (MQTT 5.0: 0x86
// Bad User Name or Password), as Mosquitto refuses it.
func (c *conn) checkCertUser(cp *packet.Connect) packet.ConnackCode {
	name := certUserName(c.nc, c.auth.certUser)
	if name == "" {
		c.log.Warn("connection refused: the client certificate has no common name to use as the user name", "client", cp.ClientID)
		return packet.RefusedBadUsernamePassword
	}
	if cp.UsernameFlag && cp.Username != name {
		c.log.Debug("user name of CONNECT ignored: the client certificate names the user", "connect_user", cp.Username, "user", name)
	}
	c.user = name
	return packet.Accepted
}

var keepAliveDeadline = func(ka uint16) time.Duration {
	return time.Duration(ka) * 1500 * time.Millisecond // [MQTT-3.1.2-24] 1.5 times the keep-alive
}

func (c *conn) keepAlive(ka uint16) {
	if ka == 0 {
		c.nc.SetReadDeadline(time.Time{}) // a failure shows on the read
		c.deadline = 0
		return
	}
	c.deadline = keepAliveDeadline(ka)
}

// readLoop handles packets until the connection ends. It returns nil after
// DISCONNECT and the reason otherwise.
func (c *conn) readLoop() error {
	b := c.b
	ready := false // a whole packet is in the read buffer: reading it will not wait
	for {
		if !ready {
			// The next read may wait for the client: from here on the
			// keep-alive counts [MQTT-3.1.2-24], and the packets it brings
			// arrive at a new time (clock). While packets are buffered
			// neither changes, which spares a clock read and a deadline
			// update per packet of a burst.
			c.readNow = time.Time{}
			if c.deadline > 0 {
				c.nc.SetReadDeadline(time.Now().Add(c.deadline)) // a failure shows on the read
			}
		}
		select {
		case <-c.closing: // closeWith (MQTT 5.0) may have cut the deadline before the line above
			return net.ErrClosed
		default:
		}
		first, body, err := packet.ReadFrame(c.br, b.cfg.MaxPacketSize)
		if err != nil {
			return err // ErrTooLarge: DISCONNECT 0x95 [MQTT-3.2.2-15]
		}
		b.stats.bytesIn.Add(uint64(1 + len(body) + packet.VarintLen(len(body))))
		p, err := c.decode(first, body)
		if err != nil {
			return err // [MQTT-4.8.0-1] close on a protocol violation; 5.0: DISCONNECT with its code
		}
		switch p := p.(type) {
		case *packet.Publish:
			if err := c.handlePublish(p); err != nil {
				return err
			}
		case *packet.Puback:
			if c.sess.ack(p.PacketID, packet.PUBACK) {
				c.wakeLater = true // room in the in-flight window
			}
		case *packet.Pubrec:
			if p.ReasonCode.IsError() {
				// MQTT 5.0 section 4.3.3: a PUBREC with an error code ends
				// the exchange, no PUBREL follows.
				if c.sess.ack(p.PacketID, packet.PUBCOMP) {
					c.wakeLater = true
				}
				break
			}
			c.sess.ack(p.PacketID, packet.PUBREC)
			c.send(&packet.Pubrel{PacketID: p.PacketID}) // [MQTT-4.3.3-1]
		case *packet.Pubrel:
			c.sess.mu.Lock()
			_, known := c.sess.rx2[p.PacketID]
			delete(c.sess.rx2, p.PacketID) // PUBREC was sent: no longer held
			c.sess.mu.Unlock()
			comp := &packet.Pubcomp{PacketID: p.PacketID} // [MQTT-4.3.3-2]
			if !known {
				comp.ReasonCode = packet.ErrPacketIDNotFound // 5.0 section 3.7.2.1; 3.1.1 leaves it out
			}
			c.send(comp)
		case *packet.Pubcomp:
			if c.sess.ack(p.PacketID, packet.PUBCOMP) {
				c.wakeLater = true
			}
		case *packet.Subscribe:
			if err := c.handleSubscribe(p); err != nil {
				return err
			}
		case *packet.Unsubscribe:
			c.handleUnsubscribe(p)
		case *packet.Pingreq:
			c.send(&packet.Pingresp{}) // [MQTT-3.12.4-1]
		case *packet.Disconnect:
			return c.handleDisconnect(p)
		case *packet.Connect:
			return fmt.Errorf("second CONNECT: %w", packet.ErrProtocol) // [MQTT-3.1.0-2]
		default:
			return fmt.Errorf("unexpected %s from client: %w", p.Type(), packet.ErrProtocol)
		}
		ready = c.frameBuffered()
		if c.wakeLater && !ready {
			c.wakeLater = false
			c.writeInline()
		}
		if c.pauseReq {
			if err := c.pause(); err != nil {
				return err
			}
			ready = false // time passed while paused
		}
	}
}

// clock returns the time the packets being read arrived: the broker's
// clock, read once for the packets that one read from the client brought
// (see readLoop). Only the reader goroutine calls it.
func (c *conn) clock() time.Time {
	if c.readNow.IsZero() {
		c.readNow = c.b.now()
	}
	return c.readNow
}

// decode decodes a packet from the client. A PUBLISH is decoded into the
// connection's packet.Decoder, made at the first one (an idle connection or
// a subscriber needs none), so it is valid until the next packet is read;
// its message properties stay encoded (see messageExpiry).
func (c *conn) decode(first byte, body []byte) (packet.Packet, error) {
	if packet.Type(first>>4) != packet.PUBLISH {
		return packet.DecodeVersion(c.version, first, body)
	}
	if c.dec == nil {
		c.dec = new(packet.Decoder)
	}
	if c.br.Size() < busyReadBufferSize && c.br.Buffered() > 0 {
		c.growReader()
	}
	return c.dec.Decode(c.version, first, body)
}

// growReader gives the connection of a client that sends PUBLISH packets
// back to back (more bytes were waiting behind one) a larger read buffer:
// one read system call then brings busyReadBufferSize bytes instead of
// readBufferSize, which for 100-byte messages is most of the cost of
// reading them. Idle connections and clients that publish now and then
// keep the small buffer. Only the reader goroutine calls it.
func (c *conn) growReader() {
	// The bytes the small buffer holds are read first: its reader is not
	// used again, so they stay as they are.
	rest, _ := c.br.Peek(c.br.Buffered()) // within Buffered: cannot fail
	c.br = bufio.NewReaderSize(&prefixReader{rest: rest, r: c.nc}, busyReadBufferSize)
}

// prefixReader reads rest, then r.
type prefixReader struct {
	rest []byte
	r    io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.rest) > 0 {
		n := copy(b, p.rest)
		p.rest = p.rest[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// handlePublish routes a PUBLISH from the client and acknowledges it. It
// returns an error when the connection must close.
func (c *conn) handlePublish(p *packet.Publish) error {
	b, s := c.b, c.sess
	v5 := c.version == packet.Version5
	if p.Properties != nil && p.Properties.TopicAlias != nil {
		if err := c.resolveAlias(p); err != nil {
			return err
		}
	}
	code := packet.CodeSuccess
	ok := true
	switch {
	case topic.TooDeep(p.Topic):
		if !v5 || p.QoS == 0 {
			return fmt.Errorf("publish: topic of more than %d levels: %w", topic.MaxLevels, packet.ErrTopicNameInvalid)
		}
		code, ok = packet.ErrTopicNameInvalid, false // section 3.4.2.1
	case !c.allowPublish(p.Topic):
		// 3.1.1 acknowledges as if delivered; 5.0 says why not.
		code, ok = packet.ErrNotAuthorized, false
	case v5:
		if err := p.CheckPayloadFormat(); err != nil { // section 3.3.2.3.2
			c.log.Warn("publish refused", "topic", p.Topic, "err", err)
			code, ok = packet.ErrPayloadFormatInvalid, false
		}
	}
	if v5 && p.QoS > 0 {
		if err := c.checkReceiveMaximum(p); err != nil {
			return err
		}
		if ok && c.overQuota(p) {
			code, ok = packet.ErrQuotaExceeded, false
		}
		if code.IsError() {
			// The exchange ends with this acknowledgement: no packet id
			// is kept for a PUBREL (section 4.3.3).
			c.queueAck(nil, p.PacketID, p.QoS, nil, code)
			return nil
		}
	}
	m := &message{topic: p.Topic, payload: p.Payload, qos: p.QoS, retain: p.Retain, origin: c.clientID}
	if v5 {
		// [MQTT-3.3.2-4] ... [MQTT-3.3.2-20] the properties go on unchanged.
		m.props = p.MessageProps
		if p.Properties != nil && p.Properties.MessageExpiry != nil { // none: no clock read
			m.expires = messageExpiry(p.Properties, c.clock())
		}
	}
	// [MQTT-4.3.3-2] method B: a QoS 2 message is delivered on PUBLISH;
	// the same packet id is then ignored until PUBREL.
	seen := false
	var orig *heldAck // QoS 2 resend: the original's ack, while held
	if p.QoS == 2 {
		s.mu.Lock()
		orig, seen = s.rx2[p.PacketID]
		if !seen {
			s.rx2[p.PacketID] = nil
		}
		s.mu.Unlock()
	}
	taken := false // the hook took the message, or a subscription matched
	var e *heldAck // the acknowledgement, when something holds it
	if ok && !seen && b.clientPublish != nil {
		gm := gateway.Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Time: time.Now()}
		done := func(error) {}
		if p.QoS > 0 {
			e = &heldAck{id: p.PacketID, qos: p.QoS, hook: true}
			done = c.ackWhenStored(e, p.Topic)
			if p.QoS == 2 {
				s.mu.Lock()
				s.rx2[p.PacketID] = e // a resend now waits for it
				s.mu.Unlock()
			}
		}
		taken = b.clientPublish(gm, done)
		if !taken && e != nil {
			if p.QoS == 2 {
				s.mu.Lock()
				if s.rx2[p.PacketID] == e {
					s.rx2[p.PacketID] = nil
				}
				s.mu.Unlock()
			}
			e = nil // done is unused
		}
	}
	if seen && orig != nil {
		// A resend of a QoS 2 message whose original the hook still holds:
		// its PUBREC waits for the original to be stored; if storing fails,
		// this connection closes too, without it.
		f := &heldAck{id: p.PacketID, qos: 2, hook: true}
		s.mu.Lock()
		if s.rx2[p.PacketID] == orig {
			orig.followers = append(orig.followers, c.ackWhenStored(f, p.Topic))
			e = f
		}
		s.mu.Unlock()
	}
	var full []*session
	mark := b.store.Mark()
	matched := 0
	if ok && !seen && b.routeFull(m, &full, &matched) && p.QoS > 0 {
		if err := b.store.Flush(mark); err != nil { // acknowledge only what is committed
			c.notStored(p, err)
			return nil
		}
	}
	if ok && !seen && !taken && matched == 0 {
		// As Mosquitto: also when the message was retained.
		code = packet.CodeNoMatchingSubscribers
	}
	if p.QoS > 0 {
		c.queueAck(e, p.PacketID, p.QoS, full, code)
	}
	return nil
}

// overQuota reports whether the QoS 1 or 2 PUBLISH p of an MQTT 5.0
// client must be refused with 0x97 Quota exceeded (section 3.4.2.1)
// because the queued and retained messages are at max_memory: the message
// is not routed to anyone, so the publisher knows it was not taken, as
// Mosquitto refuses a PUBLISH over the client's incoming quota before
// routing it (handle__publish). A resend of a QoS 2 packet id already
// taken is not refused, and neither is an empty retained message, which
// frees memory. The refusal is counted at max_memory (memoryDrop).
//
// A 3.1.1 client has no reason codes: its PUBLISH is routed as before at
// max_memory (see session.deliver: connected QoS 1 and 2 subscribers get
// it and the publisher waits for them, offline sessions and the retained
// store drop it, counted) and acknowledged, as Mosquitto acknowledges a
// 3.1.1 PUBLISH it refused.
func (c *conn) overQuota(p *packet.Publish) bool {
	b := c.b
	if p.Retain && len(p.Payload) == 0 || !b.overMemory(len(p.Topic)+len(p.Payload)) {
		return false
	}
	if p.QoS == 2 {
		c.sess.mu.Lock()
		_, seen := c.sess.rx2[p.PacketID]
		c.sess.mu.Unlock()
		if seen {
			return false
		}
	}
	b.memoryDrop()
	b.stats.dropped.Add(1)
	c.log.Debug("publish refused: quota exceeded at max_memory", "topic", p.Topic, "max_memory", b.cfg.MaxMemory)
	return true
}

// topicAliasMaximum is the Topic Alias Maximum the broker announces to MQTT
// 5.0 clients (section 3.2.2.3.8): Mosquitto's default max_topic_alias.
const topicAliasMaximum = 10

// resolveAlias applies the Topic Alias of a PUBLISH from the client
// (section 3.3.2.3.4): with a topic name it sets the alias, without one it
// stands for the topic name last set. The aliases belong to this network
// connection [MQTT-3.3.2-7]. Only the reader goroutine calls it.
func (c *conn) resolveAlias(p *packet.Publish) error {
	a := *p.Properties.TopicAlias
	if a == 0 || a > topicAliasMaximum { // [MQTT-3.3.2-8] [MQTT-3.3.2-9]
		return fmt.Errorf("publish: topic alias %d not in 1..%d: %w", a, topicAliasMaximum, packet.ErrTopicAliasInvalid)
	}
	if p.Topic != "" {
		c.aliasesIn[a] = p.Topic
		return nil
	}
	t := c.aliasesIn[a]
	if t == "" {
		// Section 3.3.4: an alias not set on this connection is a
		// Protocol Error.
		return fmt.Errorf("publish: topic alias %d not set: %w", a, packet.ErrProtocol)
	}
	p.Topic = t
	return nil
}

// checkReceiveMaximum refuses a QoS 1 or 2 PUBLISH of an MQTT 5.0 client
// that has receiveMaximum of them unacknowledged already [MQTT-3.3.4-9]:
// QoS 1 until its PUBACK leaves, QoS 2 until PUBREL (PUBCOMP follows at
// once). A resend of a QoS 2 packet id already received does not count.
func (c *conn) checkReceiveMaximum(p *packet.Publish) error {
	s := c.sess
	c.ctrlMu.Lock()
	n := c.held1
	c.ctrlMu.Unlock()
	s.mu.Lock()
	_, resend := s.rx2[p.PacketID]
	n += len(s.rx2)
	s.mu.Unlock()
	if p.QoS == 2 && resend || n < receiveMaximum {
		return nil
	}
	return fmt.Errorf("publish: %d QoS 1 and 2 messages unacknowledged, receive maximum %d: %w",
		n, receiveMaximum, packet.ErrReceiveMaximumExceeded)
}

// queueAck sends the acknowledgement of a QoS 1 or 2 PUBLISH, or holds it
// when e (held by the hook) is set, when the message went to sessions over
// their queue limit (full: the publisher must wait for them), or when an
// earlier acknowledgement is held. Only the reader goroutine calls it.
func (c *conn) queueAck(e *heldAck, id uint16, qos byte, full []*session, code packet.Code) {
	c.ctrlMu.Lock()
	if e == nil && len(full) == 0 && len(c.held) == 0 {
		c.ctrl = appendAck(c.ctrl, id, qos, code, c.version)
		c.ctrlMu.Unlock()
		c.wakeLater = true
		return
	}
	if e == nil {
		e = &heldAck{id: id, qos: qos}
	}
	e.code = code
	if qos == 1 {
		c.held1++
	}
	if len(full) > 0 {
		e.full = append([]*session(nil), full...)
	}
	c.held = append(c.held, e)
	if len(c.held) >= maxHeldAcks {
		c.pauseReq = true
	}
	c.ctrlMu.Unlock()
	c.releaseHeld(true)
}

// releaseHeld sends the held acknowledgements that are ready, in order,
// and registers the connection with the session the first waiting one
// needs room in. inline is set on the connection's reader goroutine.
func (c *conn) releaseHeld(inline bool) {
	for {
		var wait *session
		c.ctrlMu.Lock()
		n := 0
		for _, e := range c.held {
			if e.hook {
				break
			}
			if wait = e.blockedOn(); wait != nil {
				break
			}
			c.ctrl = appendAck(c.ctrl, e.id, e.qos, e.code, c.version)
			if e.qos == 1 {
				c.held1--
			}
			n++
		}
		if n > 0 {
			k := copy(c.held, c.held[n:])
			clear(c.held[k:])
			c.held = c.held[:k]
		}
		c.ctrlMu.Unlock()
		if n > 0 {
			if inline {
				c.wakeLater = true
			} else {
				c.wakeWriter()
			}
			c.signalRoom()
		}
		if wait == nil || wait.addWaiter(c) {
			return
		}
		// The session got room meanwhile: look again.
	}
}

// wake is called by a session that has room again (waker).
func (c *conn) wake() { c.releaseHeld(false) }

// notStored closes the connection without acknowledging p, whose message
// the broker's store could not commit (the store logs the failure once):
// the client publishes it again after reconnecting [MQTT-4.4.0-1].
func (c *conn) notStored(p *packet.Publish, err error) {
	if p.QoS == 2 {
		c.sess.mu.Lock()
		delete(c.sess.rx2, p.PacketID) // take the resend again
		c.sess.mu.Unlock()
	}
	c.b.stats.notStored.Add(1)
	c.closeWith(fmt.Errorf("publish %q not stored, not acknowledged: %w", p.Topic, err))
}

// ackWhenStored returns the done function for the publish hook: it
// releases the held acknowledgement e once the hook has stored the message,
// or closes the connection without it when storing failed. It may run on
// any goroutine.
func (c *conn) ackWhenStored(e *heldAck, topic string) func(error) {
	id, qos := e.id, e.qos
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			var followers []func(error)
			if qos == 2 {
				s := c.sess
				s.mu.Lock()
				if o, ok := s.rx2[id]; ok && o == e {
					if err != nil {
						delete(s.rx2, id) // forget the packet id, so that the resend is taken again
					} else {
						s.rx2[id] = nil // stored: a resend is acknowledged at once
					}
				}
				followers, e.followers = e.followers, nil
				s.mu.Unlock()
			}
			defer func() {
				for _, f := range followers {
					f(err)
				}
			}()
			if err != nil {
				c.log.Error("publish not acknowledged: the message could not be stored; closing the connection so the client sends it again",
					"topic", topic, "qos", qos, "err", err)
				c.closeWith(fmt.Errorf("publish %q not stored: %w", topic, err))
				return
			}
			c.ctrlMu.Lock()
			e.hook = false
			c.ctrlMu.Unlock()
			c.releaseHeld(false)
		})
	}
}

// allowPublish applies the ACL; clients may not publish into $SYS.
func (c *conn) allowPublish(t string) bool {
	if isSys(t) || !c.b.allow(c.user, c.clientID, t, auth.Write) {
		c.log.Warn("publish denied", "user", c.user, "topic", t)
		c.b.stats.denied.Add(1)
		return false
	}
	return true
}

// handleDisconnect ends the connection on the client's DISCONNECT. An
// MQTT 5.0 client may set a new Session Expiry Interval, but not turn a
// session that ends with the connection into one that does not
// [MQTT-3.14.2-2]; a reason code other than 0x00 keeps the will
// [MQTT-3.1.2-10] (0x04 asks for it, section 3.14.2.1).
func (c *conn) handleDisconnect(p *packet.Disconnect) error {
	if c.version != packet.Version5 {
		return nil
	}
	if p.Properties != nil && p.Properties.SessionExpiry != nil {
		secs := *p.Properties.SessionExpiry
		if c.connExpiry == 0 && secs != 0 {
			return fmt.Errorf("disconnect: session expiry %d after 0 in CONNECT: %w", secs, packet.ErrProtocol)
		}
		expiry, _ := c.b.sessionExpiry(secs)
		c.sess.mu.Lock()
		if c.sess.conn == c {
			c.sess.setExpiryLocked(expiry)
		}
		c.sess.mu.Unlock()
	}
	if p.ReasonCode != packet.CodeNormalDisconnection {
		c.log.Debug("client disconnected with a reason code", "code", p.ReasonCode)
		return errDisconnectWill
	}
	return nil
}

// subscribeError returns the SUBACK reason code for a refused filter: an
// MQTT 5.0 client learns why (section 3.9.3); 3.1.1 encodes every code of
// 0x80 and above as 0x80 [MQTT-3.9.3-2].
func subscribeError(err error) byte {
	var code packet.Code
	switch {
	case errors.Is(err, ErrNotAuthorized):
		return byte(packet.ErrNotAuthorized)
	case errors.Is(err, errMaxSubscriptions):
		return byte(packet.ErrQuotaExceeded)
	case errors.As(err, &code) && code.IsError():
		return byte(code)
	}
	return byte(packet.ErrTopicFilterInvalid)
}

// errMaxSubscriptions refuses a subscription over max_subscriptions.
var errMaxSubscriptions = errors.New("max_subscriptions reached")

func (c *conn) handleSubscribe(p *packet.Subscribe) error {
	b, s := c.b, c.sess
	var id uint32 // one Subscription Identifier for every filter of the packet (section 3.8.2.1.2)
	if p.Properties != nil && len(p.Properties.SubscriptionIDs) > 0 {
		id = p.Properties.SubscriptionIDs[0]
	}
	codes := make([]byte, len(p.Subscriptions))
	granted := make([]packet.Subscription, 0, len(p.Subscriptions))
	joined := false // a shared subscription
	for i, sub := range p.Subscriptions {
		err := topic.ValidFilter(sub.Filter)
		_, inner, shared, serr := packet.ParseShared(sub.Filter)
		if err == nil && serr != nil {
			err = serr // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
		}
		if err == nil && shared {
			err = topic.ValidFilter(inner)
			if sub.NoLocal { // [MQTT-3.8.3-4]
				return fmt.Errorf("subscribe %q: no local on a shared subscription: %w", sub.Filter, packet.ErrProtocol)
			}
		}
		if err == nil && !b.allow(c.user, c.clientID, inner, auth.Read) {
			err = ErrNotAuthorized
		}
		if err == nil && s.atMaxSubs(sub.Filter) {
			err = fmt.Errorf("%w: %d", errMaxSubscriptions, b.cfg.MaxSubscriptions)
		}
		if err != nil {
			c.log.Warn("subscribe refused", "user", c.user, "filter", sub.Filter, "err", err)
			codes[i] = subscribeError(err) // [MQTT-3.9.3-2] 0x80 in 3.1.1
			continue
		}
		existed := b.subscribe(s, sub.Filter, subOpts{qos: sub.QoS, noLocal: sub.NoLocal, rap: sub.RetainAsPublished, id: id})
		codes[i] = sub.QoS // [MQTT-3.9.3-1] this server grants the requested QoS
		joined = joined || shared
		// Retain Handling: 0 send the retained messages, 1 only for a new
		// subscription, 2 never [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
		// A shared subscription gets no retained messages (section 4.8.2).
		if !shared && (sub.RetainHandling == 0 || sub.RetainHandling == 1 && !existed) {
			granted = append(granted, sub)
		}
	}
	// [MQTT-3.8.4-1] SUBACK with the same packet id, before the retained
	// messages (the writer sends ctrl before the session queue).
	c.send(&packet.Suback{PacketID: p.PacketID, ReturnCodes: codes})
	c.queueRetained(granted, id) // in the background: a wide filter must not hold up this connection
	if joined {
		b.rebalanceSession(s) // offline members' messages for the group come to this one
	}
	b.stats.subPkts.Add(1)
	return nil
}

// subscribe adds or replaces the session's subscription to filter and
// reports whether one existed.
func (b *Broker) subscribe(s *session, filter string, o subOpts) (existed bool) {
	b.subMu.Lock()
	b.addSubLocked(filter, s, o) // [MQTT-3.8.4-3] replaces an identical filter
	b.subMu.Unlock()
	s.mu.Lock()
	gone := s.gone
	if !gone {
		_, existed = s.subs[filter]
		s.subs[filter] = o
	}
	s.mu.Unlock()
	if gone {
		// The session was dropped meanwhile (a clean takeover while the old
		// connection still read a SUBSCRIBE): it must not stay subscribed.
		// Dropping marks gone before collecting the filters, so either it
		// removed this one or it is removed here (lock order: subMu, then
		// the session's mu, as route takes them).
		b.subMu.Lock()
		b.removeSubLocked(filter, s)
		b.subMu.Unlock()
		return false
	}
	if s.persistent && b.store != nil {
		b.store.AddSub(s.id, filter, o.storeByte(), o.id)
	}
	return existed
}

func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) {
	b, s := c.b, c.sess
	codes := make([]packet.Code, len(p.Filters)) // MQTT 5.0 [MQTT-3.11.3-1]
	for i, f := range p.Filters {
		b.subMu.Lock()
		b.removeSubLocked(f, s)
		b.subMu.Unlock()
		s.mu.Lock()
		if _, ok := s.subs[f]; !ok {
			codes[i] = packet.CodeNoSubscriptionExisted
		}
		delete(s.subs, f)
		s.mu.Unlock()
		if s.persistent && b.store != nil {
			b.store.RemoveSub(s.id, f)
		}
	}
	c.send(&packet.Unsuback{PacketID: p.PacketID, ReasonCodes: codes}) // [MQTT-3.10.4-4] [MQTT-3.10.4-5]
}

// writer sends queued acknowledgements and session messages in batches
// until nothing is left, then returns; wakeWriter starts it again. The
// caller has set c.writing.
func (c *conn) writer() {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		select {
		case <-c.done:
			c.writing.Store(false)
			return
		default:
		}
		c.pending.Store(false)
		more, err := c.flush(bp)
		if err != nil {
			c.writing.Store(false)
			c.closeWith(fmt.Errorf("%w: %w", errWrite, err))
			return
		}
		if more || c.pending.Load() {
			continue
		}
		c.writing.Store(false)
		// Work that arrived between the check and the store above would
		// otherwise wait for the next wake.
		if !c.pending.Load() || !c.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeLimit+4096); return &b }}

// flush writes one batch: the acknowledgements, then what the session may
// send now. It reports whether more messages are waiting.
func (c *conn) flush(bp *[]byte) (more bool, err error) {
	s := c.sess
	s.mu.Lock()
	c.ctrlMu.Lock() // lock order: session, then ctrl (see handleSubscribe)
	buf := append((*bp)[:0], c.ctrl...)
	c.ctrl = c.ctrl[:0]
	if cap(c.ctrl) > 4096 {
		c.ctrl = nil
	}
	c.ctrlMu.Unlock()
	var wake map[waker]struct{}
	buf, more, wake = s.fill(c, buf, writeLimit)
	s.mu.Unlock()
	c.signalRoom()
	wakeAll(wake)
	if cap(buf) <= 4*writeLimit {
		*bp = buf[:0] // keep the buffer unless a burst made it huge
	}
	if len(buf) == 0 {
		return more, nil
	}
	// A client that stops reading is closed after stall_timeout.
	c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.StallTimeout)) // a failure shows on the write
	_, err = c.nc.Write(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.b.stats.stalled.Add(1)
		c.log.Warn("disconnecting a client that stopped reading", "stall_timeout", c.b.cfg.StallTimeout)
	}
	return more, err
}

// finish ends the connection: detaches the session and publishes the will
// unless the client sent DISCONNECT [MQTT-3.1.2-8] [MQTT-3.1.2-10], also
// when Close closed the connection. It runs on the connection's goroutine,
// which Close waits for before it closes the store: a retained will lands
// in the retained messages, a QoS 1 or 2 will in persistent sessions'
// stored queues. Routing waits for no client (at most for room in the
// store's write queue), so Close stays bounded.
func (c *conn) finish(err error) {
	close(c.done)
	c.closeWith(err)
	if code := c.disconnectCode(c.reason); code != 0 {
		// MQTT 5.0: say why before closing [MQTT-4.13.2-1]. The writer
		// may be writing: each Write is whole (net.Conn and the WebSocket
		// connection serialise them).
		c.nc.SetWriteDeadline(time.Now().Add(disconnectTimeout))                         // a failure shows on the write
		c.nc.Write((&packet.Disconnect{ReasonCode: code}).AppendVersion(nil, c.version)) // closing anyway
	}
	c.nc.Close() // closeWith may have left it open; errors are irrelevant now
	c.b.detach(c)
	if err == nil {
		c.log.Debug("client disconnected")
		return
	}
	if c.reason != nil && c.reason != err {
		err = c.reason
	}
	level := slog.LevelDebug
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, errTakenOver) &&
		!errors.Is(err, errBrokerClosing) && !errors.Is(err, errDisconnectWill) {
		level = slog.LevelInfo
	}
	c.log.Log(c.b.ctx, level, "client connection lost", "err", err)
	if c.will == nil {
		return
	}
	w := &will{m: c.will, expiry: c.willExpiry, user: c.user, clientID: c.clientID, log: c.log}
	if c.willDelay == 0 {
		c.b.publishWill(w)
		return
	}
	// MQTT 5.0 Will Delay Interval: not sent if the session is resumed
	// in time [MQTT-3.1.3-9], sent when it ends if that is earlier. Also
	// when Close ends the connection: the will of a persistent session
	// waits in the store for the next start (see delayWill).
	s := c.sess
	s.mu.Lock()
	gone, resumed, expiry := s.gone, s.conn != nil, s.expiry
	w.persist = s.persistent
	s.mu.Unlock()
	switch {
	case resumed: // taken over by a new connection to the session
		c.log.Debug("will not sent: the session was resumed within the will delay")
	case gone:
		c.b.publishWill(w)
	default:
		delay := time.Duration(c.willDelay) * time.Second
		w.due = time.Now().Add(delay)
		if expiry != neverExpires {
			delay = min(delay, expiry) // the session ends first
		}
		c.b.delayWill(w, delay)
	}
}
