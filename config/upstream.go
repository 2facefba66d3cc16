package config

import (
	"net/url"
	"slices"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/topic"
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
	Forward      []Forward      `toml:"forward"`
	Subscribe    []Subscribe    `toml:"subscribe"`
}

// Forward is one [[upstream.forward]] rule: local topics sent upstream.
type Forward struct {
	Filter       string `toml:"filter"`        // local topic filter, e.g. "gateway/#"
	RemotePrefix string `toml:"remote_prefix"` // remote topic = remote_prefix/local topic
	RemoteTopic  string `toml:"remote_topic"`  // or this topic, {topic} = the local topic
	QoS          *int   `toml:"qos"`           // 0, 1 or 2 (1 by default)
}

// Subscribe is one [[upstream.subscribe]] rule: remote topics brought home.
type Subscribe struct {
	Filter      string `toml:"filter"`       // remote topic filter
	LocalPrefix string `toml:"local_prefix"` // local topic = local_prefix/ + the remote topic without the filter's literal leading levels
	LocalTopic  string `toml:"local_topic"`  // or this topic, {topic} = the remote topic
	QoS         *int   `toml:"qos"`          // 0, 1 or 2 (1 by default)
}

// URL schemes accepted for [upstream] url.
var UpstreamSchemes = []string{"mqtt", "mqtts"}

func (u *Upstream) validate(p *Problems) {
	base := At("upstream")
	if u.URL != "" {
		pu, err := url.Parse(u.URL)
		if err != nil || pu.Host == "" || !slices.Contains(UpstreamSchemes, pu.Scheme) {
			p.Add(base.Key("url"), "%q: want mqtt://host:port or mqtts://host:port", u.URL)
		}
	}
	switch {
	case u.CertFile != "" && u.KeyFile == "":
		p.Add(base.Key("cert_file"), "set without key_file: set both (mutual TLS) or neither")
	case u.CertFile == "" && u.KeyFile != "":
		p.Add(base.Key("key_file"), "set without cert_file: set both (mutual TLS) or neither")
	}
	if u.Password != "" && u.PasswordFile != "" {
		p.Add(base.Key("password_file"), "set together with password: want one of them")
	}
	u.KeepAlive.check(p, base.Key("keepalive"))
	if u.Inflight < 0 || u.Inflight > 65535 {
		p.Add(base.Key("inflight"), "%d: want 1..65535 (0 for the default)", u.Inflight)
	}
	u.ReconnectMin.check(p, base.Key("reconnect_min"))
	u.ReconnectMax.check(p, base.Key("reconnect_max"))
	switch {
	case u.ReconnectMin.Duration < 0:
		p.Add(base.Key("reconnect_min"), "%s: want a positive duration", u.ReconnectMin.Duration)
	case u.ReconnectMax.Duration < 0:
		p.Add(base.Key("reconnect_max"), "%s: want a positive duration", u.ReconnectMax.Duration)
	case u.ReconnectMax.Duration > 0 && u.ReconnectMin.Duration > u.ReconnectMax.Duration:
		p.Add(base.Key("reconnect_max"), "%s: want at least reconnect_min (%s)", u.ReconnectMax.Duration, u.ReconnectMin.Duration)
	case u.ReconnectMax.Duration == 0 && u.ReconnectMin.Duration > 30*time.Second:
		p.Add(base.Key("reconnect_min"), "%s: above the default reconnect_max (30s): set reconnect_max too", u.ReconnectMin.Duration)
	}
	if u.MaxRate < 0 {
		p.Add(base.Key("max_rate"), "%g: want messages per second >= 0 (0 = unlimited)", u.MaxRate)
	}
	for i, f := range u.Forward {
		fp := base.Index("forward", i, "")
		checkFilter(p, fp.Key("filter"), f.Filter)
		checkQoS(p, fp.Key("qos"), f.QoS)
		if f.RemotePrefix != "" && f.RemoteTopic != "" {
			p.Add(fp.Key("remote_topic"), "set together with remote_prefix: want one of them")
		}
		if f.QoS != nil && *f.QoS == 2 && len(u.Subscribe) > 0 {
			// The same rule as upstream.Config.Validate (QoS2SessionProblem).
			p.Add(fp.Key("qos"), "2 not with [[upstream.subscribe]] rules (their persistent session could drop a new QoS 2 message as a duplicate of an unfinished one): want 0 or 1")
		}
	}
	for i, s := range u.Subscribe {
		sp := base.Index("subscribe", i, "")
		checkFilter(p, sp.Key("filter"), s.Filter)
		checkQoS(p, sp.Key("qos"), s.QoS)
		if s.LocalPrefix != "" && s.LocalTopic != "" {
			p.Add(sp.Key("local_topic"), "set together with local_prefix: want one of them")
		}
	}
	u.checkEchoes(p)
}

func checkQoS(p *Problems, path Path, q *int) {
	if q != nil && (*q < 0 || *q > 2) {
		p.Add(path, "%d: want 0, 1 or 2", *q)
	}
}

func (u *Upstream) applyDefaults() {}

// checkFilter reports a missing or malformed MQTT topic filter
// [MQTT-4.7.1-2] (# last and alone in its level), [MQTT-4.7.1-3] (+ alone).
func checkFilter(p *Problems, path Path, f string) {
	if f == "" {
		p.Add(path, "missing: want an MQTT topic filter such as \"site/#\"")
		return
	}
	if topic.ValidFilter(f) != nil {
		p.Add(path, "%q: want a topic filter where + is a whole level and # the whole last level", f)
	}
}
