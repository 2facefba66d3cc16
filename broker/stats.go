package broker

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

type counters struct {
	connected atomic.Int64 // clients with a live connection
	// connectedBy counts them by protocol level: [3] MQTT 3.1, [4] 3.1.1,
	// [5] 5.0 (section 3.1.2.2).
	connectedBy   [packet.Version5 + 1]atomic.Int64
	connTotal     atomic.Uint64 // connections accepted since start
	msgsIn        atomic.Uint64 // PUBLISH routed (from clients, wills, in-process)
	msgsOut       atomic.Uint64 // PUBLISH sent to clients and in-process subscribers
	bytesIn       atomic.Uint64
	bytesOut      atomic.Uint64
	dropped       atomic.Uint64 // messages dropped at a full session queue
	denied        atomic.Uint64 // publishes dropped by the ACL (write access)
	readDenied    atomic.Uint64 // messages held back from a subscriber by the ACL at delivery (read access), restored queued ones included
	notStored     atomic.Uint64 // QoS 1/2 publishes not acknowledged: the store failed
	originRefused atomic.Uint64 // WebSocket upgrades refused for their Origin
	subPkts       atomic.Uint64 // SUBSCRIBE packets handled (tests wait on it)
	stalled       atomic.Uint64 // connections closed for stall_timeout
	memDropped    atomic.Uint64 // messages dropped at max_memory (also in dropped)
	tooLarge      atomic.Uint64 // messages not sent: over the client's Maximum Packet Size
	expired       atomic.Uint64 // messages not sent: their Message Expiry Interval passed while queued
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	ClientsConnected int64         // clients connected now
	ClientsMQTT5     int64         // of which with MQTT 5.0
	ClientsMQTT311   int64         // of which with MQTT 3.1.1
	ClientsMQTT31    int64         // of which with MQTT 3.1
	ConnectionsTotal uint64        // connections accepted since start
	Sessions         int           // sessions, connected or persistent offline
	Subscriptions    int           // subscriptions, in-process ones included
	Retained         int           // retained messages
	MessagesReceived uint64        // messages published into the broker
	MessagesSent     uint64        // messages delivered to subscribers
	BytesReceived    uint64        // bytes read from clients
	BytesSent        uint64        // bytes written to clients
	Dropped          uint64        // messages dropped because a session queue was full
	Denied           uint64        // publishes refused by the ACL (write access)
	NotStored        uint64        // QoS 1/2 publishes not acknowledged because the store failed
	Uptime           time.Duration // since New
	// Stalled counts connections closed because the client stopped reading
	// or, with publishers waiting for its full queue, acknowledging, for
	// stall_timeout.
	Stalled uint64
	// MemoryBytes is the bytes of queued and retained messages now (held
	// under max_memory); MemoryDropped counts the messages dropped at
	// max_memory (also counted in Dropped).
	MemoryBytes   int64
	MemoryDropped uint64
	// TooLarge counts messages not sent to an MQTT 5.0 client because they
	// exceed the Maximum Packet Size it announced.
	TooLarge uint64
	// Expired counts queued messages not sent because their MQTT 5.0
	// Message Expiry Interval passed.
	Expired uint64
	// DeliveriesDenied counts messages held back from a subscriber because
	// the ACL does not let its user read the message's topic, checked at
	// each delivery (session.mayReadLocked): once per subscriber (a shared
	// group counts once, when none of its members may read it), retained
	// messages sent on SUBSCRIBE and messages queued before a restart
	// included. Publishes the ACL refuses are counted apart, in Denied: one
	// publish may be held back from many subscribers.
	DeliveriesDenied uint64
}

// Stats returns the current counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	nsess := len(b.sessions)
	b.mu.Unlock()
	b.subMu.RLock()
	nsubs := b.subs.Len()
	b.subMu.RUnlock()
	b.retMu.RLock()
	nret := len(b.retained)
	b.retMu.RUnlock()
	return Stats{
		ClientsConnected: b.stats.connected.Load(),
		ClientsMQTT5:     b.stats.connectedBy[packet.Version5].Load(),
		ClientsMQTT311:   b.stats.connectedBy[packet.Version311].Load(),
		ClientsMQTT31:    b.stats.connectedBy[packet.Version31].Load(),
		ConnectionsTotal: b.stats.connTotal.Load(),
		Sessions:         nsess,
		Subscriptions:    nsubs,
		Retained:         nret,
		MessagesReceived: b.stats.msgsIn.Load(),
		MessagesSent:     b.stats.msgsOut.Load(),
		BytesReceived:    b.stats.bytesIn.Load(),
		BytesSent:        b.stats.bytesOut.Load(),
		Dropped:          b.stats.dropped.Load(),
		Denied:           b.stats.denied.Load(),
		NotStored:        b.stats.notStored.Load(),
		Uptime:           time.Since(b.start),
		Stalled:          b.stats.stalled.Load(),
		MemoryBytes:      b.memUsed.Load(),
		MemoryDropped:    b.stats.memDropped.Load(),
		TooLarge:         b.stats.tooLarge.Load(),
		Expired:          b.stats.expired.Load(),
		DeliveriesDenied: b.stats.readDenied.Load(),
	}
}

// sysLoop publishes the $SYS topics every SysInterval, as retained
// messages, as Mosquitto does.
func (b *Broker) sysLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.SysInterval)
	defer t.Stop()
	b.publishSys()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			b.publishSys()
		}
	}
}

func (b *Broker) publishSys() {
	st := b.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, kv := range [...][2]string{
		{"$SYS/broker/version", Version},
		{"$SYS/broker/uptime", i(int64(st.Uptime/time.Second)) + " seconds"},
		{"$SYS/broker/clients/connected", i(st.ClientsConnected)},
		// By protocol version (no Mosquitto topic has them): mqtt3 is
		// 3.1.1 and 3.1 together.
		{"$SYS/broker/clients/connected/mqtt5", i(st.ClientsMQTT5)},
		{"$SYS/broker/clients/connected/mqtt311", i(st.ClientsMQTT311)},
		{"$SYS/broker/clients/connected/mqtt31", i(st.ClientsMQTT31)},
		{"$SYS/broker/clients/connected/mqtt3", i(st.ClientsMQTT311 + st.ClientsMQTT31)},
		{"$SYS/broker/clients/total", i(int64(st.Sessions))},
		{"$SYS/broker/messages/received", u(st.MessagesReceived)},
		{"$SYS/broker/messages/sent", u(st.MessagesSent)},
		{"$SYS/broker/messages/dropped", u(st.Dropped)},
		// The ACL's counts (no Mosquitto topic has them): publishes it
		// refused, and messages it held back from a subscriber.
		{"$SYS/broker/publish/messages/denied", u(st.Denied)},
		{"$SYS/broker/deliveries/denied", u(st.DeliveriesDenied)},
		{"$SYS/broker/bytes/received", u(st.BytesReceived)},
		{"$SYS/broker/bytes/sent", u(st.BytesSent)},
		{"$SYS/broker/retained messages/count", i(int64(st.Retained))},
		{"$SYS/broker/subscriptions/count", i(int64(st.Subscriptions))},
	} {
		b.routeSys(&message{topic: kv[0], payload: []byte(kv[1]), retain: true})
	}
}

// routeSys routes a $SYS message without counting it as received.
func (b *Broker) routeSys(m *message) {
	b.route(m)
	b.stats.msgsIn.Add(^uint64(0)) // route counted it; $SYS is not client traffic
}
