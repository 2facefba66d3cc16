package main

import (
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/config"
)

// checkBrokerFiles parses the password and ACL files [broker] names, as the
// broker does when it starts, so that `gateway check` reports their
// problems (each with the file and line) instead of `gateway run` failing.
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
