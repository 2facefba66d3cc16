package broker

import (
	"errors"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/config"
)

// The broker's part of the config file: the [broker] table's defaults
// (DefaultSection), its rules (CheckSection, with Check) and its compiling
// into a Config (FromSection), in one place.

// Protocols are the listener protocols.
var Protocols = []string{"mqtt", "mqtts", "ws", "wss"}

// DefaultSection returns the [broker] table's defaults: DefaultConfig's,
// without its listener (a file with no [[broker.listeners]] has none).
func DefaultSection() config.Broker {
	d := DefaultConfig()
	return config.Broker{SysInterval: config.Dur(d.SysInterval), MaxPacketSize: config.Size(int64(d.MaxPacketSize)),
		MaxConnections: d.MaxConnections, MaxQueuedMessages: d.MaxQueuedMessages, MaxQueuedBytes: config.Size(int64(d.MaxQueuedBytes)),
		MaxInflight: d.MaxInflight, StallTimeout: config.Dur(d.StallTimeout), MaxMemory: config.Size(d.MaxMemory),
		MaxSubscriptions: d.MaxSubscriptions, SessionExpiry: config.Dur(d.SessionExpiry)}
}

// FromSection compiles the [broker] table s into a Config; the broker
// keeps its retained messages and sessions in broker.db in dataDir.
func FromSection(s config.Broker, dataDir string) Config {
	c := Config{
		PasswordFile:      s.PasswordFile,
		ACLFile:           s.ACLFile,
		AllowAnonymous:    s.AllowAnonymous,
		SysInterval:       s.SysInterval.Duration,
		MaxPacketSize:     int(s.MaxPacketSize.Bytes),
		MaxConnections:    s.MaxConnections,
		MaxQueuedMessages: s.MaxQueuedMessages,
		MaxQueuedBytes:    int(s.MaxQueuedBytes.Bytes),
		MaxInflight:       s.MaxInflight,
		StallTimeout:      s.StallTimeout.Duration,
		MaxMemory:         s.MaxMemory.Bytes,
		MaxSubscriptions:  s.MaxSubscriptions,
		SessionExpiry:     s.SessionExpiry.Duration,
		PersistencePath:   filepath.Join(dataDir, "broker.db"),
	}
	for _, l := range s.Listeners {
		if l.Protocol == "" {
			l.Protocol = "mqtt"
		}
		c.Listeners = append(c.Listeners, Listener{Address: l.Address, Protocol: l.Protocol, CertFile: l.CertFile,
			KeyFile: l.KeyFile, CAFile: l.CAFile, Path: l.Path, AllowedOrigins: l.AllowedOrigins,
			UseIdentityAsUsername: l.UseIdentityAsUsername, UseSubjectAsUsername: l.UseSubjectAsUsername})
	}
	return c
}

// maxPacket is the largest packet MQTT can frame: a Remaining Length of at
// most 268435455 [MQTT-2.2.3] after a fixed header of up to 5 bytes.
const maxPacket = 268435455 + 5

// Check reports every problem of c's values through r, each at its key
// (a listener's through r.Elem("listeners", i, "")): the rules for a
// Config built in Go (Validate) and for the config file (CheckSection).
func (c Config) Check(r config.Reporter) {
	for i, l := range c.Listeners {
		lr := r.Elem("listeners", i, "")
		config.CheckAddress(lr, "address", l.Address, "127.0.0.1:1883")
		proto := l.Protocol
		if proto == "" {
			proto = "mqtt"
		}
		if !slices.Contains(Protocols, proto) {
			lr.Problem("protocol", "%q: want %s", proto, config.OrList(Protocols))
		}
		known := slices.Contains(Protocols, proto)
		tls, web := proto == "mqtts" || proto == "wss", proto == "ws" || proto == "wss"
		if tls && (l.CertFile == "" || l.KeyFile == "") {
			lr.Problem("", "protocol %q needs cert_file and key_file", proto)
		}
		if known && !tls && (l.CertFile != "" || l.KeyFile != "" || l.CAFile != "") {
			lr.Problem("", "cert_file, key_file and ca_file need protocol mqtts or wss, not %q", proto)
		}
		if len(l.AllowedOrigins) > 0 && known && !web {
			lr.Problem("allowed_origins", "only for protocol ws or wss")
		}
		for _, o := range l.AllowedOrigins {
			if ValidOrigin(o) != nil {
				lr.Problem("allowed_origins", "%q: want \"*\" or an origin scheme://host[:port] (http or https, no path), e.g. \"http://192.168.1.10:1880\"", o)
			}
		}
		// use_identity_as_username, use_subject_as_username: the user name
		// comes from the client certificate, which only a listener with
		// ca_file asks for; without it every client would be refused.
		switch {
		case l.UseIdentityAsUsername && l.UseSubjectAsUsername:
			lr.Problem("use_subject_as_username", "set together with use_identity_as_username: set one of them")
		case l.UseIdentityAsUsername && l.CAFile == "":
			lr.Problem("use_identity_as_username", "needs ca_file (and protocol mqtts or wss): the user name comes from the client certificate, which only a listener with ca_file asks for")
		case l.UseSubjectAsUsername && l.CAFile == "":
			lr.Problem("use_subject_as_username", "needs ca_file (and protocol mqtts or wss): the user name comes from the client certificate, which only a listener with ca_file asks for")
		}
		if l.Path != "" && known && !web {
			lr.Problem("path", "only for protocol ws or wss")
		} else if l.Path != "" && l.Path[0] != '/' {
			lr.Problem("path", "%q: want an HTTP path starting with /, e.g. \"/mqtt\"", l.Path)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"sys_interval", c.SysInterval}, {"stall_timeout", c.StallTimeout}, {"session_expiry", c.SessionExpiry}} {
		if d.v < 0 {
			r.Problem(d.key, "%v: want 0 or more", d.v)
		}
	}
	if c.MaxPacketSize > maxPacket {
		r.Problem("max_packet_size", "%d: want at most 256MB, MQTT's limit", c.MaxPacketSize)
	}
	for _, kv := range []struct {
		key string
		v   int64
	}{{"max_packet_size", int64(c.MaxPacketSize)}, {"max_connections", int64(c.MaxConnections)},
		{"max_queued_messages", int64(c.MaxQueuedMessages)}, {"max_queued_bytes", int64(c.MaxQueuedBytes)},
		{"max_inflight", int64(c.MaxInflight)}, {"max_subscriptions", int64(c.MaxSubscriptions)}, {"max_memory", c.MaxMemory}} {
		if kv.v < 0 {
			r.Problem(kv.key, "%d: want 0 or more", kv.v)
		}
	}
	if c.MaxInflight > 65535 {
		r.Problem("max_inflight", "%d: want at most 65535 (packet identifiers are 16-bit)", c.MaxInflight)
	}
}

