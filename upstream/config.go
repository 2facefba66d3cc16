package upstream

import (
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/topic"
)

// Config configures the forwarder. Field names follow the [upstream] TOML keys.
type Config struct {
	URL          string // mqtt://host:1883 or mqtts://host:8883
	ClientID     string
	Username     string
	Password     gateway.Secret
	PasswordFile string // read at New; trailing newline stripped; exclusive with Password
	CAFile       string // PEM CA bundle for mqtts (default: the system roots)
	CertFile     string // PEM client certificate for mutual TLS
	KeyFile      string // PEM key of CertFile
	KeepAlive    time.Duration
	Inflight     int     // window of unacknowledged publishes
	MaxRate      float64 // messages per second; 0: as fast as the upstream acknowledges

	// ProtocolVersion is the MQTT protocol level spoken upstream:
	// packet.Version311 (4, MQTT 3.1.1, the default; 0 means it) or
	// packet.Version5 (5, MQTT 5.0).
	ProtocolVersion int
	// SessionExpiry (MQTT 5.0 only) is the Session Expiry Interval of the
	// session that holds the subscribe rules' messages while the uplink is
	// down: with subscribe rules the forwarder connects with Clean Start 0
	// and this interval instead of 3.1.1's endless persistent session. 0:
	// DefaultSessionExpiry. Rounded up to whole seconds.
	SessionExpiry time.Duration
	// TopicAliases (MQTT 5.0 only) is the most Topic Aliases the uplink
	// sets up on a connection for the topics it publishes to, bounded
	// further by the server's Topic Alias Maximum (section 3.2.2.3.8); the
	// first topics sent take them, first come first served (see
	// mqttc.Client.Publish). 0: none. FromConfig makes it
	// DefaultTopicAliases with protocol_version = 5 when the file does not
	// set it.
	TopicAliases int

	Forward   []ForwardRule   // [[upstream.forward]]; none: nothing is forwarded
	Subscribe []SubscribeRule // [[upstream.subscribe]]

	ReconnectMin time.Duration // first reconnect wait (doubles up to ReconnectMax, with jitter)
	ReconnectMax time.Duration // the longest reconnect wait

	// Birth, when set, is published each time the uplink is up, before the
	// queue drains (the gateway's "online" status; Topic is the remote topic).
	Birth *gateway.Message
	// Will, when set, is the MQTT will of every connection: the upstream
	// broker publishes it when the connection ends without a DISCONNECT
	// ([MQTT-3.1.2-8]: a crash, a lost link). A clean DISCONNECT discards
	// the will ([MQTT-3.1.2-10]), so on a clean stop the forwarder
	// publishes it itself first.
	Will *gateway.Message

	// Not in the TOML reference; tests and benchmarks tune them.
	ConnectTimeout time.Duration
	StableAfter    time.Duration // a connection up this long resets the reconnect wait to ReconnectMin
}

// ForwardRule forwards local messages matching Filter to the upstream broker.
type ForwardRule struct {
	Filter       string // local MQTT topic filter
	RemotePrefix string // remote topic = RemotePrefix + "/" + local topic
	RemoteTopic  string // or: this topic, "{topic}" replaced by the local topic
	QoS          *int   // 0, 1 or 2; nil: 1

	// MQTT 5.0 only (see publishProps).
	MessageExpiry     time.Duration         // Message Expiry Interval counted from the message's Time; 0: none
	UserProperties    []packet.UserProperty // sent in this order (the config sorts its table by name)
	TimestampProperty string                // user property carrying the message's Time (RFC 3339, UTC, ms); "": none
}

// SubscribeRule delivers upstream messages matching Filter to the local broker.
type SubscribeRule struct {
	Filter      string // remote MQTT topic filter
	LocalPrefix string // local topic = LocalPrefix + "/" + the remote topic without the filter's literal leading levels
	LocalTopic  string // or: this topic, "{topic}" replaced by the remote topic
	QoS         *int   // subscription QoS; nil: 1
}

