package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestSetPasswordAndAuthenticate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := SetPassword(path, "alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "bob", "hunter2"); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "alice", "new"); err != nil { // replaces
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "alice:$argon2id$"); n != 1 {
		t.Errorf("file has %d alice lines, want 1:\n%s", n, data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	f, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, pw string
		ok       bool
	}{
		{"alice", "new", true},
		{"alice", "secret", false},
		{"bob", "hunter2", true},
		{"carol", "x", false},
	}
	for _, tc := range cases {
		err := f.Authenticate(tc.user, []byte(tc.pw))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadCredentials)) {
			t.Errorf("Authenticate(%q, %q) = %v, want ok=%v", tc.user, tc.pw, err, tc.ok)
		}
	}
}

func TestBcryptHash(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := parsePasswords([]byte("# comment\n\ncarl:" + string(h) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := &PasswordFile{users: users}
	if err := f.Authenticate("carl", []byte("pw")); err != nil {
		t.Errorf("bcrypt good password: %v", err)
	}
	if err := f.Authenticate("carl", []byte("px")); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("bcrypt bad password: %v, want ErrBadCredentials", err)
	}
}

func TestParsePasswordsBad(t *testing.T) {
	if _, err := parsePasswords([]byte("nohash\n")); err == nil {
		t.Error("line without ':' accepted")
	}
}

func TestACL(t *testing.T) {
	a, err := ParseACL([]byte(`
# anonymous
topic read public/#
user alice
topic readwrite alice/#
topic write cmd/+
topic shared
user bob
topic read alice/status
pattern write devices/%c/#
pattern read users/%u/#
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, client, topic string
		acc                 Access
		want                bool
	}{
		{"", "x", "public/a", Read, true},
		{"", "x", "public/a", Write, false},
		{"", "x", "alice/a", Read, false},
		{"alice", "c", "alice/a/b", Write, true},
		{"alice", "c", "alice/#", Read, true},
		{"alice", "c", "public/a", Read, false}, // anonymous rules are not inherited
		{"alice", "c", "cmd/x", Write, true},
		{"alice", "c", "cmd/x", Read, false},
		{"alice", "c", "cmd/#", Write, false},
		{"alice", "c", "shared", ReadWrite, true},
		{"bob", "c", "alice/status", Read, true},
		{"bob", "c", "alice/status", Write, false},
		{"bob", "c", "alice/+", Read, false},
		{"bob", "dev1", "devices/dev1/temp", Write, true},
		{"bob", "dev1", "devices/dev2/temp", Write, false},
		{"", "dev1", "devices/dev1/temp", Write, true},
		{"bob", "c", "users/bob/x", Read, true},
		{"", "c", "users//x", Read, false},
		{"a+", "c", "users/a+/x", Read, false},
	}
	for _, tc := range cases {
		if got := a.Allow(tc.user, tc.client, tc.topic, tc.acc); got != tc.want {
			t.Errorf("Allow(%q, %q, %q, %d) = %v, want %v", tc.user, tc.client, tc.topic, tc.acc, got, tc.want)
		}
	}
}

func TestParseACLBad(t *testing.T) {
	for _, text := range []string{"bogus x\n", "user\n", "topic read\n", "topic read a/#/b\n"} {
		if _, err := ParseACL([]byte(text)); err == nil {
			t.Errorf("ParseACL(%q) = nil error", text)
		}
	}
}
