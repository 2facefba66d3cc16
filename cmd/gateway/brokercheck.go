package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/config"
)

// checkBrokerFiles parses the password and ACL files [broker] names, as the
// broker does when it starts, and loads the web page's certificate, so that
// `gateway check` reports their problems (each with the file and line)
// instead of `gateway run` failing.
func checkBrokerFiles(cfg *config.Config, probs *config.Problems) {
	b := config.At("broker")
	if f := cfg.Broker.PasswordFile; f != "" {
		if _, err := auth.LoadPasswordFile(f); err != nil {
			reportFileErr(probs, b.Key("password_file"), err)
		}
	}
	if f := cfg.Broker.ACLFile; f != "" {
		if _, err := auth.LoadACLFile(f); err != nil {
			reportFileErr(probs, b.Key("acl_file"), err)
		}
	}
	if w := cfg.Web; w.Address != "" && w.CertFile != "" && w.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(w.CertFile, w.KeyFile); err != nil {
			probs.Add(config.At("web").Key("cert_file"), "load %s and %s: %v", w.CertFile, w.KeyFile, err)
		}
	}
}

// reportFileErr adds one problem per bad line of a file, or the error
// itself when it is not about lines (the file is missing or unreadable).
func reportFileErr(probs *config.Problems, path config.Path, err error) {
	les := auth.LineErrors(err)
	if len(les) == 0 {
		probs.Add(path, "%v", err)
		return
	}
	for _, le := range les {
		probs.Add(path, "%v", le)
	}
}

// originNotes explains, for `gateway check`, which browser pages may open
// each WebSocket listener (see broker's originPolicy): every origin when
// the listener requires a login, else its own origin and allowed_origins.
func originNotes(cfg *config.Config) []string {
	b := cfg.Broker
	var notes []string
	for i, l := range b.Listeners {
		if l.Protocol != "ws" && l.Protocol != "wss" {
			continue
		}
		at := fmt.Sprintf("broker.listeners[%d] (%s %s)", i, l.Protocol, l.Address)
		host, _, _ := net.SplitHostPort(l.Address)
		ip := net.ParseIP(host)
		loopback := host == "localhost" || ip != nil && ip.IsLoopback()
		anonymous := b.AllowAnonymous || loopback && b.PasswordFile == ""
		switch {
		case !anonymous:
			n := at + ": requires a login, so browser pages from any origin may connect (MQTT's user name and password protect it)"
			if len(l.AllowedOrigins) > 0 {
				n += "; allowed_origins is not needed"
			}
			notes = append(notes, n)
		case slices.Contains(l.AllowedOrigins, "*"):
			notes = append(notes, at+`: accepts anonymous clients and allowed_origins has "*": any web site open in a browser that reaches it may publish to it`)
		default:
			n := at + ": accepts anonymous clients, so only browser pages from its own origin"
			if len(l.AllowedOrigins) > 0 {
				n += " and " + strings.Join(l.AllowedOrigins, ", ")
			}
			notes = append(notes, n+" may connect (others get 403); list a dashboard's origin in allowed_origins, or set password_file to require a login and accept any origin")
		}
	}
	return notes
}
