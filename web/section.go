package web

import (
	"net"

	"github.com/edgegw/gateway/config"
)

// The status page's part of the config file: the [web] table's defaults
// (DefaultSection), its rules (CheckSection, with Check) and its compiling
// into a Config (FromSection), in one place.

// DefaultSection returns the [web] table's defaults: Default's.
func DefaultSection() config.Web {
	return config.Web{Address: Default().Address}
}

// FromSection compiles the [web] table s into a Config. authenticate
// checks a basic-auth login (the broker's password file); nil for none.
func FromSection(s config.Web, authenticate func(user, password string) error) Config {
	c := Default()
	c.Address, c.Token = s.Address, s.Token
	c.CertFile, c.KeyFile = s.CertFile, s.KeyFile
	c.Authenticate = authenticate
	return c
}

// Check reports every problem of c's values through r, each at its key:
// the rules for a Config built in Go (Validate) and for the config file
// (CheckSection).
func (c Config) Check(r config.Reporter) {
	config.CheckAddress(r, "address", c.Address, "127.0.0.1:8080")
	if _, _, err := net.SplitHostPort(c.Address); err == nil && !config.IsLoopback(c.Address) && c.Token == "" && c.Authenticate == nil {
		r.Problem("address", "%q is %w", c.Address, ErrNoAuth)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		r.Problem("cert_file", "set cert_file and key_file both (HTTPS) or neither")
	}
	if c.SampleInterval < 0 {
		r.Problem("sample_interval", "%v: want more than 0", c.SampleInterval)
	}
	if c.History < 0 {
		r.Problem("history", "%d: want more than 0", c.History)
	}
}

// CheckSection reports every problem of the [web] table s through r:
// Check's rules on what it compiles to; address "" (no status page) is
// allowed. login says whether the page can check a password (the
// [broker] password_file is set).
func CheckSection(s config.Web, login bool, r config.Reporter) {
	var auth func(string, string) error
	if login {
		auth = func(string, string) error { return nil } // stands for the password file: only its presence is checked
	}
	c := FromSection(s, auth)
	if c.Address == "" {
		c.Address = Default().Address // off: no address to check
	}
	c.Check(r)
}

// Files lists the files c names, which the page loads when it starts: the
// HTTPS certificate and its key; keys are relative to the [web] table.
func (c Config) Files() []config.File {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil // Check reports one without the other
	}
	return []config.File{config.KeyPairFile(config.At("cert_file"), c.CertFile, c.KeyFile)}
}

// Component is the [web] table's row of the component table. The page
// takes logins when [broker] has a password_file.
func Component() config.Component {
	at := config.At("web")
	return config.Component{Name: "web",
		Default: func(c *config.Config) { c.Web = DefaultSection() },
		Check: func(c *config.Config, p *config.Problems) {
			CheckSection(c.Web, c.Broker.PasswordFile != "", p.Reporter(at))
		},
		Files: func(c *config.Config) []config.File {
			if c.Web.Address == "" {
				return nil // no status page
			}
			return config.Under(at, FromSection(c.Web, nil).Files())
		},
	}
}
