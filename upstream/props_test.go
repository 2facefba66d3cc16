package upstream

import (
	"bytes"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/config"
)

func TestPublishProps(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 30, 0, 0, time.UTC)
	at := func(ago time.Duration) gateway.Message {
		return gateway.Message{Topic: "site/boiler/temp", Time: now.Add(-ago)}
	}
	site := []packet.UserProperty{{Key: "line", Value: "3"}, {Key: "site", Value: "plant-1"}}
	tests := []struct {
		name     string
		rule     ForwardRule
		m        gateway.Message
		expiry   *uint32 // want the Message Expiry Interval
		user     []packet.UserProperty
		nilProps bool
		wantGone bool // expired
	}{
		{name: "nothing set", rule: ForwardRule{}, m: at(time.Hour), nilProps: true},
		{name: "fresh", rule: ForwardRule{MessageExpiry: 10 * time.Minute}, m: at(0), expiry: new(uint32(600))},
		{name: "counted from the reading's time", rule: ForwardRule{MessageExpiry: 10 * time.Minute}, m: at(4 * time.Minute), expiry: new(uint32(360))},
		{name: "rounded up", rule: ForwardRule{MessageExpiry: 10 * time.Minute}, m: at(4*time.Minute + 300*time.Millisecond), expiry: new(uint32(360))},
		{name: "last moment is 1 not 0", rule: ForwardRule{MessageExpiry: 10 * time.Minute}, m: at(10*time.Minute - time.Nanosecond), expiry: new(uint32(1))},
		{name: "expired exactly", rule: ForwardRule{MessageExpiry: 10 * time.Minute}, m: at(10 * time.Minute), wantGone: true},
		{name: "expired long ago", rule: ForwardRule{MessageExpiry: time.Second, UserProperties: site}, m: at(time.Hour), wantGone: true},
		{name: "sub-second expiry", rule: ForwardRule{MessageExpiry: 1500 * time.Millisecond}, m: at(0), expiry: new(uint32(2))},
		{name: "future time counts as age 0", rule: ForwardRule{MessageExpiry: time.Minute}, m: at(-time.Hour), expiry: new(uint32(60))},
		{name: "zero time counts as age 0, no timestamp", rule: ForwardRule{MessageExpiry: time.Minute, TimestampProperty: "ts"},
			m: gateway.Message{Topic: "a"}, expiry: new(uint32(60))},
		{name: "longest expiry", rule: ForwardRule{MessageExpiry: maxInterval}, m: at(0), expiry: new(uint32(math.MaxUint32))},
		{name: "user properties in order", rule: ForwardRule{UserProperties: site}, m: at(time.Hour), user: site},
		{name: "timestamp last, UTC with milliseconds", rule: ForwardRule{UserProperties: site, TimestampProperty: "ts"},
			m:    gateway.Message{Time: time.Date(2026, 12, 2, 13, 30, 0, 123456789, time.FixedZone("CET", 3600))},
			user: append(append([]packet.UserProperty{}, site...), packet.UserProperty{Key: "ts", Value: "2026-12-02T12:30:00.123Z"})},
		{name: "timestamp alone, whole second", rule: ForwardRule{TimestampProperty: "time"}, m: at(0),
			user: []packet.UserProperty{{Key: "time", Value: "2026-12-02T12:30:00.000Z"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, expired := tt.rule.publishProps(tt.m, now)
			if expired != tt.wantGone {
				t.Fatalf("expired = %v, want %v", expired, tt.wantGone)
			}
			if tt.wantGone || tt.nilProps {
				if p != nil {
					t.Errorf("props = %+v, want nil", p)
				}
				return
			}
			if p == nil {
				t.Fatal("props nil")
			}
			if !reflect.DeepEqual(p.MessageExpiry, tt.expiry) {
				t.Errorf("message expiry = %v, want %v", deref(p.MessageExpiry), deref(tt.expiry))
			}
			if !reflect.DeepEqual(p.User, tt.user) {
				t.Errorf("user properties = %q, want %q", p.User, tt.user)
			}
		})
	}
}

func deref(p *uint32) any {
	if p == nil {
		return "none"
	}
	return *p
}

// TestPublishPropsShared: the user properties of one publish are not the
// rule's slice, so the timestamp of one message never shows in another's.
func TestPublishPropsShared(t *testing.T) {
	r := ForwardRule{UserProperties: make([]packet.UserProperty, 1, 4), TimestampProperty: "ts"}
	now := time.Now()
	p1, _ := r.publishProps(gateway.Message{Time: now}, now)
	p2, _ := r.publishProps(gateway.Message{Time: now.Add(time.Second)}, now)
	if p1.User[1] == p2.User[1] {
		t.Errorf("two messages share a timestamp: %v", p1.User[1])
	}
	if len(r.UserProperties) != 1 {
		t.Errorf("rule changed: %v", r.UserProperties)
	}
}