// Default returns the defaults for the optional fields.
func Default() Config {
	return Config{
		ClientID:       "edge-gateway",
		KeepAlive:      30 * time.Second,
		Inflight:       100,
		ReconnectMin:   DefaultReconnectMin,
		ReconnectMax:   DefaultReconnectMax,
		ConnectTimeout: 10 * time.Second,
		StableAfter:    10 * time.Second,
	}
}

// DefaultSessionExpiry is the Session Expiry Interval an MQTT 5.0 uplink
// with subscribe rules asks for: commands queued on the cloud broker during
// an outage shorter than this reach the gateway when it is back; older ones
// are dropped by the broker, as they are likely stale. An hour is also AWS IoT
// Core's default limit on persistent sessions (EMQX keeps 2 hours by default).
const DefaultSessionExpiry = time.Hour

// DefaultTopicAliases is the most Topic Aliases an MQTT 5.0 uplink uses
// when the file does not say: more than the distinct topics a gateway
// forwards (one per mapped point, tens to hundreds), so in practice the
// server's Topic Alias Maximum is the limit (mosquitto's max_topic_alias
// is 10 by default). It bounds the gateway's table of aliases (a topic and
// two bytes each) when the topics are not repeated, e.g. one per message.
const DefaultTopicAliases = 1024

// DefaultTimestampProperty is the user property that carries a forwarded
// message's time with MQTT 5.0 (the config's default for each forward rule).
const DefaultTimestampProperty = "ts"

// FromConfig maps the config file's [upstream] table onto a Config that
// starts from Default. ClientID stays the default when the file sets none
// (cmd/gateway puts the gateway's name there), and Birth and Will are left
// to the caller. With protocol_version = 5 a forward rule without
// timestamp_property gets DefaultTimestampProperty, and no topic_aliases
// means DefaultTopicAliases; user_properties are sorted by name.
func FromConfig(u config.Upstream) Config {
	c := Default()
	c.URL = u.URL
	if u.ClientID != "" {
		c.ClientID = u.ClientID
	}
	c.Username, c.Password, c.PasswordFile = u.Username, u.Password, u.PasswordFile
	c.CAFile, c.CertFile, c.KeyFile = u.CAFile, u.CertFile, u.KeyFile
	c.MaxRate = u.MaxRate
	setIf(&c.KeepAlive, u.KeepAlive.Duration)
	setIf(&c.Inflight, u.Inflight)
	setIf(&c.ReconnectMin, u.ReconnectMin.Duration)
	setIf(&c.ReconnectMax, u.ReconnectMax.Duration)
	if u.ProtocolVersion != nil {
		c.ProtocolVersion = *u.ProtocolVersion
	}
	c.SessionExpiry = u.SessionExpiry.Duration
	switch {
	case u.TopicAliases != nil:
		c.TopicAliases = *u.TopicAliases
	case u.V5():
		c.TopicAliases = DefaultTopicAliases
	}
	c.Forward = ForwardRules(u)
	for _, s := range u.Subscribe {
		c.Subscribe = append(c.Subscribe, SubscribeRule{Filter: s.Filter, LocalPrefix: s.LocalPrefix, LocalTopic: s.LocalTopic, QoS: s.QoS})
	}
	return c
}

