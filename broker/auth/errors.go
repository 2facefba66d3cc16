package auth

import (
	"errors"
	"fmt"
)

// ErrBusy is returned by Authenticate when too many password checks are
// already waiting, or one waited longer than its timeout: the broker
// answers CONNACK 0x03 (server unavailable) and the client retries later.
var ErrBusy = errors.New("too many password checks waiting")

// LineError is a problem on one line of a password or ACL file. Parse
// functions return every problem of a file, joined with errors.Join.
type LineError struct {
	File string // "" when parsed from memory
	Line int    // 1-based
	Msg  string
}

func (e *LineError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// LineErrors returns the LineErrors in err (as returned by the Parse and
// Load functions of this package), for callers that report them one by one.
func LineErrors(err error) []*LineError {
	var out []*LineError
	var walk func(error)
	walk = func(err error) {
		if le, ok := err.(*LineError); ok {
			out = append(out, le)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// withFile sets File on every LineError in err and returns err.
func withFile(path string, err error) error {
	for _, le := range LineErrors(err) {
		le.File = path
	}
	return err
}
