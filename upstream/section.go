package upstream

import "github.com/edgegw/gateway/config"

// Component is the [upstream] table's row of the component table: the
// forwarder's rules (Check) on the configuration the table compiles to
// (FromFile), and the files it reads when it starts (Files), only when
// it would start (a url and forward rules).
func Component() config.Component {
	at := config.At("upstream")
	return config.Component{Name: "upstream",
		Check: func(c *config.Config, p *config.Problems) {
			r := p.Reporter(at)
			if v := c.Upstream.ProtocolVersion; v != nil && *v == 0 {
				// Config's 0 is "the default": the file's 0 is a mistake.
				r.Problem("protocol_version", "0: want 4 (MQTT 3.1.1, the default) or 5 (MQTT 5.0)")
			}
			FromFile(c).Check(r)
		},
		Files: func(c *config.Config) []config.File {
			if len(c.Upstream.Forward) == 0 || c.Upstream.URL == "" {
				return nil // no forwarder
			}
			return config.Under(at, FromFile(c).Files())
		},
	}
}

// FromFile compiles the [upstream] table of c (FromConfig), with the
// gateway's name as the client id when the table names none. Birth and
// Will are the caller's.
func FromFile(c *config.Config) Config {
	uc := FromConfig(c.Upstream)
	if c.Upstream.ClientID == "" {
		uc.ClientID = c.Gateway.Name
	}
	return uc
}
