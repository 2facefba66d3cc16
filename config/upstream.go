package config

import (
	"net/url"
	"slices"
	"strings"
)

// Upstream is the [upstream] table: the cloud broker readings are forwarded to.
type Upstream struct {
	URL       string      `toml:"url"`       // mqtt://host:1883 or mqtts://host:8883; "" disables forwarding
	ClientID  string      `toml:"client_id"` // default: the gateway name
	Username  string      `toml:"username"`
	Password  Secret      `toml:"password"`
	CAFile    string      `toml:"ca_file"`   // CA bundle to verify the server (mqtts)
	CertFile  string      `toml:"cert_file"` // client certificate (mutual TLS)
	KeyFile   string      `toml:"key_file"`  // client key (mutual TLS)
	Forward   []Forward   `toml:"forward"`
	Subscribe []Subscribe `toml:"subscribe"`
}

// Forward is one [[upstream.forward]] rule: local topics sent upstream.
type Forward struct {
	Filter       string `toml:"filter"`        // local topic filter, e.g. "gateway/#"
	RemotePrefix string `toml:"remote_prefix"` // prepended to the local topic
	QoS          int    `toml:"qos"`           // 0 or 1 (1 by default)
}

// Subscribe is one [[upstream.subscribe]] rule: remote topics brought home.
type Subscribe struct {
	Filter      string `toml:"filter"`       // remote topic filter
	LocalPrefix string `toml:"local_prefix"` // prepended to the remote topic
	QoS         int    `toml:"qos"`
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
	for i, f := range u.Forward {
		fp := base.Index("forward", i, "")
		checkFilter(p, fp.Key("filter"), f.Filter)
		if f.QoS < 0 || f.QoS > 1 {
			p.Add(fp.Key("qos"), "%d: want 0 or 1", f.QoS)
		}
	}
	for i, s := range u.Subscribe {
		sp := base.Index("subscribe", i, "")
		checkFilter(p, sp.Key("filter"), s.Filter)
		if s.QoS < 0 || s.QoS > 2 {
			p.Add(sp.Key("qos"), "%d: want 0, 1 or 2", s.QoS)
		}
	}
}

func (u *Upstream) applyDefaults() {
	for i := range u.Forward {
		if u.Forward[i].QoS == 0 {
			u.Forward[i].QoS = 1
		}
	}
}

// checkFilter reports a missing or malformed MQTT topic filter
// [MQTT-4.7.1-2] (# last and alone in its level), [MQTT-4.7.1-3] (+ alone).
func checkFilter(p *Problems, path Path, f string) {
	if f == "" {
		p.Add(path, "missing: want an MQTT topic filter such as \"site/#\"")
		return
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if (strings.Contains(l, "#") && (l != "#" || i != len(levels)-1)) ||
			(strings.Contains(l, "+") && l != "+") {
			p.Add(path, "%q: want a topic filter where + is a whole level and # the whole last level", f)
			return
		}
	}
}
