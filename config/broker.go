package config

// Broker is the [broker] table: the local MQTT broker. Its defaults, rules
// and compiling are the broker package's (broker.DefaultSection,
// broker.CheckSection, broker.FromSection); this is its shape in the file.
type Broker struct {
	Listeners         []Listener `toml:"listeners"`
	PasswordFile      string     `toml:"password_file"`       // "user:hash" lines, managed with `gateway passwd`
	ACLFile           string     `toml:"acl_file"`            // Mosquitto-like topic ACLs
	AllowAnonymous    bool       `toml:"allow_anonymous"`     // clients without a user name on non-loopback listeners
	SysInterval       Duration   `toml:"sys_interval"`        // period of the $SYS topics; "0s" turns them off
	MaxPacketSize     ByteSize   `toml:"max_packet_size"`     // larger packets close the connection
	MaxConnections    int        `toml:"max_connections"`     // 0 = unlimited
	MaxQueuedMessages int        `toml:"max_queued_messages"` // per session; then publishers wait (QoS 1/2 to online clients) or new messages are dropped
	MaxQueuedBytes    ByteSize   `toml:"max_queued_bytes"`    // per session
	MaxInflight       int        `toml:"max_inflight"`        // unacknowledged QoS 1/2 messages per client
	StallTimeout      Duration   `toml:"stall_timeout"`       // close a client that stops reading or acknowledging this long
	MaxMemory         ByteSize   `toml:"max_memory"`          // all queued and retained messages together
	MaxSubscriptions  int        `toml:"max_subscriptions"`   // topic filters per client
	SessionExpiry     Duration   `toml:"session_expiry"`      // drop persistent sessions offline this long; "0s" = never
}

// Listener is one [[broker.listeners]] entry.
type Listener struct {
	Address  string `toml:"address"`   // host:port
	Protocol string `toml:"protocol"`  // mqtt|mqtts|ws|wss
	CertFile string `toml:"cert_file"` // mqtts, wss: PEM certificate chain
	KeyFile  string `toml:"key_file"`  // mqtts, wss: PEM private key
	CAFile   string `toml:"ca_file"`   // require client certificates signed by this CA
	Path     string `toml:"path"`      // ws, wss: HTTP path (default /mqtt)
	// with ca_file: the client certificate's Common Name (whole subject)
	// is the user name; CONNECT's user name and password are ignored.
	UseIdentityAsUsername bool `toml:"use_identity_as_username"`
	UseSubjectAsUsername  bool `toml:"use_subject_as_username"`
	// ws, wss: browser origins besides the listener's own whose pages may
	// connect while the listener accepts anonymous clients; "*" = any.
	AllowedOrigins []string `toml:"allowed_origins"`
}
