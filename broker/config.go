package broker

import (
	"errors"
	"fmt"
	"time"
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
	DefaultMaxQueuedBytes    = 4 << 20
	DefaultMaxInflight       = 32
	DefaultStallTimeout      = 10 * time.Second
	DefaultMaxMemory         = 128 << 20
	DefaultMaxConnections    = 1000
	DefaultMaxSubscriptions  = 1000
	DefaultWSPath            = "/mqtt"
)

// DefaultConfig returns a Config with one plain MQTT listener on
// 127.0.0.1:1883 and the default limits.
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
	}
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	for i, l := range c.Listeners {
		at := fmt.Sprintf("broker.listeners[%d]", i)
		if l.Address == "" {
			errs = append(errs, fmt.Errorf("%s: address is empty", at))
		}
		switch l.Protocol {
		case "", "mqtt", "ws":
		case "mqtts", "wss":
			if l.CertFile == "" || l.KeyFile == "" {
				errs = append(errs, fmt.Errorf("%s: protocol %s needs cert_file and key_file", at, l.Protocol))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: protocol %q: want mqtt, mqtts, ws or wss", at, l.Protocol))
		}
		if len(l.AllowedOrigins) > 0 && l.Protocol != "ws" && l.Protocol != "wss" {
			errs = append(errs, fmt.Errorf("%s: allowed_origins: only for protocol ws or wss", at))
		}
		for _, o := range l.AllowedOrigins {
			if err := ValidOrigin(o); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at, err))
			}
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_packet_size", c.MaxPacketSize}, {"max_connections", c.MaxConnections},
		{"max_queued_messages", c.MaxQueuedMessages}, {"max_queued_bytes", c.MaxQueuedBytes},
		{"max_inflight", c.MaxInflight}, {"max_subscriptions", c.MaxSubscriptions}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("broker.%s: %d is negative", f.name, f.v))
		}
	}
	if c.MaxInflight > 65535 {
		errs = append(errs, fmt.Errorf("broker.max_inflight: %d over 65535 packet identifiers", c.MaxInflight))
	}
	if c.SysInterval < 0 {
		errs = append(errs, fmt.Errorf("broker.sys_interval: %v is negative", c.SysInterval))
	}
	if c.MaxMemory < 0 {
		errs = append(errs, fmt.Errorf("broker.max_memory: %d is negative", c.MaxMemory))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("broker.stall_timeout: %v is negative", c.StallTimeout))
	}
	if c.SessionExpiry < 0 {
		errs = append(errs, fmt.Errorf("broker.session_expiry: %v is negative", c.SessionExpiry))
	}
	return errors.Join(errs...)
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
	for i := range c.Listeners {
		if c.Listeners[i].Protocol == "" {
			c.Listeners[i].Protocol = "mqtt"
		}
		if c.Listeners[i].Path == "" {
			c.Listeners[i].Path = DefaultWSPath
		}
	}
}

// checkCertUsers reports the listeners' checkCertUser problems.
func (c Config) checkCertUsers() error {
	var errs []error
	for i, l := range c.Listeners {
		if err := l.checkCertUser(); err != nil {
			errs = append(errs, fmt.Errorf("broker.listeners[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// checkCertUser reports use_identity_as_username or use_subject_as_username
// without ca_file (no client certificate to take the name from: every
// client would be refused) or both at once.
func (l Listener) checkCertUser() error {
	switch {
	case l.UseIdentityAsUsername && l.UseSubjectAsUsername:
		return errors.New("use_identity_as_username and use_subject_as_username: set one of them")
	case (l.UseIdentityAsUsername || l.UseSubjectAsUsername) && l.CAFile == "":
		key := "use_identity_as_username"
		if l.UseSubjectAsUsername {
			key = "use_subject_as_username"
		}
		return fmt.Errorf("%s: needs ca_file (and protocol mqtts or wss): the user name comes from the client certificate, which only a listener with ca_file asks for", key)
	}
	return nil
}
