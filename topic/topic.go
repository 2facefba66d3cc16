// Package topic validates MQTT topic names and topic filters, matches them,
// and keeps subscriptions in a tree whose matching cost depends on the depth
// of a topic, not on the number of subscriptions (MQTT 3.1.1 section 4.7).
package topic

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by the errors of ValidName and ValidFilter.
var ErrInvalid = errors.New("invalid topic")

// MaxLen is the longest topic name or filter: a UTF-8 string of at most
// 65535 bytes (section 1.5.3).
const MaxLen = 65535

// MaxLevels is the most levels a topic name or filter may have, as in
// Mosquitto (TOPIC_HIERARCHY_LIMIT): a deep filter costs a tree node per
// level, so without it one large SUBSCRIBE could take hundreds of MB.
const MaxLevels = 200

// TooDeep reports whether t has more than MaxLevels levels.
func TooDeep(t string) bool { return len(t) >= MaxLevels && strings.Count(t, "/") >= MaxLevels }

// ValidName checks a topic name as used in PUBLISH: at least one character
// [MQTT-4.7.3-1] and no wildcard characters [MQTT-3.3.2-2].
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name: empty: %w", ErrInvalid)
	case len(name) > MaxLen:
		return fmt.Errorf("topic name: too long: %w", ErrInvalid)
	case strings.ContainsAny(name, "+#\x00"):
		return fmt.Errorf("topic name %q: wildcard or NUL: %w", name, ErrInvalid)
	case TooDeep(name):
		return fmt.Errorf("topic name: more than %d levels: %w", MaxLevels, ErrInvalid)
	}
	return nil
}

// ValidFilter checks a topic filter: at least one character
// [MQTT-4.7.3-1]; '#' only as a whole last level [MQTT-4.7.1-2]; '+' only
// as a whole level [MQTT-4.7.1-3].
func ValidFilter(filter string) error {
	if filter == "" {
		return fmt.Errorf("topic filter: empty: %w", ErrInvalid)
	}
	if len(filter) > MaxLen || strings.IndexByte(filter, 0) >= 0 {
		return fmt.Errorf("topic filter: too long or NUL: %w", ErrInvalid)
	}
	if TooDeep(filter) {
		return fmt.Errorf("topic filter: more than %d levels: %w", MaxLevels, ErrInvalid)
	}
	rest := filter
	for {
		level, tail, more := strings.Cut(rest, "/")
		if strings.ContainsAny(level, "+#") && len(level) != 1 {
			return fmt.Errorf("topic filter %q: wildcard inside a level: %w", filter, ErrInvalid)
		}
		if level == "#" && more {
			return fmt.Errorf("topic filter %q: '#' not last: %w", filter, ErrInvalid)
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// Match reports whether topic name matches filter. Both must be valid. A
// topic starting with '$' is not matched by a filter starting with a
// wildcard [MQTT-4.7.2-1].
func Match(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, fRest, fMore := strings.Cut(filter, "/")
		if f == "#" {
			return true // [MQTT-4.7.1-2] also matches the parent level
		}
		t, tRest, tMore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		switch {
		case !fMore && !tMore:
			return true
		case !tMore:
			return fRest == "#" // "a/#" matches "a"
		case !fMore:
			return false
		}
		filter, topic = fRest, tRest
	}
}

// Covers reports whether every topic matched by filter inner is matched by
// filter outer (used by ACLs to decide whether a subscription is allowed).
func Covers(outer, inner string) bool {
	if inner != "" && inner[0] == '$' && outer != "" && (outer[0] == '+' || outer[0] == '#') {
		return false
	}
	for {
		o, oRest, oMore := strings.Cut(outer, "/")
		if o == "#" {
			return true
		}
		i, iRest, iMore := strings.Cut(inner, "/")
		switch {
		case i == "#":
			return false // only '#' covers '#'
		case o == "+":
		case i == "+" || o != i:
			return false
		}
		switch {
		case !oMore && !iMore:
			return true
		case !iMore:
			return oRest == "#"
		case !oMore:
			return false
		}
		outer, inner = oRest, iRest
	}
}
