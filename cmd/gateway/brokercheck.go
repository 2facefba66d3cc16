package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/edgegw/gateway/config"
)

// onThisMachine labels the problems that depend on the machine the check
// runs on (the files a config names, the data directory): `gateway check
// --offline` skips them, to check a config before copying it to its
// machine.
type onThisMachine struct{ r config.Reporter }

func (m onThisMachine) Problem(key, format string, args ...any) {
	m.r.Problem(key, "on this machine: "+format, args...)
}

func (m onThisMachine) Elem(key string, i int, name string) config.Reporter {
	return onThisMachine{m.r.Elem(key, i, name)}
}

// checkOptions are what `gateway check` may leave out.
type checkOptions struct {
	// offline skips the checks that depend on this machine (the files a
	// config names, the data directory), for a config made elsewhere.
	offline bool
}

// checkMachine runs the checks of what a config names on this machine, as
// run meets them before it opens any socket, port or database: every file
// the components list (config.Component.Files) exists and loads as the
// component loads it, and the data directory can be written.
func checkMachine(cfg *config.Config, probs *config.Problems) {
	checkDataDir(cfg, onThisMachine{probs.Reporter(config.At("gateway"))})
	for _, comp := range components {
		if comp.Files == nil {
			continue
		}
		for _, f := range comp.Files(cfg) {
			for _, err := range f.Problems() {
				probs.Add(f.Key, "on this machine: %v", err)
			}
		}
	}
}

// checkDataDir reports a data_dir that run could not create or write.
func checkDataDir(cfg *config.Config, r config.Reporter) {
	dir := cfg.Gateway.DataDir
	if dir == "" {
		return // the config reports it
	}
	// The nearest directory that exists must be writable: run creates the rest.
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) && d != filepath.Dir(d) {
			continue
		}
		switch {
		case err != nil:
			r.Problem("data_dir", "%v", err)
		case !fi.IsDir():
			r.Problem("data_dir", "%s is not a directory", d)
		case syscall.Access(d, 2 /* W_OK */) != nil:
			what := "the directory"
			if d != dir {
				what = fmt.Sprintf("%q does not exist, and its parent", dir)
			}
			r.Problem("data_dir", "%s %s is not writable by this user (uid %d)", what, d, os.Getuid())
		}
		return
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
		certUser := l.UseIdentityAsUsername || l.UseSubjectAsUsername
		anonymous := !certUser && (b.AllowAnonymous || loopback && b.PasswordFile == "")
		switch {
		case certUser:
			notes = append(notes, at+": takes the user name from the client certificate, so browser pages from any origin may connect (the certificate protects it)")
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