// ForwardRules maps the [[upstream.forward]] rules (see FromConfig).
func ForwardRules(u config.Upstream) []ForwardRule {
	var rules []ForwardRule
	for _, f := range u.Forward {
		r := ForwardRule{Filter: f.Filter, RemotePrefix: f.RemotePrefix, RemoteTopic: f.RemoteTopic, QoS: f.QoS,
			MessageExpiry: f.MessageExpiry.Duration}
		for _, k := range slices.Sorted(maps.Keys(f.UserProperties)) {
			r.UserProperties = append(r.UserProperties, packet.UserProperty{Key: k, Value: f.UserProperties[k]})
		}
		switch {
		case f.TimestampProperty != nil:
			r.TimestampProperty = *f.TimestampProperty
		case u.V5():
			r.TimestampProperty = DefaultTimestampProperty
		}
		rules = append(rules, r)
	}
	return rules
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Reconnect waits by default: never slower than Mosquitto's bridge (whose
// restart_timeout defaults to a base of 5 s and a cap of 30 s).
const (
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 30 * time.Second
)

// LogValue logs the configuration without secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.URL), slog.String("client_id", c.ClientID),
		slog.String("username", c.Username), slog.String("protocol", protocolName(c.ProtocolVersion)), slog.Bool("password", c.Password != "" || c.PasswordFile != ""),
		slog.Int("forward_rules", len(c.Forward)), slog.Int("subscribe_rules", len(c.Subscribe)))
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.ProtocolVersion == 0 {
		c.ProtocolVersion = int(packet.Version311)
	}
	if c.SessionExpiry == 0 {
		c.SessionExpiry = DefaultSessionExpiry
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = d.KeepAlive
	}
	if c.Inflight == 0 {
		c.Inflight = d.Inflight
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = d.ReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = max(d.ReconnectMax, c.ReconnectMin)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.StableAfter == 0 {
		c.StableAfter = d.StableAfter
	}
	return c
}

func qosOf(q *int) byte {
	if q == nil {
		return 1
	}
	return byte(*q)
}

// Validate reports every problem with c, joined with errors.Join: the
// rules of Check, and a URL is required.
func (c Config) Validate() error {
	r := config.NewErrReporter()
	if c.URL == "" {
		r.Problem("url", "must be set")
	}
	c.Check(r.Under("upstream"))
	return r.Err()
}

// Schemes are the URL schemes of [upstream] url: plain MQTT and MQTT over TLS.
var Schemes = []string{"mqtt", "mqtts"}

// Check reports every problem of c's values through r, each at its key
// (r.Elem("forward", i, "") for a forward rule): the one set of rules for
// the config file (gateway check and run) and for Validate. An empty URL is
// allowed here (nothing is sent: the buffer keeps the messages). Files are
// listed by Files.
func (c Config) Check(r config.Reporter) {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		switch {
		case err != nil || u.Host == "" || !slices.Contains(Schemes, u.Scheme):
			r.Problem("url", "%q: want mqtt://host:port or mqtts://host:port", c.URL)
		case !tlsSchemes[u.Scheme]:
			for _, f := range []struct{ key, v string }{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}} {
				if f.v != "" {
					r.Problem(f.key, "needs an mqtts:// url (%q is plain MQTT)", c.URL)
				}
			}
		}
	}
	v5 := c.checkVersion(r)
	if len(c.ClientID) > 65535 { // [MQTT-1.5.3] a UTF-8 string of at most 65535 bytes
		r.Problem("client_id", "%d bytes: want at most 65535", len(c.ClientID))
	}
	if c.Password != "" && c.PasswordFile != "" {
		r.Problem("password_file", "set together with password: want one of them")
	}
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		r.Problem("cert_file", "set without key_file: set both (mutual TLS) or neither")
	case c.CertFile == "" && c.KeyFile != "":
		r.Problem("key_file", "set without cert_file: set both (mutual TLS) or neither")
	}
	// [MQTT-3.1.2-24] keep alive is a 16-bit number of seconds.
	if c.KeepAlive < 0 || c.KeepAlive > 65535*time.Second {
		r.Problem("keepalive", "%s: want at most 18h12m15s (MQTT's 16-bit seconds)", c.KeepAlive)
	}
	// Packet identifiers are 16-bit and non-zero [MQTT-2.3.1-1].
	if c.Inflight < 0 || c.Inflight > 65535 {
		r.Problem("inflight", "%d: want 1..65535 (0 for the default)", c.Inflight)
	}
	if c.MaxRate < 0 {
		r.Problem("max_rate", "%g: want messages per second >= 0 (0 = unlimited)", c.MaxRate)
	}
	switch {
	case c.ReconnectMin < 0:
		r.Problem("reconnect_min", "%s: want a positive duration", c.ReconnectMin)
	case c.ReconnectMax < 0:
		r.Problem("reconnect_max", "%s: want a positive duration", c.ReconnectMax)
	case c.ReconnectMax > 0 && c.ReconnectMin > c.ReconnectMax:
		r.Problem("reconnect_min", "%s: above reconnect_max (%s, 30s by default): want reconnect_min <= reconnect_max", c.ReconnectMin, c.ReconnectMax)
	}
	for i, f := range c.Forward {
		fr := r.Elem("forward", i, "")
		checkFilter(fr, f.Filter)
		checkQoS(fr, f.QoS)
		if f.RemotePrefix != "" && f.RemoteTopic != "" {
			fr.Problem("remote_topic", "set together with remote_prefix: want one of them")
		}
		checkNoWildcard(fr, "remote_prefix", f.RemotePrefix)
		checkNoWildcard(fr, "remote_topic", f.RemoteTopic)
		if f.QoS != nil && *f.QoS == 2 && len(c.Subscribe) > 0 {
			fr.Problem("qos", "2 %s", QoS2SessionProblem)
		}
		f.checkProps(fr, v5)
	}
	for i, s := range c.Subscribe {
		sr := r.Elem("subscribe", i, "")
		checkFilter(sr, s.Filter)
		checkQoS(sr, s.QoS)
		if s.LocalPrefix != "" && s.LocalTopic != "" {
			sr.Problem("local_topic", "set together with local_prefix: want one of them")
		}
		checkNoWildcard(sr, "local_prefix", s.LocalPrefix)
		checkNoWildcard(sr, "local_topic", s.LocalTopic)
	}
}

