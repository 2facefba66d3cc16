package config

import (
	"net"
	"slices"
)

// Broker is the [broker] table: the local MQTT broker.
type Broker struct {
	Listeners []Listener `toml:"listeners"`
}

// Listener is one [[broker.listeners]] entry.
type Listener struct {
	Address  string `toml:"address"`  // host:port
	Protocol string `toml:"protocol"` // mqtt|mqtts|ws|wss
}

// Listener protocols.
var Protocols = []string{"mqtt", "mqtts", "ws", "wss"}

func defaultBroker() Broker { return Broker{} }

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
	}
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
