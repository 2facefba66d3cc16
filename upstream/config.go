package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/topic"
)

// Config configures the forwarder. Field names follow the [upstream] TOML keys.
type Config struct {
	URL          string // mqtt://host:1883 or mqtts://host:8883 (also tcp://, ssl://, tls://)
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

// Reconnect waits by default: never slower than Mosquitto's bridge (whose
// restart_timeout defaults to a base of 5 s and a cap of 30 s).
const (
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 30 * time.Second
)

// LogValue logs the configuration without secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.URL), slog.String("client_id", c.ClientID),
		slog.String("username", c.Username), slog.Bool("password", c.Password != "" || c.PasswordFile != ""),
		slog.Int("forward_rules", len(c.Forward)), slog.Int("subscribe_rules", len(c.Subscribe)))
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.ClientID == "" {
		c.ClientID = d.ClientID
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

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("upstream: "+format, a...)) }
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url: must be set")
	case err != nil:
		bad("url %q: %v", c.URL, err)
	case !plainSchemes[u.Scheme] && !tlsSchemes[u.Scheme]:
		bad("url %q: scheme %q: want mqtt or mqtts", c.URL, u.Scheme)
	case u.Host == "":
		bad("url %q: no host", c.URL)
	default:
		if plainSchemes[u.Scheme] && (c.CAFile != "" || c.CertFile != "") {
			bad("url %q: ca_file/cert_file need mqtts://", c.URL)
		}
	}
	if len(c.ClientID) > 65535 {
		bad("client_id: too long")
	}
	if c.Password != "" && c.PasswordFile != "" {
		bad("password and password_file: set only one")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("cert_file and key_file: set both or neither")
	}
	for _, f := range []struct{ key, path string }{{"password_file", c.PasswordFile}, {"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad("%s: %v", f.key, err)
			}
		}
	}
	// [MQTT-3.1.2-24] keep alive is a 16-bit number of seconds.
	if c.KeepAlive < 0 || c.KeepAlive > 65535*time.Second {
		bad("keepalive %s: want 0..18h12m15s", c.KeepAlive)
	}
	// Packet identifiers are 16-bit and non-zero [MQTT-2.3.1-1].
	if c.Inflight < 0 || c.Inflight > 65535 {
		bad("inflight %d: want 1..65535", c.Inflight)
	}
	if c.MaxRate < 0 {
		bad("max_rate %g: must be >= 0", c.MaxRate)
	}
	if c.ReconnectMin < 0 || c.ReconnectMax < 0 || (c.ReconnectMax > 0 && c.ReconnectMin > c.ReconnectMax) {
		bad("reconnect_min %s, reconnect_max %s: want 0 < reconnect_min <= reconnect_max", c.ReconnectMin, c.ReconnectMax)
	}
	for i, r := range c.Forward {
		p := fmt.Sprintf("forward[%d]", i)
		if err := topic.ValidFilter(r.Filter); err != nil {
			bad("%s filter: %v", p, err)
		}
		if r.RemotePrefix != "" && r.RemoteTopic != "" {
			bad("%s: set remote_prefix or remote_topic, not both", p)
		}
		if strings.ContainsAny(r.RemotePrefix+r.RemoteTopic, "+#") {
			bad("%s: remote topic must not contain wildcards", p)
		}
		if r.QoS != nil && (*r.QoS < 0 || *r.QoS > 2) {
			bad("%s qos %d: want 0, 1 or 2", p, *r.QoS)
		}
		if r.QoS != nil && *r.QoS == 2 && len(c.Subscribe) > 0 {
			bad("%s qos 2: %s", p, QoS2SessionProblem)
		}
	}
	for i, r := range c.Subscribe {
		p := fmt.Sprintf("subscribe[%d]", i)
		if err := topic.ValidFilter(r.Filter); err != nil {
			bad("%s filter: %v", p, err)
		}
		if r.LocalPrefix != "" && r.LocalTopic != "" {
			bad("%s: set local_prefix or local_topic, not both", p)
		}
		if strings.ContainsAny(r.LocalPrefix+r.LocalTopic, "+#") {
			bad("%s: local topic must not contain wildcards", p)
		}
		if r.QoS != nil && (*r.QoS < 0 || *r.QoS > 2) {
			bad("%s qos %d: want 0, 1 or 2", p, *r.QoS)
		}
	}
	return errors.Join(errs...)
}

// QoS2SessionProblem says why a forward rule with qos 2 and subscribe rules
// are refused together. Subscribe rules make the session persistent (clean
// session off), and every connection uses a new paho client whose packet
// identifiers restart at 1: a QoS 2 id left on the server by a connection
// that dropped mid-handshake (PUBREC sent, PUBREL not received) would make
// the server take a new message with that id as the resend of the old one
// and drop it [MQTT-4.3.3-2]. QoS 1 is not affected (a duplicate at worst).
const QoS2SessionProblem = "not with [[upstream.subscribe]] rules (their persistent session could drop a new QoS 2 message as a duplicate of an unfinished one): want 0 or 1"

var (
	plainSchemes = map[string]bool{"mqtt": true, "tcp": true}
	tlsSchemes   = map[string]bool{"mqtts": true, "ssl": true, "tls": true}
)
