package buffer

import (
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/internal/clock"
)

// Config configures a Buffer. Field names follow the [buffer] TOML keys.
type Config struct {
	// Path is the SQLite database file ([buffer] path, default <data_dir>/buffer.db).
	Path string
	// MaxBytes caps the stored messages (topic + payload + RowOverhead per
	// message); when exceeded, the oldest are dropped. 0 means no cap.
	MaxBytes int64
	// MaxAge drops messages accepted longer ago than this. 0 means no limit.
	MaxAge time.Duration
	// FlushInterval is how long an appended message may wait in memory (for an
	// upstream acknowledgement while the uplink is up) before it is committed.
	// While the uplink is down, messages are committed as soon as the previous
	// commit finished.
	FlushInterval time.Duration
	// BatchSize commits early once this many messages are waiting.
	BatchSize int
	// MetaInterval is how often the last upstream acknowledgement time is
	// written to the database when nothing else is: each such commit costs
	// about 20 KB of writes (WAL frame, shared-memory index), so the default
	// of 5 minutes keeps steady online state near 250 KB/hour. It is also
	// written with every other commit and every uplink state change, so
	// `gateway buffer stats` is exact whenever the uplink is down.
	MetaInterval time.Duration
	// Clock measures MaxAge: a message's age is the time since boot now
	// less at its acceptance when both are of the same boot, so a wall
	// clock set by days (NTP on a Pi without a real-time clock) neither
	// drops nor keeps messages wrongly; rows of an earlier boot fall back
	// to the wall clock. Default: the system's clock.
	Clock gateway.Clock
}

// RowOverhead is the per-message overhead counted against MaxBytes on top of
// the topic and payload lengths (row header, id, timestamps, index entry).
const RowOverhead = 32

// Default returns the default configuration for a database at path: the
// defaults of the [buffer] table too (DefaultSection).
func Default(path string) Config {
	return Config{
		Path:          path,
		MaxBytes:      256 << 20,
		MaxAge:        7 * 24 * time.Hour,
		FlushInterval: 100 * time.Millisecond,
		BatchSize:     2000,
		MetaInterval:  5 * time.Minute,
	}
}

// Validate reports every problem with c (the rules of Check), joined with
// errors.Join.
func (c Config) Validate() error {
	r := config.NewErrReporter()
	c.Check(r.Under("buffer"))
	return r.Err()
}

// withDefaults fills zero optional fields.
func (c Config) withDefaults() Config {
	d := Default(c.Path)
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.MetaInterval == 0 {
		c.MetaInterval = d.MetaInterval
	}
	if c.Clock == nil {
		c.Clock = clock.NewSystem()
	}
	return c
}
