package homeassistant

import (
	"strings"

	"github.com/edgegw/gateway/config"
)

// Discovery's part of the config file: the [homeassistant] table's
// defaults (DefaultSection) and rules (CheckSection), in one place. The
// points' ha_* keys are common point keys, config's.

// DefaultDiscoveryPrefix is Home Assistant's own default discovery prefix.
const DefaultDiscoveryPrefix = "homeassistant"

// DefaultSection returns the [homeassistant] table's defaults: off, under
// Home Assistant's default prefix.
func DefaultSection() config.HomeAssistant {
	return config.HomeAssistant{DiscoveryPrefix: DefaultDiscoveryPrefix}
}

// CheckSection reports every problem of the [homeassistant] table s
// through r, each at its key.
func CheckSection(s config.HomeAssistant, r config.Reporter) {
	p := s.DiscoveryPrefix
	switch {
	case p == "":
		r.Problem("discovery_prefix", "empty: want Home Assistant's discovery prefix (%q unless you changed it there)", DefaultDiscoveryPrefix)
	case strings.ContainsAny(p, "+#") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		r.Problem("discovery_prefix", "%q: want topic levels without wildcards and without a leading or trailing /", p)
	}
}

// Component is the [homeassistant] table's row of the component table.
func Component() config.Component {
	at := config.At("homeassistant")
	return config.Component{Name: "homeassistant",
		Default: func(c *config.Config) { c.HomeAssistant = DefaultSection() },
		Check:   func(c *config.Config, p *config.Problems) { CheckSection(c.HomeAssistant, p.Reporter(at)) },
	}
}
