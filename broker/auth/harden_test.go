package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/testutil"
)

// TestACLDeny: "topic deny" and "pattern deny" win over any grant, as in
// Mosquitto's acl_file; a deny inside a granted wildcard refuses the
// topic names (checked at delivery), not the wider subscription.
func TestACLDeny(t *testing.T) {
	a, err := ParseACL([]byte(`
topic read public/#
topic deny public/private/#
user alice
topic readwrite alice/#
topic deny alice/secret
topic deny alice/vault/#
user bob
topic readwrite #
pattern deny +/%u/hidden
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, topic string
		acc         Access
		want        bool
	}{
		{"", "public/a", Read, true},
		{"", "public/private/a", Read, false},
		{"", "public/#", Read, true}, // granted; private/... held back at delivery
		{"", "public/private/#", Read, false},
		{"alice", "alice/x", ReadWrite, true},
		{"alice", "alice/secret", Read, false},
		{"alice", "alice/secret", Write, false},
		{"alice", "alice/vault/a/b", Write, false},
		{"alice", "alice/vault/#", Read, false},
		{"alice", "alice/#", Read, true},
		{"bob", "x/bob/hidden", Read, false},
		{"bob", "x/alice/hidden", Read, true},
		{"bob", "alice/secret", Read, true}, // alice's deny is hers alone
	}
	for _, tc := range cases {
		if got := a.Allow(tc.user, "c", tc.topic, tc.acc); got != tc.want {
			t.Errorf("Allow(%q, %q, %d) = %v, want %v", tc.user, tc.topic, tc.acc, got, tc.want)
		}
	}
}

// TestParseErrorsWithLines: every bad line is reported with the file and
// its line number.
func TestParseErrorsWithLines(t *testing.T) {
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	os.WriteFile(acl, []byte("# ok\ntopic read a/#\nbogus x\nuser\ntopic deny\ntopic read a/#/b\n"), 0o600)
	_, err := LoadACLFile(acl)
	var got []string
	for _, le := range LineErrors(err) {
		got = append(got, le.Error())
	}
	want := []string{acl + ":3: unknown keyword \"bogus\" (want user, topic or pattern)",
		acl + ":4: user without a name", acl + ":5: topic \"deny\": missing topic filter"}
	if len(got) != 4 || strings.Join(got[:3], "\n") != strings.Join(want, "\n") || !strings.HasPrefix(got[3], acl+":6: ") {
		t.Errorf("acl errors:\n%s\nwant\n%s\nand line 6", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	pw := filepath.Join(dir, "passwd")
	h, _ := HashPassword("x")
	os.WriteFile(pw, []byte("alice:"+h+"\nbob\ncarl:$argon2id$v=19$m=x$a$b\ndave:$md5$abc\nalice:"+h+"\n"), 0o600)
	_, err = LoadPasswordFile(pw)
	got = got[:0]
	for _, le := range LineErrors(err) {
		got = append(got, le.File+":"+itoa(le.Line))
	}
	if strings.Join(got, " ") != pw+":2 "+pw+":3 "+pw+":4 "+pw+":5" {
		t.Errorf("password file errors at %v, want lines 2-5; err: %v", got, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestAuthenticateBusy: with every verification slot taken and the
// waiting queue full, Authenticate fails at once with ErrBusy instead of
// queueing without bound; a waiting check gives up after its timeout; a
// user verified before gets in without waiting.
func TestAuthenticateBusy(t *testing.T) {
	h, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	f := newPasswordFile(map[string]string{"alice": h})
	if err := f.Authenticate("alice", []byte("pw")); err != nil { // cached from now on
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	f.verify = func(string, []byte) error {
		started <- struct{}{}
		<-release
		return ErrBadCredentials
	}
	f.wait = time.Hour
	var wg sync.WaitGroup
	for range verifyConcurrency + maxWaiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Authenticate("mallory", []byte("guess"))
		}()
	}
	for range verifyConcurrency {
		<-started
	}
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("%d waiting verifications", maxWaiting), func() bool {
		return f.waiting.Load() >= maxWaiting
	})
	done := make(chan error, 1)
	go func() { done <- f.Authenticate("mallory", []byte("one more")) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) {
			t.Errorf("Authenticate with a full queue = %v, want ErrBusy", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Authenticate with a full queue blocked")
	}
	if err := f.Authenticate("alice", []byte("pw")); err != nil {
		t.Errorf("a verified user during the flood: %v, want nil", err)
	}
	close(release)
	wg.Wait()

	// A waiter that cannot get a slot within f.wait gives up.
	f.wait = 10 * time.Millisecond
	f.sem <- struct{}{}
	f.sem <- struct{}{}
	if err := f.Authenticate("bob", []byte("x")); !errors.Is(err, ErrBusy) {
		t.Errorf("Authenticate after the wait = %v, want ErrBusy", err)
	}
}

// TestSetPasswordKeepsOwnerAndMode: replacing the file keeps its mode,
// owner and group (a 0640 root:gateway file stays readable by the service).
func TestSetPasswordKeepsOwnerAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := SetPassword(path, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534 // nobody: only root may give a file away
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := SetPassword(path, "bob", "b"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("after SetPassword: mode %v owner %d:%d, want 0640 %d:%d", fi.Mode().Perm(), st.Uid, st.Gid, uid, gid)
	}
}

// TestSuccessCacheKeyIsUnambiguous: a cached success for user "a" with
// password "b\x00c" lets in no user "a\x00b" with password "c" (HTTP basic
// auth can carry such a user name).
func TestSuccessCacheKeyIsUnambiguous(t *testing.T) {
	f := newPasswordFile(map[string]string{"a": "$argon2id$unused"})
	f.verify = func(_ string, pw []byte) error {
		if string(pw) == "b\x00c" {
			return nil
		}
		return ErrBadCredentials
	}
	if err := f.Authenticate("a", []byte("b\x00c")); err != nil {
		t.Fatal(err)
	}
	if err := f.Authenticate("a", []byte("b\x00c")); err != nil {
		t.Fatalf("cached: %v", err)
	}
	if err := f.Authenticate("a\x00b", []byte("c")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("user a\\x00b: %v, want bad credentials", err)
	}
}
