package config

import (
	"github.com/edgegw/gateway"
)

// Upstream is the [upstream] table: the cloud broker readings are forwarded to.
type Upstream struct {
	URL          string         `toml:"url"`       // mqtt://host:1883 or mqtts://host:8883; "" disables forwarding
	ClientID     string         `toml:"client_id"` // default: the gateway name
	Username     string         `toml:"username"`
	Password     gateway.Secret `toml:"password"`
	PasswordFile string         `toml:"password_file"` // the password in a file instead
	CAFile       string         `toml:"ca_file"`       // CA bundle to verify the server (mqtts)
	CertFile     string         `toml:"cert_file"`     // client certificate (mutual TLS)
	KeyFile      string         `toml:"key_file"`      // client key (mutual TLS)
	KeepAlive    Duration       `toml:"keepalive"`     // MQTT keep-alive (default 30s)
	Inflight     int            `toml:"inflight"`      // unacknowledged publishes at once (default 100)
	MaxRate      float64        `toml:"max_rate"`      // messages per second; 0 = as fast as acknowledged
	ReconnectMin Duration       `toml:"reconnect_min"` // first wait before reconnecting (default 1s)
	ReconnectMax Duration       `toml:"reconnect_max"` // longest wait before reconnecting (default 30s)
	// ProtocolVersion is 4 (MQTT 3.1.1, the default) or 5 (MQTT 5.0).
	ProtocolVersion *int        `toml:"protocol_version"`
	SessionExpiry   Duration    `toml:"session_expiry"` // MQTT 5.0: Session Expiry Interval with subscribe rules (default 1h)
	TopicAliases    *int        `toml:"topic_aliases"`  // MQTT 5.0: most Topic Aliases for forwarded topics (default 1024; 0 none)
	Forward         []Forward   `toml:"forward"`
	Subscribe       []Subscribe `toml:"subscribe"`
}

// Forward is one [[upstream.forward]] rule: local topics sent upstream.
type Forward struct {
	Filter       string `toml:"filter"`        // local topic filter, e.g. "gateway/#"
	RemotePrefix string `toml:"remote_prefix"` // remote topic = remote_prefix/local topic
	RemoteTopic  string `toml:"remote_topic"`  // or this topic, {topic} = the local topic
	QoS          *int   `toml:"qos"`           // 0, 1 or 2 (1 by default)

	// MQTT 5.0 only.
	MessageExpiry     Duration          `toml:"message_expiry"`     // Message Expiry Interval from the reading's time
	UserProperties    map[string]string `toml:"user_properties"`    // sent sorted by name
	TimestampProperty *string           `toml:"timestamp_property"` // the reading's time as this user property (default "ts"; "" none)
}

// V5 reports whether the uplink speaks MQTT 5.0 (protocol_version = 5).
func (u *Upstream) V5() bool { return u.ProtocolVersion != nil && *u.ProtocolVersion == mqtt5 }

// mqtt5 is MQTT 5.0's protocol level (upstream.ProtocolVersions).
const mqtt5 = 5

// Subscribe is one [[upstream.subscribe]] rule: remote topics brought home.
type Subscribe struct {
	Filter      string `toml:"filter"`       // remote topic filter
	LocalPrefix string `toml:"local_prefix"` // local topic = local_prefix/ + the remote topic without the filter's literal leading levels
	LocalTopic  string `toml:"local_topic"`  // or this topic, {topic} = the remote topic
	QoS         *int   `toml:"qos"`          // 0, 1 or 2 (1 by default)
}

// validate checks what only the file has: subscribe filters that would
// echo the forwarded messages (checkValues reports durations that did not
// parse). The value rules are upstream.Config.Check's, which the compile
// stage in cmd/gateway runs on the compiled configuration (the same rules
// as the forwarder's).
func (u *Upstream) validate(p *Problems) {
	u.checkEchoes(p)
}
