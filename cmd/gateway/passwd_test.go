package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/gateway/broker/auth"
)

func TestPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	set := func(user, password string) error {
		stdin = strings.NewReader(password + "\n")
		t.Cleanup(func() { stdin = os.Stdin })
		var out bytes.Buffer
		return run(t.Context(), []string{"passwd", file, user}, &out, &out)
	}
	if err := set("alice", "first"); err != nil {
		t.Fatal(err)
	}
	if err := set("bob", "hunter2"); err != nil {
		t.Fatal(err)
	}
	if err := set("alice", "second"); err != nil {
		t.Fatal(err)
	}
	pf, err := auth.LoadPasswordFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, password string
		ok             bool
	}{{"alice", "second", true}, {"alice", "first", false}, {"bob", "hunter2", true}, {"carol", "x", false}} {
		err := pf.Authenticate(c.user, []byte(c.password))
		if (err == nil) != c.ok {
			t.Errorf("Authenticate(%s, %s): %v, want ok=%v", c.user, c.password, err, c.ok)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode: %v %v, want 0600", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), "hunter2") {
		t.Error("the password file holds a plain password")
	}
	if err := set("dave", ""); err == nil || !strings.Contains(err.Error(), "empty password") {
		t.Errorf("empty password: got %v", err)
	}
	if err := set("bad:name", "x"); err == nil {
		t.Error("user name with ':': want an error")
	}
}
