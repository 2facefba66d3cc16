package serialline

import (
	"context"
	"log/slog"
	"sync"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// recorder is a slog.Handler keeping the messages logged through it.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// messages returns the messages logged so far.
func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m []string
	for _, rec := range r.recs {
		m = append(m, rec.Message)
	}
	return m
}

// count returns how many records have message msg.
func (r *recorder) count(msg string) int {
	n := 0
	for _, m := range r.messages() {
		if m == msg {
			n++
		}
	}
	return n
}

// attr returns attribute key of the last record with message msg.
func (r *recorder) attr(msg, key string) (slog.Value, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.recs) - 1; i >= 0; i-- {
		if r.recs[i].Message != msg {
			continue
		}
		var v slog.Value
		found := false
		r.recs[i].Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v, found = a.Value, true
				return false
			}
			return true
		})
		return v, found
	}
	return slog.Value{}, false
}

// level returns the level of the last record with message msg.
func (r *recorder) level(msg string) slog.Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.recs) - 1; i >= 0; i-- {
		if r.recs[i].Message == msg {
			return r.recs[i].Level
		}
	}
	return slog.LevelDebug - 1
}
