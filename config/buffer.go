package config

import "time"

// Buffer is the [buffer] table: the on-disk store-and-forward queue.
type Buffer struct {
	Path          string   `toml:"path"`           // default: <data_dir>/buffer.db
	MaxBytes      ByteSize `toml:"max_bytes"`      // oldest messages are dropped beyond this
	MaxAge        Duration `toml:"max_age"`        // and beyond this age; "0s" keeps them forever
	FlushInterval Duration `toml:"flush_interval"` // group commit: the longest a message waits to be written
}

func defaultBuffer() Buffer {
	return Buffer{MaxBytes: Size(256 << 20), MaxAge: Dur(7 * 24 * time.Hour), FlushInterval: Dur(100 * time.Millisecond)}
}

func (b *Buffer) validate(p *Problems) {
	base := At("buffer")
	b.MaxBytes.check(p, base.Key("max_bytes"))
	b.MaxAge.check(p, base.Key("max_age"))
	b.FlushInterval.check(p, base.Key("flush_interval"))
	if b.FlushInterval.Duration > 10*time.Second {
		p.Add(base.Key("flush_interval"), "%v: want at most 10s (messages wait this long in memory)", b.FlushInterval.Duration)
	}
	if b.MaxBytes.bad == "" && b.MaxBytes.Bytes != 0 && b.MaxBytes.Bytes < 1<<20 {
		p.Add(base.Key("max_bytes"), "%d: want at least 1MiB (or 0 for no limit)", b.MaxBytes.Bytes)
	}
}
