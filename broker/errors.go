package broker

import "errors"

// ErrNotAuthorized is returned by in-process publishes and subscriptions
// that the ACL denies.
var ErrNotAuthorized = errors.New("not authorized")
