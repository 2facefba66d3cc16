package auth

import (
	"bufio"
	"bytes"
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
//	pattern write devices/%c/# # for every client: %c client id, %u user name
//
// Access is granted when a rule of the client's user (or, for anonymous
// clients, an anonymous rule) or a pattern covers the topic with the asked
// access; everything else is denied.
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

// LoadACLFile reads an ACL file.
func LoadACLFile(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load acl file: %w", err)
	}
	a, err := ParseACL(data)
	if err != nil {
		return nil, fmt.Errorf("load acl file %s: %w", path, err)
	}
	return a, nil
}

// ParseACL parses the text of an ACL file.
func ParseACL(data []byte) (*ACL, error) {
	a := &ACL{users: map[string][]aclRule{}}
	user, inUser := "", false
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
				return nil, fmt.Errorf("line %d: user without a name", n)
			}
			user, inUser = rest, true
		case "topic", "pattern":
			r, err := parseRule(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
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
			return nil, fmt.Errorf("line %d: unknown keyword %q (want user, topic or pattern)", n, kw)
		}
	}
	return a, sc.Err()
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
		return r, fmt.Errorf("access %q is not supported", word)
	default:
		rest, ok = s, true
	}
	r.filter = strings.TrimSpace(rest)
	if !ok || r.filter == "" {
		return r, fmt.Errorf("rule %q: missing topic filter", s)
	}
	if err := topic.ValidFilter(strings.NewReplacer("%u", "u", "%c", "c").Replace(r.filter)); err != nil {
		return r, fmt.Errorf("rule %q: %w", s, err)
	}
	return r, nil
}

// Allow implements Authorizer.
func (a *ACL) Allow(user, clientID, t string, acc Access) bool {
	rules := a.anonymous
	if user != "" {
		rules = a.users[user]
	}
	for _, r := range rules {
		if r.access&acc == acc && topic.Covers(r.filter, t) {
			return true
		}
	}
	for _, r := range a.patterns {
		if r.access&acc != acc {
			continue
		}
		// A pattern naming a user or client id that would put a wildcard
		// or a level separator into the filter never matches.
		if strings.Contains(r.filter, "%u") && (user == "" || strings.ContainsAny(user, "+#/")) ||
			strings.Contains(r.filter, "%c") && (clientID == "" || strings.ContainsAny(clientID, "+#/")) {
			continue
		}
		f := strings.NewReplacer("%u", user, "%c", clientID).Replace(r.filter)
		if topic.Covers(f, t) {
			return true
		}
	}
	return false
}
