package web

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/edgegw/gateway"
)

// Config is the [web] table. Field names follow the TOML keys.
type Config struct {
	Address        string         // [web] address: host:port to listen on, e.g. 127.0.0.1:8080
	Token          gateway.Secret // [web] token: bearer token (also accepted as a basic-auth password)
	SampleInterval time.Duration  // [web] sample_interval: how often the history is sampled (default 5s)
	History        int            // [web] history: samples kept for the chart (default 720: one hour at 5s)
	CertFile       string         // [web] cert_file: PEM certificate chain; with KeyFile the page is served over HTTPS
	KeyFile        string         // [web] key_file: PEM private key

	// Authenticate checks a basic-auth user (e.g. against the broker's
	// password file) and returns nil when the password is right. Optional;
	// not a TOML key. It may be slow (argon2id): successes are cached.
	Authenticate func(user, password string) error
}

// Default returns the defaults of the [web] table.
func Default() Config {
	return Config{Address: "127.0.0.1:8080", SampleInterval: 5 * time.Second, History: 720}
}

// ErrNoAuth is returned by Validate when a non-loopback address has neither a
// token nor an Authenticate function.
var ErrNoAuth = errors.New("a non-loopback address needs a token or a password file")

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		errs = append(errs, fmt.Errorf("web address %q: %w", c.Address, err))
	} else if !isLoopback(host) && c.Token == "" && c.Authenticate == nil {
		errs = append(errs, fmt.Errorf("web address %q: %w", c.Address, ErrNoAuth))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("web cert_file and key_file: set both (HTTPS) or neither"))
	}
	if c.SampleInterval < 0 {
		errs = append(errs, fmt.Errorf("web sample_interval %v: want > 0", c.SampleInterval))
	}
	if c.History < 0 {
		errs = append(errs, fmt.Errorf("web history %d: want > 0", c.History))
	}
	return errors.Join(errs...)
}

// NeedsAuth reports whether requests to c.Address must authenticate: true
// unless the host is a loopback address (127.0.0.0/8, ::1 or localhost).
func (c Config) NeedsAuth() bool {
	host, _, err := net.SplitHostPort(c.Address)
	return err != nil || !isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.SampleInterval == 0 {
		c.SampleInterval = d.SampleInterval
	}
	if c.History == 0 {
		c.History = d.History
	}
	return c
}
