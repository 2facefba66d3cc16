package main

import (
	"strings"
	"testing"
	"time"
)

// TestBrokerConfigSessionExpiry: [broker] session_expiry reaches the
// broker, with the config's default of a week and "0s" for never.
func TestBrokerConfigSessionExpiry(t *testing.T) {
	for _, tc := range []struct {
		toml string
		want time.Duration
	}{
		{"", 7 * 24 * time.Hour},
		{"[broker]\nsession_expiry = \"36h\"\n", 36 * time.Hour},
		{"[broker]\nsession_expiry = \"0s\"\n", 0},
	} {
		cfg, err := parseConfig("config.toml", strings.NewReader(tc.toml))
		if err != nil {
			t.Fatalf("%q: %v", tc.toml, err)
		}
		if got := brokerConfig(cfg).SessionExpiry; got != tc.want {
			t.Errorf("%q: SessionExpiry = %v, want %v", tc.toml, got, tc.want)
		}
	}
}
