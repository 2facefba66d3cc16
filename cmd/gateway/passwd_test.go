package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestPasswdKeepsOwnerAndMode: `sudo gateway passwd` on a 0640 file owned
// by the service's user leaves it that way, so the service can still read it.
func TestPasswdKeepsOwnerAndMode(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if err := auth.SetPassword(file, "alice", "first"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o640); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534 // as root, hand the file to nobody like to a service user
		if err := os.Chown(file, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	stdin = strings.NewReader("second\n")
	t.Cleanup(func() { stdin = os.Stdin })
	var out bytes.Buffer
	if err := run(t.Context(), []string{"passwd", file, "bob"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("after gateway passwd: mode %v owner %d:%d, want 0640 %d:%d", fi.Mode().Perm(), st.Uid, st.Gid, uid, gid)
	}
}
