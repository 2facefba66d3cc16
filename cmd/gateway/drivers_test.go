package main

import (
	"os"
	"slices"
	"testing"

	"github.com/edgegw/gateway/config"
)

// TestExampleDocumentsEveryDriverKey: every key of every driver in the
// table is shown in config.toml.example (config's own test uses a copy of
// the table; this one cannot drift from it).
func TestExampleDocumentsEveryDriverKey(t *testing.T) {
	src, err := os.ReadFile("../../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	shown := config.DocumentedKeys(src)
	for _, k := range config.FieldKeys(configDrivers()) {
		if !slices.Contains(shown, k) {
			t.Errorf("config.toml.example does not document key %q", k)
		}
	}
}
