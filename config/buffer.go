package config

// Buffer is the [buffer] table: the on-disk store-and-forward queue. Its
// defaults, rules and compiling are the buffer package's
// (buffer.DefaultSection, buffer.CheckSection, buffer.FromSection); this is
// its shape in the file.
type Buffer struct {
	Path          string   `toml:"path"`           // default: <data_dir>/buffer.db
	MaxBytes      ByteSize `toml:"max_bytes"`      // oldest messages are dropped beyond this
	MaxAge        Duration `toml:"max_age"`        // and beyond this age; "0s" keeps them forever
	FlushInterval Duration `toml:"flush_interval"` // group commit: the longest a message waits to be written
}
