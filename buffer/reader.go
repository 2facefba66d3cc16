package buffer

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/topic"
)

// Reader inspects a buffer database read-only, e.g. from `gateway buffer`
// while the gateway runs: WAL readers never block the writer. It is safe for
// concurrent use.
type Reader struct {
	db *sql.DB
}

// OpenReader opens the database at path read-only.
func OpenReader(ctx context.Context, path string) (*Reader, error) {
	db, err := sql.Open("sqlite3", readerDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is what matters
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name='queue'`).Scan(&n); err != nil || n == 0 {
		_ = db.Close() // the schema error is what matters
		if err == nil {
			err = fmt.Errorf("no queue table: not a buffer database")
		}
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	return &Reader{db: db}, nil
}

// Close closes the database.
func (r *Reader) Close() error { return r.db.Close() }

// Stats returns the stats recorded in the database.
func (r *Reader) Stats(ctx context.Context) (Stats, error) { return readStats(ctx, r.db) }

// Entry is one queued message.
type Entry struct {
	ID       int64
	Accepted time.Time
	gateway.Message
}

// Filter selects entries for List and Export.
type Filter struct {
	Topic string    // MQTT topic filter; empty: all
	Since time.Time // accepted at or after; zero: all
	Limit int       // at most this many; 0: no limit
}

// exportPage is how many rows each read of each takes: one short read
// transaction per page, so that a slow consumer (a stalled download, a pager)
// never pins a WAL snapshot and the gateway's checkpoints keep the WAL small.
const exportPage = 512

// each calls fn for every entry matching f, in id order. It reads in pages
// keyed by id, each page in its own short read; fn runs between reads, with
// no read open. Rows deleted (delivered) while it runs are not shown, rows
// appended meanwhile are.
func (r *Reader) each(ctx context.Context, f Filter, fn func(Entry) error) error {
	var after int64
	n := 0
	for {
		page, err := r.page(ctx, after, f.Since)
		if err != nil {
			return err
		}
		for _, e := range page {
			if f.Topic != "" && !topic.Match(f.Topic, e.Topic) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
			n++
			if f.Limit > 0 && n >= f.Limit {
				return nil
			}
		}
		if len(page) < exportPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// page reads up to exportPage entries with ids after after, accepted at or
// after since.
func (r *Reader) page(ctx context.Context, after int64, since time.Time) ([]Entry, error) {
	var sinceNS int64 = math.MinInt64
	if !since.IsZero() {
		sinceNS = since.UnixNano()
	}
	rows, err := r.db.QueryContext(ctx,
		`SELECT id, at, mtime, topic, qos, retain, payload FROM queue WHERE id > ? AND at >= ? ORDER BY id LIMIT ?`,
		after, sinceNS, exportPage)
	if err != nil {
		return nil, fmt.Errorf("buffer list: %w", err)
	}
	defer rows.Close()
	page := make([]Entry, 0, exportPage)
	for rows.Next() {
		var e Entry
		var at, mtime int64
		if err := rows.Scan(&e.ID, &at, &mtime, &e.Topic, &e.QoS, &e.Retain, &e.Payload); err != nil {
			return nil, fmt.Errorf("buffer list: %w", err)
		}
		e.Accepted = time.Unix(0, at)
		if mtime != 0 {
			e.Time = time.Unix(0, mtime)
		}
		page = append(page, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("buffer list: %w", err)
	}
	return page, nil
}

// List returns the entries matching f, oldest first.
func (r *Reader) List(ctx context.Context, f Filter) ([]Entry, error) {
	var out []Entry
	err := r.each(ctx, f, func(e Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// Export writes every entry matching f to w as JSON lines or CSV, calling
// progress (if not nil) with the number written so far and the total depth.
func (r *Reader) Export(ctx context.Context, w io.Writer, format string, f Filter, progress func(done, total int64)) error {
	var total int64
	if progress != nil {
		var err error
		if total, _, _, _, err = queueSize(ctx, r.db); err != nil { // the counters: no scan before the scan
			return fmt.Errorf("buffer export: %w", err)
		}
	}
	var write func(Entry) error
	var flush func() error
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		write = func(e Entry) error { return enc.Encode(toJSON(e)) }
		flush = func() error { return nil }
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"id", "accepted", "time", "topic", "qos", "retain", "payload", "payload_base64"}); err != nil {
			return fmt.Errorf("buffer export: %w", err)
		}
		write = func(e Entry) error {
			j := toJSON(e)
			var mt string
			if j.Time != nil {
				mt = j.Time.Format(time.RFC3339Nano)
			}
			return cw.Write([]string{strconv.FormatInt(e.ID, 10), j.Accepted.Format(time.RFC3339Nano), mt,
				e.Topic, strconv.Itoa(int(e.QoS)), strconv.FormatBool(e.Retain), j.Payload, j.PayloadB64})
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	default:
		return fmt.Errorf("buffer export: format %q: want jsonl or csv", format)
	}
	var n int64
	err := r.each(ctx, f, func(e Entry) error {
		if err := write(e); err != nil {
			return fmt.Errorf("buffer export: %w", err)
		}
		n++
		if progress != nil && n%1000 == 0 {
			progress(n, total)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return fmt.Errorf("buffer export: %w", err)
	}
	if progress != nil {
		progress(n, total)
	}
	return nil
}

// jsonEntry is an Entry as `list --json` and the jsonl export show it: the
// payload as text when it is valid UTF-8, else in base64.
type jsonEntry struct {
	ID         int64      `json:"id"`
	Accepted   time.Time  `json:"accepted"`
	Time       *time.Time `json:"time,omitempty"`
	Topic      string     `json:"topic"`
	QoS        byte       `json:"qos"`
	Retain     bool       `json:"retain,omitempty"`
	Payload    string     `json:"payload,omitempty"`
	PayloadB64 string     `json:"payload_base64,omitempty"`
}

func toJSON(e Entry) jsonEntry {
	j := jsonEntry{ID: e.ID, Accepted: e.Accepted.UTC(), Topic: e.Topic, QoS: e.QoS, Retain: e.Retain}
	if !e.Time.IsZero() {
		t := e.Time.UTC()
		j.Time = &t
	}
	if utf8.Valid(e.Payload) {
		j.Payload = string(e.Payload)
	} else {
		j.PayloadB64 = base64.StdEncoding.EncodeToString(e.Payload)
	}
	return j
}
