package main

import (
	"io"
	"strings"
	"testing"
)

// TestRunRefusesCertUser: `gateway run` refuses the certificate user
// options without ca_file, at their line, as check does
// (testdata/check/cert-user).
func TestRunRefusesCertUser(t *testing.T) {
	path := "testdata/check/cert-user/config.toml"
	err := run(t.Context(), []string{"run", "-c", path}, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run started")
	}
	for _, want := range []string{
		path + ":12: broker.listeners[0].use_identity_as_username: needs ca_file",
		path + ":21: broker.listeners[1].use_subject_as_username: set together with use_identity_as_username",
		path + ":26: broker.listeners[2].use_subject_as_username: needs ca_file",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("run: %v\nwant %q", err, want)
		}
	}
}