// CheckSection reports every problem of the [broker] table s through r:
// Check's rules on what it compiles to, and the file's own: a listener
// reachable from the network where no client could log in (one whose
// client certificates name the users lets them in), and a
// stall_timeout of 0 (in the file it means 0, not the default).
func CheckSection(s config.Broker, r config.Reporter) {
	FromSection(s, "").Check(r)
	for i, l := range s.Listeners {
		certUser := l.UseIdentityAsUsername || l.UseSubjectAsUsername
		if _, _, err := net.SplitHostPort(l.Address); err == nil && !config.IsLoopback(l.Address) && s.PasswordFile == "" && !s.AllowAnonymous && !certUser {
			r.Elem("listeners", i, "").Problem("address", "%q is reachable from the network, but with no [broker] password_file and allow_anonymous = false "+
				"no client could log in there (a user name cannot be checked without a password file): "+
				"set password_file (see gateway passwd), or allow_anonymous = true to let anyone in, or listen on 127.0.0.1", l.Address)
		}
	}
	if s.StallTimeout.Valid() && s.StallTimeout.Duration <= 0 {
		r.Problem("stall_timeout", "%v: want a positive duration such as \"10s\" (the broker must stop waiting for a stalled client)", s.StallTimeout.Duration)
	}
}

// Files lists the files c names, which Start reads: the password and ACL
// files (a bad line is a problem each) and each TLS listener's certificate,
// key and client CA bundle; keys are relative to the [broker] table.
func (c Config) Files() []config.File {
	var fs []config.File
	if c.PasswordFile != "" {
		fs = append(fs, authFile("password_file", c.PasswordFile, func(f string) error { _, err := auth.LoadPasswordFile(f); return err }))
	}
	if c.ACLFile != "" {
		fs = append(fs, authFile("acl_file", c.ACLFile, func(f string) error { _, err := auth.LoadACLFile(f); return err }))
	}
	for i, l := range c.Listeners {
		if l.CertFile == "" || l.KeyFile == "" {
			continue // Check reports a TLS listener without them
		}
		at := config.Path{}.Index("listeners", i, "")
		fs = append(fs, config.KeyPairFile(at.Key("cert_file"), l.CertFile, l.KeyFile))
		if l.CAFile != "" {
			fs = append(fs, config.CAFile(at.Key("ca_file"), l.CAFile))
		}
	}
	return fs
}

// authFile is a password or ACL file named at key, parsed by load as Start
// parses it: each bad line is a problem of its own.
func authFile(key, name string, load func(string) error) config.File {
	return config.File{Key: config.At(key), Name: name, Load: func() error {
		err := load(name)
		les := auth.LineErrors(err)
		if len(les) == 0 {
			return err
		}
		errs := make([]error, len(les))
		for i, le := range les {
			errs[i] = le
		}
		return errors.Join(errs...)
	}}
}

// Component is the [broker] table's row of the component table.
func Component() config.Component {
	at := config.At("broker")
	return config.Component{Name: "broker",
		Default: func(c *config.Config) { c.Broker = DefaultSection() },
		Check:   func(c *config.Config, p *config.Problems) { CheckSection(c.Broker, p.Reporter(at)) },
		Files: func(c *config.Config) []config.File {
			return config.Under(at, FromSection(c.Broker, c.Gateway.DataDir).Files())
		},
	}
}
