package config

import "time"

// Buffer is the [buffer] table: the on-disk store-and-forward queue.
type Buffer struct {
	Path     string   `toml:"path"`      // default: <data_dir>/buffer.db
	MaxBytes ByteSize `toml:"max_bytes"` // oldest messages are dropped beyond this
	MaxAge   Duration `toml:"max_age"`   // and beyond this age; "0s" keeps them forever
}

func defaultBuffer() Buffer {
	return Buffer{MaxBytes: Size(256 << 20), MaxAge: Dur(7 * 24 * time.Hour)}
}

func (b *Buffer) validate(p *Problems) {
	base := At("buffer")
	b.MaxBytes.check(p, base.Key("max_bytes"))
	b.MaxAge.check(p, base.Key("max_age"))
	if b.MaxBytes.bad == "" && b.MaxBytes.Bytes != 0 && b.MaxBytes.Bytes < 1<<20 {
		p.Add(base.Key("max_bytes"), "%d: want at least 1MiB (or 0 for no limit)", b.MaxBytes.Bytes)
	}
}
