package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/edgegw/gateway/topic"
)

// ACL is an Authorizer read from a file in Mosquitto's acl_file syntax:
//
//	# rules before the first "user" line apply to anonymous clients
//	topic read public/#
//	user alice
//	topic readwrite alice/#
//	topic sensors/#          # no access word: readwrite
//	topic deny alice/secret/#  # even where a broader rule grants access
//	pattern write devices/%c/# # for every client: %c client id, %u user name
//
// As in Mosquitto, a "deny" rule of the client's user (or, for anonymous
// clients, an anonymous one) or a "pattern deny" that matches the topic
// refuses access whatever else grants it: deny rules are checked first.
// Otherwise access is granted when a rule of the client's user (or, for
// anonymous clients, an anonymous rule) or a pattern covers the topic with
// the asked access; everything else is denied.
//
// For Read, the broker asks twice: at SUBSCRIBE with the topic filter (a
// deny rule refuses it when it covers the whole filter) and at each delivery
// with the message's topic name, so a deny rule inside a granted wildcard
// subscription still holds those messages back.
type ACL struct {
	anonymous []aclRule
	users     map[string][]aclRule
	patterns  []aclRule
}

type aclRule struct {
	filter string
	access Access
}

var _ Authorizer = (*ACL)(nil)

// LoadACLFile reads an ACL file. A parse error lists every bad line as a
// *LineError naming path (see LineErrors).
func LoadACLFile(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load acl file: %w", err)
	}
	a, err := ParseACL(data)
	if err != nil {
		return nil, fmt.Errorf("load acl file: %w", withFile(path, err))
	}
	return a, nil
}

// ParseACL parses the text of an ACL file. It reports every bad line, each
// as a *LineError.
func ParseACL(data []byte) (*ACL, error) {
	a := &ACL{users: map[string][]aclRule{}}
	user, inUser := "", false
	var errs []error
	bad := func(n int, format string, args ...any) {
		errs = append(errs, &LineError{Line: n, Msg: fmt.Sprintf(format, args...)})
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch kw {
		case "user":
			if rest == "" {
				bad(n, "user without a name")
				continue
			}
			user, inUser = rest, true
		case "topic", "pattern":
			r, err := parseRule(rest)
			if err != nil {
				bad(n, "%s %v", kw, err)
				continue
			}
			switch {
			case kw == "pattern":
				a.patterns = append(a.patterns, r)
			case inUser:
				a.users[user] = append(a.users[user], r)
			default:
				a.anonymous = append(a.anonymous, r)
			}
		default:
			bad(n, "unknown keyword %q (want user, topic or pattern)", kw)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse acl: %w", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

func parseRule(s string) (aclRule, error) {
	r := aclRule{access: ReadWrite}
	word, rest, ok := strings.Cut(s, " ")
	switch word {
	case "read":
		r.access = Read
	case "write":
		r.access = Write
	case "readwrite":
	case "deny":
		r.access = deny
	default:
		rest, ok = s, true
	}
	r.filter = strings.TrimSpace(rest)
	if !ok || r.filter == "" {
		return r, fmt.Errorf("%q: missing topic filter", s)
	}
	if err := topic.ValidFilter(strings.NewReplacer("%u", "u", "%c", "c").Replace(r.filter)); err != nil {
		return r, fmt.Errorf("%q: %w", s, err)
	}
	return r, nil
}

// deny is the access of a "topic deny" or "pattern deny" rule.
const deny Access = 0

// Allow implements Authorizer.
func (a *ACL) Allow(user, clientID, t string, acc Access) bool {
	rules := a.anonymous
	if user != "" {
		rules = a.users[user]
	}
	// Deny rules first, as Mosquitto does: they win over any grant.
	for _, r := range rules {
		if r.access == deny && topic.Covers(r.filter, t) {
			return false
		}
	}
	for _, r := range a.patterns {
		if f, ok := r.expand(user, clientID); ok && r.access == deny && topic.Covers(f, t) {
			return false
		}
	}
	for _, r := range rules {
		if r.access != deny && r.access&acc == acc && topic.Covers(r.filter, t) {
			return true
		}
	}
	for _, r := range a.patterns {
		if r.access == deny || r.access&acc != acc {
			continue
		}
		if f, ok := r.expand(user, clientID); ok && topic.Covers(f, t) {
			return true
		}
	}
	return false
}

// expand substitutes %u and %c in a pattern's filter. A pattern naming a
// user or client id that is empty or would put a wildcard or a level
// separator into the filter never matches (ok false).
func (r aclRule) expand(user, clientID string) (string, bool) {
	if strings.Contains(r.filter, "%u") && (user == "" || strings.ContainsAny(user, "+#/")) ||
		strings.Contains(r.filter, "%c") && (clientID == "" || strings.ContainsAny(clientID, "+#/")) {
		return "", false
	}
	return strings.NewReplacer("%u", user, "%c", clientID).Replace(r.filter), true
}
