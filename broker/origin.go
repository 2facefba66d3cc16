package broker

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// originPolicy decides which browser pages may open a WebSocket to a
// listener, by the Origin header browsers send with the upgrade request.
//
// A listener that requires a login accepts every origin, as Mosquitto does:
// MQTT's own authentication protects it, and dashboards on other origins
// (MQTT X Web, Node-RED, a user's page) are the way it is used. A listener
// that accepts anonymous clients (loopback without a password file, or
// allow_anonymous) would otherwise let any web site open in a browser on
// the device publish commands to the devices, so it accepts only pages of
// its own origin and of allowed_origins ("*" only when written so).
// Requests without an Origin header come from non-browser clients and are
// accepted.
type originPolicy struct {
	any     bool            // every origin
	allowed map[string]bool // lower-case "scheme://host[:port]"

	mu     sync.Mutex
	logged map[string]bool // refused origins already logged
}

// maxLoggedOrigins bounds the refused origins remembered for logging once.
const maxLoggedOrigins = 100

func newOriginPolicy(anonymous bool, allowed []string) *originPolicy {
	p := &originPolicy{any: !anonymous, allowed: map[string]bool{}, logged: map[string]bool{}}
	for _, o := range allowed {
		if o == "*" {
			p.any = true
		}
		p.allowed[normOrigin(o)] = true
	}
	return p
}

// normOrigin returns the form in which origins are compared.
func normOrigin(o string) string { return strings.ToLower(strings.TrimSuffix(o, "/")) }

// check returns nil when r may upgrade.
func (p *originPolicy) check(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" || p.any {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil // the listener's own origin
	}
	if p.allowed[normOrigin(origin)] {
		return nil
	}
	return fmt.Errorf("origin %q not allowed: this listener accepts anonymous clients, so only pages from its own origin or allowed_origins may connect", origin)
}

// logOnce logs a refused origin the first time it is seen.
func (p *originPolicy) logOnce(log *slog.Logger, r *http.Request, err error) {
	origin := r.Header.Get("Origin")
	p.mu.Lock()
	seen := p.logged[origin]
	if !seen && len(p.logged) < maxLoggedOrigins {
		p.logged[origin] = true
	}
	p.mu.Unlock()
	if !seen {
		log.Warn("websocket refused: add the page's origin to allowed_origins, or require a login on this listener",
			"remote", r.RemoteAddr, "err", err)
	}
}

// ValidOrigin checks an allowed_origins entry: "*" or scheme://host[:port]
// with scheme http or https and nothing after the host.
func ValidOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("allowed origin %q: want \"*\" or scheme://host[:port], e.g. \"http://192.168.1.10:1880\"", o)
	}
	return nil
}