func TestSession(t *testing.T) {
	sub := []SubscribeRule{{Filter: "cmd/#"}}
	tests := []struct {
		name   string
		cfg    Config
		clean  bool
		expiry uint32
	}{
		{"3.1.1 without subscribe rules", Config{}, true, 0},
		{"3.1.1 with subscribe rules: persistent", Config{Subscribe: sub}, false, 0},
		{"5.0 without subscribe rules", Config{ProtocolVersion: 5, SessionExpiry: time.Hour}, true, 0},
		{"5.0 default expiry", Config{ProtocolVersion: 5, Subscribe: sub}, false, 3600},
		{"5.0 rounded up", Config{ProtocolVersion: 5, Subscribe: sub, SessionExpiry: 1500 * time.Millisecond}, false, 2},
		{"5.0 never expires", Config{ProtocolVersion: 5, Subscribe: sub, SessionExpiry: maxInterval}, false, math.MaxUint32},
	}
	for _, tt := range tests {
		clean, expiry := tt.cfg.session()
		if clean != tt.clean || expiry != tt.expiry {
			t.Errorf("%s: session() = %v, %d; want %v, %d", tt.name, clean, expiry, tt.clean, tt.expiry)
		}
	}
}

func TestFromConfigProps(t *testing.T) {
	five, empty := 5, ""
	u := config.Upstream{
		URL: "mqtt://h:1883", ProtocolVersion: &five, SessionExpiry: config.Dur(2 * time.Hour),
		Forward: []config.Forward{
			{Filter: "a/#", MessageExpiry: config.Dur(time.Minute), UserProperties: map[string]string{"z": "1", "a": "2", "m": "3"}},
			{Filter: "b/#", TimestampProperty: &empty},
		},
	}
	c := FromConfig(u)
	if c.ProtocolVersion != 5 || c.SessionExpiry != 2*time.Hour || c.TopicAliases != DefaultTopicAliases {
		t.Errorf("version %d, session expiry %s, topic aliases %d", c.ProtocolVersion, c.SessionExpiry, c.TopicAliases)
	}
	for _, n := range []int{0, 10} { // 0: off
		u.TopicAliases = &n
		if c := FromConfig(u); c.TopicAliases != n {
			t.Errorf("topic_aliases = %d gave %d", n, c.TopicAliases)
		}
	}
	u.TopicAliases = nil
	want := ForwardRule{Filter: "a/#", MessageExpiry: time.Minute, TimestampProperty: DefaultTimestampProperty,
		UserProperties: []packet.UserProperty{{Key: "a", Value: "2"}, {Key: "m", Value: "3"}, {Key: "z", Value: "1"}}}
	if !reflect.DeepEqual(c.Forward[0], want) {
		t.Errorf("rule 0 = %+v, want %+v", c.Forward[0], want)
	}
	if c.Forward[1].TimestampProperty != "" {
		t.Errorf("timestamp_property = \"\" gave %q", c.Forward[1].TimestampProperty)
	}
	// With 3.1.1 nothing MQTT 5.0 is filled in.
	u.ProtocolVersion, u.SessionExpiry, u.Forward = nil, config.Duration{}, []config.Forward{{Filter: "a/#"}}
	if c := FromConfig(u); c.Forward[0].TimestampProperty != "" || c.ProtocolVersion != 0 || c.TopicAliases != 0 {
		t.Errorf("3.1.1: %+v", c)
	}
	if err := FromConfig(u).Validate(); err != nil {
		t.Errorf("3.1.1 defaults: %v", err)
	}
}

