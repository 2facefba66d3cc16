package upstream

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/config"
)

// ProtocolVersions are the values of [upstream] protocol_version.
var ProtocolVersions = []int{int(packet.Version311), int(packet.Version5)}

// maxInterval is the longest Session or Message Expiry Interval: a four
// byte integer of seconds (sections 3.1.2.11.2 and 3.3.2.3.3).
const maxInterval = math.MaxUint32 * time.Second

// timestampLayout is how a forwarded message's time travels as a user
// property: RFC 3339 in UTC with milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// checkVersion reports a protocol version other than 3.1.1 and 5.0, and
// the MQTT 5.0 keys of [upstream] set with 3.1.1, and returns whether the
// uplink speaks MQTT 5.0.
func (c Config) checkVersion(r config.Reporter) (v5 bool) {
	switch c.ProtocolVersion {
	case 0, int(packet.Version311):
	case int(packet.Version5):
		v5 = true
	default:
		r.Problem("protocol_version", "%d: want 4 (MQTT 3.1.1, the default) or 5 (MQTT 5.0)", c.ProtocolVersion)
		return true // judge the MQTT 5.0 keys by nothing but their values
	}
	switch {
	case !v5 && c.SessionExpiry != 0:
		r.Problem("session_expiry", "%s", needsV5("Session Expiry Interval"))
	case c.SessionExpiry < 0 || c.SessionExpiry > maxInterval:
		r.Problem("session_expiry", "%s: want a positive duration of at most %s (a 32-bit number of seconds)", c.SessionExpiry, maxInterval)
	}
	switch {
	case !v5 && c.TopicAliases != 0: // 0 says what 3.1.1 does anyway
		r.Problem("topic_aliases", "%s", needsV5("Topic Aliases"))
	case c.TopicAliases < 0 || c.TopicAliases > math.MaxUint16:
		// A Topic Alias is a two-byte integer, 0 not allowed [MQTT-3.3.2-8].
		r.Problem("topic_aliases", "%d: want 0 (none) to 65535", c.TopicAliases)
	}
	return v5
}

// needsV5 says that a key names what MQTT 3.1.1 does not have.
func needsV5(what string) string {
	return "needs protocol_version = 5 (MQTT 3.1.1 has no " + what + ")"
}

// checkProps reports forward rule f's MQTT 5.0 keys: set with 3.1.1 (v5
// false), or values MQTT 5.0 cannot carry.
func (f ForwardRule) checkProps(r config.Reporter, v5 bool) {
	switch {
	case !v5 && f.MessageExpiry != 0:
		r.Problem("message_expiry", "%s", needsV5("Message Expiry Interval"))
	case f.MessageExpiry < 0 || f.MessageExpiry > maxInterval:
		r.Problem("message_expiry", "%s: want a positive duration of at most %s (a 32-bit number of seconds)", f.MessageExpiry, maxInterval)
	}
	if !v5 {
		if len(f.UserProperties) > 0 {
			r.Problem("user_properties", "%s", needsV5("user properties"))
		}
		if f.TimestampProperty != "" {
			r.Problem("timestamp_property", "%s", needsV5("user properties, which carry the timestamp"))
		}
		return
	}
	for _, u := range f.UserProperties {
		checkString(r, "user_properties", u.Key, "name")
		// The value's problem is the property's: its own line when the
		// rule's user_properties is a table of its own.
		checkString(r, "user_properties."+u.Key, u.Value, "value")
		if f.TimestampProperty != "" && u.Key == f.TimestampProperty {
			r.Problem("user_properties", "%q is the timestamp_property: rename one of them (or set timestamp_property = \"\")", u.Key)
		}
	}
	checkString(r, "timestamp_property", f.TimestampProperty, "name")
}

// checkString reports a user property name or value (what) that is not an
// MQTT UTF-8 string, saying what is wrong and where: at most 65535 bytes
// (its length is a two-byte integer, section 1.5.4), well-formed UTF-8
// [MQTT-1.5.4-1], without U+0000 [MQTT-1.5.4-2].
func checkString(r config.Reporter, key, s, what string) {
	if len(s) > 65535 {
		r.Problem(key, "%s: %d bytes: want at most 65535", what, len(s))
		return
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		r.Problem(key, "%s %q: has U+0000 (NUL) at byte %d; MQTT 5.0 strings may not [MQTT-1.5.4-2]", what, s, i)
		return
	}
	for i, c := range s {
		if c == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				r.Problem(key, "%s %q: not valid UTF-8 at byte %d; MQTT 5.0 strings must be [MQTT-1.5.4-1]", what, s, i)
				return
			}
		}
	}
}

// session returns the session an uplink asks for: Clean Start (3.1.1's
// Clean Session) and, with MQTT 5.0, the Session Expiry Interval in
// seconds. Without subscribe rules nothing needs to outlive a connection:
// a clean session that ends with it (expiry 0). With them, the session
// keeps what arrives for them while the uplink is down: with 3.1.1 for
// ever, with 5.0 for SessionExpiry (rounded up to whole seconds).
func (c Config) session() (cleanStart bool, expiry uint32) {
	if len(c.Subscribe) == 0 {
		return true, 0
	}
	if c.ProtocolVersion != int(packet.Version5) {
		return false, 0
	}
	d := c.SessionExpiry
	if d == 0 {
		d = DefaultSessionExpiry
	}
	return false, seconds(d)
}

// seconds returns d in whole seconds, rounded up, capped at a 32-bit
// number.
func seconds(d time.Duration) uint32 {
	s := (d + time.Second - 1) / time.Second
	return uint32(min(max(s, 0), math.MaxUint32))
}

// publishProps returns the MQTT 5.0 properties of the PUBLISH that forwards
// m by rule r at time now, or nil when r sets none, and whether m has
// expired: it is MessageExpiry old or older, and must not be sent.
//
// The Message Expiry Interval counts from the message's own Time (the
// reading's), not from when it is sent, so that a reading buffered during
// an outage reaches late cloud consumers only while it is still fresh. It
// is the remaining lifetime rounded up to whole seconds, so a message that
// has not expired never carries 0 (which is still a valid interval, but
// rounding down would shorten every lifetime). A zero Time, or one in the
// future, counts as age 0. User properties are r's, in their order, then
// the timestamp; names may repeat [MQTT-3.3.2-18].
func (r ForwardRule) publishProps(m gateway.Message, now time.Time) (p *packet.Properties, expired bool) {
	var age time.Duration
	if !m.Time.IsZero() {
		age = max(now.Sub(m.Time), 0)
	}
	if r.MessageExpiry > 0 && age >= r.MessageExpiry {
		return nil, true
	}
	ts := r.TimestampProperty != "" && !m.Time.IsZero()
	if r.MessageExpiry <= 0 && len(r.UserProperties) == 0 && !ts {
		return nil, false
	}
	p = &packet.Properties{}
	if r.MessageExpiry > 0 {
		p.MessageExpiry = new(seconds(r.MessageExpiry - age))
	}
	if len(r.UserProperties) > 0 || ts {
		p.User = make([]packet.UserProperty, len(r.UserProperties), len(r.UserProperties)+1)
		copy(p.User, r.UserProperties)
		if ts {
			p.User = append(p.User, packet.UserProperty{Key: r.TimestampProperty, Value: m.Time.UTC().Format(timestampLayout)})
		}
	}
	return p, false
}
