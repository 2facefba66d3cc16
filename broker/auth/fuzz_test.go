package auth

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseACL: any text either parses or fails with line errors, never
// panics; a parsed ACL answers Allow for any question.
func FuzzParseACL(f *testing.F) {
	for _, seed := range []string{
		"topic read public/#\ntopic deny public/private/#\nuser alice\ntopic readwrite alice/#\ntopic deny alice/secret\n",
		"user bob\ntopic readwrite #\npattern deny +/%u/hidden\npattern write devices/%c/#\n",
		"bogus x\nuser\ntopic deny\ntopic read a/#/b\n",
		"# comment\n\n  topic   sensors/#  \n",
	} {
		f.Add(seed, "alice", "c1", "alice/x")
	}
	f.Fuzz(func(t *testing.T, text, user, client, topic string) {
		a, err := ParseACL([]byte(text))
		if err != nil {
			if len(LineErrors(err)) == 0 {
				t.Fatalf("ParseACL error without line errors: %v", err)
			}
			return
		}
		for _, acc := range []Access{Read, Write, ReadWrite} {
			a.Allow(user, client, topic, acc)
		}
	})
}

// FuzzParsePasswordFile: any text either parses or fails with line errors,
// never panics; a parsed file refuses a wrong password.
func FuzzParsePasswordFile(f *testing.F) {
	f.Add("alice:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5\n", "alice")
	f.Add("# c\nbob\ncarl:$argon2id$v=19$m=x$a$b\ndave:$md5$abc\n", "bob")
	f.Add("eve:$2a$04$abcdefghijklmnopqrstuuJ4x3Zb8YQk9c6kqj2xJ5dY1m3z5Qe5W\n", "eve")
	f.Fuzz(func(t *testing.T, text, user string) {
		pf, err := ParsePasswordFile([]byte(text))
		if err != nil {
			if len(LineErrors(err)) == 0 {
				t.Fatalf("ParsePasswordFile error without line errors: %v", err)
			}
			return
		}
		pf.verify = func(hash string, pw []byte) error { // the format, not the hash cost
			if _, _, err := parseArgon2id(hash); err != nil && !strings.HasPrefix(hash, "$2") {
				t.Fatalf("parsed hash %q fails to parse: %v", hash, err)
			}
			return ErrBadCredentials
		}
		if err := pf.Authenticate(user, []byte("wrong")); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("Authenticate = %v, want ErrBadCredentials", err)
		}
	})
}
