// Package auth checks MQTT client credentials against a password file and
// topic access against a Mosquitto-like ACL file.
//
// Both are one-method interfaces so the broker can be given other
// implementations (or none: a nil Authenticator accepts everyone, a nil
// Authorizer allows everything).
package auth

import "errors"

// ErrBadCredentials is returned by Authenticate for an unknown user or a
// wrong password; the broker answers CONNACK 0x04.
var ErrBadCredentials = errors.New("bad user name or password")

// Authenticator checks a user name and password. Authenticate is called
// concurrently from many connections; it returns nil to accept, an error
// wrapping ErrBadCredentials to refuse.
type Authenticator interface {
	Authenticate(username string, password []byte) error
}

// Access is the kind of access asked of an Authorizer.
type Access uint8

// Access kinds; ReadWrite is Read|Write.
const (
	Read      Access = 1 // subscribe / receive
	Write     Access = 2 // publish
	ReadWrite Access = Read | Write
)

// Authorizer decides topic access. Allow is called concurrently; for Read
// the topic is a subscription's topic filter, for Write a topic name. user is
// "" for an anonymous client; clientID is "" for in-process callers.
type Authorizer interface {
	Allow(user, clientID, topic string, a Access) bool
}