// checkFilter reports a missing or malformed MQTT topic filter
// [MQTT-4.7.1-2] (# last and alone in its level), [MQTT-4.7.1-3] (+ alone).
func checkFilter(r config.Reporter, f string) {
	if f == "" {
		r.Problem("filter", "missing: want an MQTT topic filter such as \"site/#\"")
		return
	}
	if topic.ValidFilter(f) != nil {
		r.Problem("filter", "%q: want a topic filter where + is a whole level and # the whole last level", f)
	}
}

func checkQoS(r config.Reporter, q *int) {
	if q != nil && (*q < 0 || *q > 2) {
		r.Problem("qos", "%d: want 0, 1 or 2", *q)
	}
}

// checkNoWildcard reports a topic (or topic prefix) to publish to that has
// a wildcard [MQTT-3.3.2-2].
func checkNoWildcard(r config.Reporter, key, v string) {
	if strings.ContainsAny(v, "+#") {
		r.Problem(key, "%q: want a topic without + or # (messages are published to it)", v)
	}
}

// Files lists the files c names, which New reads: the password file, the
// CA bundle, the client certificate and its key; keys are relative to the
// [upstream] table.
func (c Config) Files() []config.File {
	var fs []config.File
	if c.PasswordFile != "" {
		fs = append(fs, config.File{Key: config.At("password_file"), Name: c.PasswordFile, Load: func() error {
			_, err := readPassword(c.PasswordFile)
			return err
		}})
	}
	if c.CAFile != "" {
		fs = append(fs, config.CAFile(config.At("ca_file"), c.CAFile))
	}
	if c.CertFile != "" && c.KeyFile != "" {
		fs = append(fs, config.KeyPairFile(config.At("cert_file"), c.CertFile, c.KeyFile))
	}
	return fs
}

// QoS2SessionProblem says why a forward rule with qos 2 and subscribe rules
// are refused together. Subscribe rules make the session persistent (clean
// session off), and every connection uses a new client whose packet
// identifiers restart at 1: a QoS 2 id left on the server by a connection
// that dropped mid-handshake (PUBREC sent, PUBREL not received) would make
// the server take a new message with that id as the resend of the old one
// and drop it [MQTT-4.3.3-2]. QoS 1 is not affected (a duplicate at worst).
const QoS2SessionProblem = "not with [[upstream.subscribe]] rules (their persistent session could drop a new QoS 2 message as a duplicate of an unfinished one): want 0 or 1"

// tlsSchemes are the schemes of MQTT over TLS (Check accepts only mqtts).
var tlsSchemes = map[string]bool{"mqtts": true, "ssl": true, "tls": true}
