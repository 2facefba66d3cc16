package upstream

import (
	"errors"
	"fmt"
	"sync"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
)

// DetailStore is what a Queue may also do (package buffer's Buffer does):
// keep the protocol the uplink speaks and the last refusal, so that
// `gateway buffer stats` shows them.
type DetailStore interface {
	// SetUplinkDetail records the protocol ("3.1.1", "5.0") and the last
	// refused PUBLISH or CONNACK ("": none).
	SetUplinkDetail(protocol, lastRefusal string) error
}

// refusedPublish records a PUBLISH of topic the upstream refused with a
// PUBACK or PUBREC reason code of 0x80 or above, and logs it when its code
// differs from the last refusal's (a refusal that repeats for every message
// is logged once).
func (f *Forwarder) refusedPublish(ack string, code packet.Code, reason, topic string) {
	changed := f.ref.publish(ack, code, reason)
	if changed {
		f.log.Warn("upstream refused a publish", "topic", topic, "reason", describe(ack, code, reason))
	} else {
		f.log.Debug("upstream refused a publish", "topic", topic, "reason", describe(ack, code, reason))
	}
	f.storeDetail()
}

// refusedConnect records a CONNACK that refused the connection (the
// forwarder logs the connection error itself).
func (f *Forwarder) refusedConnect(code packet.Code, reason string) {
	f.ref.connack(code, reason)
	f.storeDetail()
}

// storeDetail hands the protocol and the last refusal to the queue, if it
// keeps them.
func (f *Forwarder) storeDetail() {
	ds, ok := f.q.(DetailStore)
	if !ok {
		return
	}
	var s Status
	f.ref.fill(&s)
	if err := ds.SetUplinkDetail(protocolName(f.cfg.ProtocolVersion), s.LastReason); err != nil && !errors.Is(err, gateway.ErrClosed) {
		f.log.Warn("record uplink detail", "err", err)
	}
}

// refusals counts what the upstream broker refused and remembers the last
// refusal, for Status. Safe for concurrent use; the zero value is ready.
type refusals struct {
	mu      sync.Mutex
	refused int64 // PUBLISHes refused with a reason code (MQTT 5.0)
	expired int64 // queued messages dropped unsent: their message expiry passed
	code    packet.Code
	reason  string
}

// publish records a PUBLISH the upstream refused: a PUBACK or PUBREC with
// a reason code of 0x80 or above (section 3.4.2.1, 3.5.2.1); reason is the
// packet's Reason String, if any.
// It reports whether the code differs from the last refusal's.
func (r *refusals) publish(ack string, code packet.Code, reason string) (changed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused++
	changed = r.reason == "" || r.code != code
	r.code, r.reason = code, describe(ack, code, reason)
	return changed
}

// connack records a CONNACK that refused the connection: an MQTT 5.0
// Connect Reason Code, or a 3.1.1 return code turned into one
// (packet.ConnackCode.Reason).
func (r *refusals) connack(code packet.Code, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code, r.reason = code, describe("CONNACK", code, reason)
}

// dropExpired counts n queued messages dropped because their message
// expiry passed before they could be sent.
func (r *refusals) dropExpired(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expired += int64(n)
}

// fill copies the counts and the last refusal into s.
func (r *refusals) fill(s *Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Refused, s.Expired = r.refused, r.expired
	s.LastReasonCode, s.LastReason = byte(r.code), r.reason
}

// describe renders a refusal for people: "PUBACK 0x97 Quota exceeded", with
// the server's Reason String after a colon.
func describe(what string, code packet.Code, reason string) string {
	s := fmt.Sprintf("%s 0x%02X", what, byte(code))
	if name := code.Name(); name != "" {
		s += " " + name
	}
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// protocolName names protocol level v for people: "3.1.1" or "5.0".
func protocolName(v int) string {
	if v == int(packet.Version5) {
		return "5.0"
	}
	return "3.1.1"
}
