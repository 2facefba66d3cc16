package gateway

import "log/slog"

// Secret is a credential (a password, a token) that never appears in logs,
// printed configs or error messages: it prints as "<redacted>", or as
// nothing when it is empty. Reveal returns the value for the one place
// that needs it.
type Secret string

// Redacted is how a set Secret prints.
const Redacted = "<redacted>"

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString redacts the secret for %#v too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer so a Secret logs redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// MarshalText redacts the secret in JSON and other encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
