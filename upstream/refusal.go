package upstream

import (
	"fmt"
	"sync"

	"github.com/edgegw/gateway/broker/packet"
)

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
func (r *refusals) publish(ack string, code packet.Code, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused++
	r.code, r.reason = code, describe(ack, code, reason)
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