func TestValidateV5(t *testing.T) {
	c := Config{URL: "mqtt://h:1883", SessionExpiry: time.Hour, TopicAliases: 10,
		Forward: []ForwardRule{{Filter: "a/#", MessageExpiry: time.Minute, TimestampProperty: "ts",
			UserProperties: []packet.UserProperty{{Key: "k", Value: "v"}}}}}
	err := c.Validate()
	for _, want := range []string{"upstream: session_expiry: needs protocol_version = 5", "topic_aliases: needs protocol_version = 5",
		"forward[0]: message_expiry: needs",
		"forward[0]: user_properties: needs", "forward[0]: timestamp_property: needs"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("3.1.1: got %v, want %q", err, want)
		}
	}
	c.ProtocolVersion = 5
	if err := c.Validate(); err != nil {
		t.Errorf("5.0: %v", err)
	}
	for _, n := range []int{0, 65535} {
		c.TopicAliases = n
		if err := c.Validate(); err != nil {
			t.Errorf("5.0 with topic_aliases %d: %v", n, err)
		}
	}
	c.TopicAliases = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "topic_aliases: -1: want 0 (none) to 65535") {
		t.Errorf("topic_aliases -1: %v", err)
	}
	c.TopicAliases = 0
	// MQTT UTF-8 strings: at most 65535 bytes (section 1.5.4), well-formed
	// [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2]; a value's problem names its
	// property.
	c.Forward[0].UserProperties = []packet.UserProperty{{Key: "big", Value: strings.Repeat("x", 65536)}, {Key: "nul\x00"},
		{Key: "site", Value: "no\x00rth"}, {Key: "room", Value: "k\xffche"}}
	c.Forward[0].TimestampProperty = strings.Repeat("t", 65535) // the longest allowed
	err = c.Validate()
	for _, want := range []string{
		`user_properties.big: value: 65536 bytes: want at most 65535`,
		`user_properties: name "nul\x00": has U+0000 (NUL) at byte 3; MQTT 5.0 strings may not [MQTT-1.5.4-2]`,
		`user_properties.site: value "no\x00rth": has U+0000 (NUL) at byte 2; MQTT 5.0 strings may not [MQTT-1.5.4-2]`,
		`user_properties.room: value "k\xffche": not valid UTF-8 at byte 1; MQTT 5.0 strings must be [MQTT-1.5.4-1]`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("5.0 strings: got %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "timestamp_property") {
		t.Errorf("a 65535-byte timestamp_property refused: %v", err)
	}
	c.Forward[0].UserProperties = nil
	c.ProtocolVersion = 3
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "protocol_version: 3: want 4 (MQTT 3.1.1, the default) or 5 (MQTT 5.0)") {
		t.Errorf("version 3: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	var r refusals
	r.connack(packet.ConnackCode(5).Reason(), "")
	var s Status
	r.fill(&s)
	if s.LastReason != "CONNACK 0x87 Not authorized" || s.LastReasonCode != 0x87 || s.Refused != 0 {
		t.Errorf("after a refused 3.1.1 CONNACK: %+v", s)
	}
	r.publish("PUBACK", packet.ErrQuotaExceeded, "100 per second")
	r.publish("PUBREC", 0xF0, "")
	r.dropExpired(3)
	r.fill(&s)
	if s.LastReason != "PUBREC 0xF0" || s.Refused != 2 || s.Expired != 3 {
		t.Errorf("after refused publishes: %+v", s)
	}
	if got := describe("PUBACK", packet.ErrQuotaExceeded, "100 per second"); got != "PUBACK 0x97 Quota exceeded: 100 per second" {
		t.Errorf("describe = %q", got)
	}
}

// detailQueue is a Queue that keeps the uplink detail (as the buffer does).
type detailQueue struct {
	Queue             // not drained in these tests
	mu                sync.Mutex
	protocol, refusal string
}

func (q *detailQueue) SetUplinkDetail(protocol, refusal string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.protocol, q.refusal = protocol, refusal
	return nil
}

// TestForwarderRefusals: a refused publish is counted, shown in Status,
// handed to the queue for buffer stats, and logged once per reason code.
func TestForwarderRefusals(t *testing.T) {
	q := &detailQueue{}
	var logs bytes.Buffer
	cfg := Config{URL: "mqtt://127.0.0.1:1", ProtocolVersion: 5}
	f, err := New(cfg, q, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if q.protocol != "5.0" || f.Status().Protocol != "5.0" {
		t.Errorf("protocol: queue %q, status %q; want 5.0", q.protocol, f.Status().Protocol)
	}
	for range 3 {
		f.refusedPublish("PUBACK", packet.ErrNotAuthorized, "", "site/a")
	}
	f.refusedPublish("PUBREC", packet.ErrQuotaExceeded, "slow down", "site/b")
	s := f.Status()
	if s.Refused != 4 || s.LastReasonCode != 0x97 || s.LastReason != "PUBREC 0x97 Quota exceeded: slow down" {
		t.Errorf("status: %+v", s)
	}
	if q.refusal != s.LastReason {
		t.Errorf("queue's last refusal %q, want %q", q.refusal, s.LastReason)
	}
	if n := strings.Count(logs.String(), "upstream refused a publish"); n != 2 {
		t.Errorf("logged %d times, want 2 (once per reason code):\n%s", n, logs.String())
	}
	f.refusedConnect(packet.ErrBadUsernameOrPassword, "")
	if s := f.Status(); s.LastReason != "CONNACK 0x86 Bad User Name or Password" || s.Refused != 4 || q.refusal != s.LastReason {
		t.Errorf("after a refused CONNACK: %+v, queue %q", s, q.refusal)
	}
}
