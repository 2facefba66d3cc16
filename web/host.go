package web

import (
	"net"
	"net/http"
	"strings"
)

// checkHost wraps h for a server that asks for no login (on loopback):
// requests whose Host header names anything but a loopback address,
// localhost or the configured host get 421. Without it a web site could
// point its own DNS name at 127.0.0.1 (DNS rebinding) and have the browser
// of someone on this machine read the API and the buffered messages as the
// same origin as that site.
func (s *Server) checkHost(h http.Handler) http.Handler {
	cfgHost, _, _ := net.SplitHostPort(s.cfg.Address)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !localHost(r.Host, cfgHost) {
			s.hostRefused.Add(1)
			if s.hostLogged.CompareAndSwap(false, true) {
				s.log.Warn("web: request for another host name refused (DNS rebinding?); logged once",
					"host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
			}
			http.Error(w, "misdirected request: this page answers only to localhost and loopback addresses", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// localHost reports whether the Host header hostport names this machine
// by a loopback address, localhost, or the configured host.
func localHost(hostport, cfgHost string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || (cfgHost != "" && strings.EqualFold(host, cfgHost)) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
