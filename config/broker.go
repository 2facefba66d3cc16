package config

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Broker is the [broker] table: the local MQTT broker.
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
	// ws, wss: browser origins besides the listener's own whose pages may
	// connect while the listener accepts anonymous clients; "*" = any.
	AllowedOrigins []string `toml:"allowed_origins"`
}

// DefaultSessionExpiry is how long the broker keeps a persistent session
// whose client stays away: a week.
const DefaultSessionExpiry = 7 * 24 * time.Hour

// Listener protocols.
var Protocols = []string{"mqtt", "mqtts", "ws", "wss"}

func defaultBroker() Broker {
	return Broker{SysInterval: Dur(10 * time.Second), MaxPacketSize: Size(1 << 20), MaxQueuedMessages: 1000, MaxQueuedBytes: Size(16 << 20), MaxInflight: 20,
		MaxConnections: 1000, MaxMemory: Size(128 << 20), StallTimeout: Dur(10 * time.Second), MaxSubscriptions: 1000, SessionExpiry: Dur(DefaultSessionExpiry)}
}

func (b *Broker) validate(p *Problems) {
	base := At("broker")
	for i := range b.Listeners {
		l := &b.Listeners[i]
		lp := base.Index("listeners", i, "")
		if l.Protocol == "" {
			l.Protocol = "mqtt"
		}
		checkAddress(p, lp.Key("address"), l.Address, true, "127.0.0.1:1883")
		oneOf(p, lp.Key("protocol"), l.Protocol, Protocols)
		if (l.Protocol == "mqtts" || l.Protocol == "wss") && (l.CertFile == "" || l.KeyFile == "") {
			p.Add(lp, "protocol %q needs cert_file and key_file", l.Protocol)
		}
		if (l.Protocol == "mqtt" || l.Protocol == "ws") && (l.CertFile != "" || l.KeyFile != "" || l.CAFile != "") {
			p.Add(lp, "cert_file, key_file and ca_file need protocol mqtts or wss, not %q", l.Protocol)
		}
		if _, _, err := net.SplitHostPort(l.Address); err == nil && !isLoopback(l.Address) && b.PasswordFile == "" && !b.AllowAnonymous {
			p.Add(lp.Key("address"), "%q is reachable from the network, but with no [broker] password_file and allow_anonymous = false "+
				"no client could log in there (a user name cannot be checked without a password file): "+
				"set password_file (see gateway passwd), or allow_anonymous = true to let anyone in, or listen on 127.0.0.1", l.Address)
		}
		if len(l.AllowedOrigins) > 0 && (l.Protocol == "mqtt" || l.Protocol == "mqtts") {
			p.Add(lp.Key("allowed_origins"), "only for protocol ws or wss")
		}
		for _, o := range l.AllowedOrigins {
			if !validOrigin(o) {
				p.Add(lp.Key("allowed_origins"), "%q: want \"*\" or an origin scheme://host[:port] (http or https, no path), e.g. \"http://192.168.1.10:1880\"", o)
			}
		}
		if l.Path != "" && (l.Protocol == "mqtt" || l.Protocol == "mqtts") {
			p.Add(lp.Key("path"), "only for protocol ws or wss")
		} else if l.Path != "" && l.Path[0] != '/' {
			p.Add(lp.Key("path"), "%q: want an HTTP path starting with /, e.g. \"/mqtt\"", l.Path)
		}
	}
	b.SysInterval.check(p, base.Key("sys_interval"))
	b.SessionExpiry.check(p, base.Key("session_expiry"))
	b.StallTimeout.check(p, base.Key("stall_timeout"))
	if b.StallTimeout.bad == "" && b.StallTimeout.Duration <= 0 {
		p.Add(base.Key("stall_timeout"), "%v: want a positive duration such as \"10s\" (the broker must stop waiting for a stalled client)", b.StallTimeout.Duration)
	}
	b.MaxPacketSize.check(p, base.Key("max_packet_size"))
	b.MaxQueuedBytes.check(p, base.Key("max_queued_bytes"))
	b.MaxMemory.check(p, base.Key("max_memory"))
	const maxPacket = 268435455 // [MQTT-2.2.3] the largest Remaining Length
	if b.MaxPacketSize.Bytes > maxPacket+5 {
		p.Add(base.Key("max_packet_size"), "%d: want at most 256MB, MQTT's limit", b.MaxPacketSize.Bytes)
	}
	for _, kv := range []struct {
		key string
		v   int
	}{{"max_connections", b.MaxConnections}, {"max_queued_messages", b.MaxQueuedMessages}, {"max_inflight", b.MaxInflight}, {"max_subscriptions", b.MaxSubscriptions}} {
		if kv.v < 0 {
			p.Add(base.Key(kv.key), "%d: want 0 or more", kv.v)
		}
	}
	if b.MaxInflight > 65535 {
		p.Add(base.Key("max_inflight"), "%d: want at most 65535 (packet identifiers are 16-bit)", b.MaxInflight)
	}
}

// validOrigin accepts "*" or scheme://host[:port] with scheme http or https.
func validOrigin(o string) bool {
	if o == "*" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		strings.TrimSuffix(u.Path, "/") == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// checkAddress reports an address that is not host:port.
func checkAddress(p *Problems, path Path, addr string, required bool, example string) {
	if addr == "" {
		if required {
			p.Add(path, "missing: want host:port, e.g. %q", example)
		}
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		p.Add(path, "%q: want host:port, e.g. %q", addr, example)
	}
}

// oneOf reports a value that is not one of allowed.
func oneOf(p *Problems, path Path, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		p.Add(path, "%q: want %s", v, orList(allowed))
	}
}

// orList renders a, b or c.
func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	out := ""
	for i, x := range xs[:len(xs)-1] {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out + " or " + xs[len(xs)-1]
}
