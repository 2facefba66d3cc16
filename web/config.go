package web

import (
	"errors"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/config"
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

// Default returns the defaults of the [web] table (DefaultSection).
func Default() Config {
	return Config{Address: "127.0.0.1:8080", SampleInterval: 5 * time.Second, History: 720}
}

// ErrNoAuth is the problem of a non-loopback address with neither a token
// nor an Authenticate function (in the file: nor a [broker] password_file).
var ErrNoAuth = errors.New("reachable from the network: set [web] token or [broker] password_file so the page requires a login")

// Validate reports every problem with c (the rules of Check), joined with
// errors.Join.
func (c Config) Validate() error {
	r := config.NewErrReporter()
	c.Check(r.Under("web"))
	return r.Err()
}

// NeedsAuth reports whether requests to c.Address must authenticate: true
// unless the host is a loopback address (127.0.0.0/8, ::1 or localhost).
func (c Config) NeedsAuth() bool {
	return !config.IsLoopback(c.Address)
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
