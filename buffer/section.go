package buffer

import (
	"path/filepath"
	"time"

	"github.com/edgegw/gateway/config"
)

// The buffer's part of the config file: the [buffer] table's defaults
// (DefaultSection), its rules (CheckSection, with Check) and its compiling
// into a Config (FromSection), in one place.

// DefaultSection returns the [buffer] table's defaults: Default's.
func DefaultSection() config.Buffer {
	d := Default("")
	return config.Buffer{MaxBytes: config.Size(d.MaxBytes), MaxAge: config.Dur(d.MaxAge), FlushInterval: config.Dur(d.FlushInterval)}
}

// FromSection compiles the [buffer] table s into a Config: the database
// is s.Path, or buffer.db in dataDir. flush_interval "0s" keeps the
// default.
func FromSection(s config.Buffer, dataDir string) Config {
	path := s.Path
	if path == "" {
		path = filepath.Join(dataDir, "buffer.db")
	}
	c := Default(path)
	c.MaxBytes = s.MaxBytes.Bytes
	c.MaxAge = s.MaxAge.Duration
	if s.FlushInterval.Duration != 0 {
		c.FlushInterval = s.FlushInterval.Duration
	}
	return c
}

// Check reports every problem of c's values through r, each at its key:
// the rules for a Config built in Go (Validate) and for the config file
// (CheckSection).
func (c Config) Check(r config.Reporter) {
	if c.Path == "" {
		r.Problem("path", "missing: want the database file, e.g. \"/var/lib/gateway/buffer.db\"")
	}
	if c.MaxBytes < 0 {
		r.Problem("max_bytes", "%d: want 0 or more (0 for no limit)", c.MaxBytes)
	}
	if c.MaxAge < 0 {
		r.Problem("max_age", "%s: want 0 or more (0 keeps messages forever)", c.MaxAge)
	}
	if c.FlushInterval <= 0 || c.FlushInterval > time.Minute {
		r.Problem("flush_interval", "%s: want more than 0 and at most 1m", c.FlushInterval)
	}
	if c.BatchSize < 0 {
		r.Problem("batch_size", "%d: want 0 or more", c.BatchSize)
	}
	if c.MetaInterval < 0 {
		r.Problem("meta_interval", "%s: want 0 or more", c.MetaInterval)
	}
}

// maxFileFlush is the longest flush_interval the config file takes:
// messages wait this long in memory, lost if the power fails.
const maxFileFlush = 10 * time.Second

// CheckSection reports every problem of the [buffer] table s through r:
// Check's rules on what it compiles to, and the file's own limits.
func CheckSection(s config.Buffer, r config.Reporter) {
	c := FromSection(s, "data_dir")
	if c.FlushInterval > maxFileFlush {
		r.Problem("flush_interval", "%v: want at most 10s (messages wait this long in memory)", c.FlushInterval)
		c.FlushInterval = maxFileFlush // reported: not again by Check
	}
	c.Check(r)
	if s.MaxBytes.Valid() && s.MaxBytes.Bytes != 0 && s.MaxBytes.Bytes < 1<<20 {
		r.Problem("max_bytes", "%d: want at least 1MiB (or 0 for no limit)", s.MaxBytes.Bytes)
	}
}

// Component is the [buffer] table's row of the component table.
func Component() config.Component {
	return config.Component{Name: "buffer",
		Default: func(c *config.Config) { c.Buffer = DefaultSection() },
		Check:   func(c *config.Config, p *config.Problems) { CheckSection(c.Buffer, p.Reporter(config.At("buffer"))) },
	}
}
