package broker

import (
	"slices"
	"time"

	"github.com/edgegw/gateway/config"
)

// Config configures a Broker. Field names follow the TOML keys of the
// [broker] table; zero values mean "use the default" where one is stated.
type Config struct {
	Listeners []Listener // [[broker.listeners]]

	PasswordFile string // password_file: "user:hash" lines (see auth.SetPassword); "" = no passwords
	ACLFile      string // acl_file: Mosquitto-like ACL; "" = every client may use every topic
	// AllowAnonymous (allow_anonymous) accepts clients without a user name on
	// every listener. When false, they are accepted only on loopback
	// listeners and only while no password file is configured.
	AllowAnonymous bool

	SysInterval time.Duration // sys_interval: period of the $SYS topics; 0 = off

	MaxPacketSize     int // max_packet_size in bytes; 0 = DefaultMaxPacketSize
	MaxConnections    int // max_connections; 0 = unlimited (DefaultConfig and the gateway's config: DefaultMaxConnections)
	MaxQueuedMessages int // max_queued_messages per session; 0 = DefaultMaxQueuedMessages
	MaxQueuedBytes    int // max_queued_bytes of payload+topic per session; 0 = DefaultMaxQueuedBytes
	MaxInflight       int // max_inflight QoS 1/2 messages per client awaiting ack; 0 = DefaultMaxInflight
	MaxSubscriptions  int // max_subscriptions per client (session); 0 = DefaultMaxSubscriptions

	// MaxMemory (max_memory) caps the bytes (topic and payload) of all
	// queued and retained messages together. At the cap every session
	// queue counts as full: QoS 0 messages, messages for offline sessions
	// and new retained messages are dropped (counted), while QoS 1 and 2
	// publishers to connected subscribers wait for them (MQTT 3.1.1) or
	// are refused with 0x97 Quota exceeded (MQTT 5.0). 0 =
	// DefaultMaxMemory.
	MaxMemory int64

	// StallTimeout (stall_timeout) bounds how long the broker waits for a
	// client: a write blocked this long (the client stopped reading), or a
	// subscriber whose full queue made publishers wait with no
	// acknowledgement this long, closes the connection. 0 =
	// DefaultStallTimeout.
	StallTimeout time.Duration

	// SessionExpiry (session_expiry) drops a persistent session (CleanSession
	// = 0) offline for longer than this, with its subscriptions and queued
	// messages, in memory and in the database. A session restored from the
	// database counts as offline since the broker started. 0 keeps persistent
	// sessions forever.
	SessionExpiry time.Duration

	// PersistencePath is the SQLite file holding retained messages and
	// persistent sessions (the wiring passes <data_dir>/broker.db); "" keeps
	// them in memory only.
	PersistencePath string
}

// Listener is one [[broker.listeners]] entry.
type Listener struct {
	Address  string // address: host:port, e.g. "127.0.0.1:1883" or ":8883"
	Protocol string // protocol: "mqtt" (TCP, the default), "mqtts" (TLS), "ws" or "wss" (WebSocket)
	CertFile string // cert_file: PEM certificate chain for mqtts and wss
	KeyFile  string // key_file: PEM private key for mqtts and wss
	CAFile   string // ca_file: PEM CA certificates; when set, clients must present a certificate it signed
	// UseIdentityAsUsername (use_identity_as_username), with CAFile: the
	// Common Name of the client certificate is the user name (the ACL's
	// "user" rules apply to it); CONNECT's user name and password are
	// ignored and PasswordFile is not used on this listener, as in
	// Mosquitto. UseSubjectAsUsername (use_subject_as_username) uses the
	// whole subject in RFC 2253 form ("CN=dev1,O=Plant") instead. At most
	// one of them.
	UseIdentityAsUsername bool
	UseSubjectAsUsername  bool
	Path                  string // path: HTTP path of ws and wss; "" = "/mqtt"
	// AllowedOrigins (allowed_origins), for ws and wss listeners that accept
	// anonymous clients: the browser origins ("https://host:port") whose
	// pages may connect besides the listener's own; "*" allows every origin.
	// A listener that requires a login accepts every origin anyway.
	AllowedOrigins []string
}

// Defaults for zero Config fields.
const (
	DefaultMaxPacketSize     = 1 << 20
	DefaultMaxQueuedMessages = 1000
	DefaultMaxQueuedBytes    = 16 << 20
	DefaultMaxInflight       = 20
	DefaultStallTimeout      = 10 * time.Second
	DefaultMaxMemory         = 128 << 20
	DefaultMaxConnections    = 1000
	DefaultMaxSubscriptions  = 1000
	DefaultWSPath            = "/mqtt"
)

// DefaultSessionExpiry is how long the broker keeps a persistent session
// whose client stays away in DefaultConfig (and the config file): a week.
const DefaultSessionExpiry = 7 * 24 * time.Hour

// DefaultConfig returns a Config with one plain MQTT listener on
// 127.0.0.1:1883 and the default limits: the defaults of the [broker]
// table too (DefaultSection).
func DefaultConfig() Config {
	return Config{
		Listeners:         []Listener{{Address: "127.0.0.1:1883", Protocol: "mqtt"}},
		SysInterval:       10 * time.Second,
		MaxPacketSize:     DefaultMaxPacketSize,
		MaxQueuedMessages: DefaultMaxQueuedMessages,
		MaxQueuedBytes:    DefaultMaxQueuedBytes,
		MaxInflight:       DefaultMaxInflight,
		StallTimeout:      DefaultStallTimeout,
		MaxMemory:         DefaultMaxMemory,
		MaxConnections:    DefaultMaxConnections,
		MaxSubscriptions:  DefaultMaxSubscriptions,
		SessionExpiry:     DefaultSessionExpiry,
	}
}

// Validate reports every problem of c (the rules of Check), joined with
// errors.Join.
func (c Config) Validate() error {
	r := config.NewErrReporter()
	c.Check(r.Under("broker"))
	return r.Err()
}

func (c *Config) applyDefaults() {
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	if c.MaxQueuedMessages == 0 {
		c.MaxQueuedMessages = DefaultMaxQueuedMessages
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = DefaultMaxMemory
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	c.Listeners = slices.Clone(c.Listeners) // the caller's slice is the caller's: New may be given it again
	for i := range c.Listeners {
		if c.Listeners[i].Protocol == "" {
			c.Listeners[i].Protocol = "mqtt"
		}
		if c.Listeners[i].Path == "" {
			c.Listeners[i].Path = DefaultWSPath
		}
	}
}
