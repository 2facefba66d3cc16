package buffer

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// scanSize counts the queue of the database at path with a full scan.
func scanSize(t *testing.T, path string) (rows, bytes int64) {
	t.Helper()
	db := rawDB(t, path)
	var sum sql.NullInt64
	if err := db.QueryRow(`SELECT count(*), sum(length(topic)+length(payload)) FROM queue`).Scan(&rows, &sum); err != nil {
		t.Fatalf("scan queue: %v", err)
	}
	return rows, sum.Int64 + rows*RowOverhead
}

// rawDB opens the database at path as another program (or an older version
// of the gateway) would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", writerDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() }) // nothing left to lose
	db.SetMaxOpenConns(1)
	return db
}

// checkStored checks that the database at path (closed) holds counters that
// equal a full scan, with a stamp that fits (no recount needed).
func checkStored(t *testing.T, path string) {
	t.Helper()
	wantRows, wantBytes := scanSize(t, path)
	db := rawDB(t, path)
	rows, bytes, _, scanned, err := queueSize(t.Context(), db)
	if err != nil {
		t.Fatalf("queueSize: %v", err)
	}
	if scanned || rows != wantRows || bytes != wantBytes {
		t.Errorf("stored counters: got %d rows, %d bytes (scanned %v), want %d, %d from the meta table",
			rows, bytes, scanned, wantRows, wantBytes)
	}
}

// checkOpen checks the counters a running buffer uses against a full scan.
func checkOpen(t *testing.T, b *Buffer) {
	t.Helper()
	wantRows, wantBytes := scanSize(t, b.cfg.Path)
	b.mu.Lock()
	rows, bytes := b.dbRows, b.dbBytes
	b.mu.Unlock()
	if rows != wantRows || bytes != wantBytes {
		t.Errorf("open buffer: got %d rows, %d bytes, want %d, %d", rows, bytes, wantRows, wantBytes)
	}
}

// TestSizeCounters: inserts, acknowledged deletes (in order and out of order)
// and cap drops keep the counters in meta equal to the table.
func TestSizeCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	size := int64(len("site/a/x") + 4 + RowOverhead)
	cfg.MaxBytes = 20 * size
	cfg.FlushInterval = time.Minute // online, appends wait for their ack
	b := open(t, cfg)
	for i := range 50 {
		m := gateway.Message{Topic: "site/a/x", Payload: []byte{'0' + byte(i/10%10), '0' + byte(i%10), 'x', 'y'}, QoS: 1}
		if err := b.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	ids, _, err := b.Next(t.Context(), 0, 100)
	if err != nil || len(ids) != 20 {
		t.Fatalf("Next: got %d ids, %v, want the 20 kept by max_bytes", len(ids), err)
	}
	if err := b.Ack(append(ids[:5:5], ids[10], ids[12])...); err != nil { // the head, and two out of order
		t.Fatal(err)
	}
	// Online, two appended and one of them acknowledged before its commit.
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := b.Enqueue(msg("site/b/y", i)); err != nil {
			t.Fatal(err)
		}
	}
	mem, _, err := b.Next(t.Context(), ids[len(ids)-1], 10)
	if err != nil || len(mem) != 2 {
		t.Fatalf("Next: got %d ids, %v, want the 2 in memory", len(mem), err)
	}
	if err := b.Ack(mem[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil { // commits the deletes and the last append
		t.Fatal(err)
	}
	if rows, _ := scanSize(t, path); rows != 20-7+1 {
		t.Fatalf("after Close: %d rows, want %d", rows, 20-7+1)
	}
	checkStored(t, path)

	// Reopened: the counters are used as stored, and kept up to date.
	b = open(t, cfg)
	checkOpen(t, b)
	if err := b.Publish(t.Context(), msg("site/c/z", 1)); err != nil {
		t.Fatal(err)
	}
	s, err := b.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Depth != 15 {
		t.Errorf("stats: got depth %d, want 15", s.Depth)
	}
	// A commit that only deletes (Close: nothing pending).
	ids, _, err = b.Next(t.Context(), 0, 100)
	if err != nil || len(ids) != 15 {
		t.Fatalf("Next: got %d ids, %v, want 15", len(ids), err)
	}
	if err := b.Ack(ids[0], ids[1], ids[7]); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if rows, _ := scanSize(t, path); rows != 12 {
		t.Fatalf("after the deletes: %d rows, want 12", rows)
	}
	checkStored(t, path)

	// A commit that only drops (max_age, checked at once after open).
	cfg.MaxAge = time.Nanosecond
	b = open(t, cfg)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if rows, _ := scanSize(t, path); rows != 0 {
		t.Fatalf("after max_age: %d rows, want 0", rows)
	}
	checkStored(t, path)
}

// TestSizeCountersRecounted: counters that are missing (a database from
// before them), bad, or stale (an older version changed the rows since) are
// counted again at open and stored; Reader.Stats counts them meanwhile.
func TestSizeCountersRecounted(t *testing.T) {
	// rawInsert inserts n messages as an older version would: no counters.
	rawInsert := func(t *testing.T, db *sql.DB, n int) {
		t.Helper()
		for i := range n {
			_, err := db.Exec(`INSERT INTO queue(at, mtime, topic, qos, retain, payload) VALUES(?, 0, ?, 1, 0, ?)`,
				time.Now().UnixNano(), "old/topic", []byte{'p', byte('0' + i%10)})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// published creates a buffer holding 10 messages, with its counters.
	published := func(t *testing.T, path string) *sql.DB {
		t.Helper()
		b, err := Open(t.Context(), Default(path), testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if err := b.Publish(t.Context(), msg("new/topic", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		checkStored(t, path)
		return rawDB(t, path)
	}
	tests := []struct {
		name     string
		prepare  func(t *testing.T, path string)
		wantRows int64
	}{
		{"no counters", func(t *testing.T, path string) {
			db := rawDB(t, path)
			if _, err := db.Exec(schema); err != nil {
				t.Fatal(err)
			}
			rawInsert(t, db, 25)
		}, 25},
		{"empty, no counters", func(t *testing.T, path string) {
			if _, err := rawDB(t, path).Exec(schema); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"older version inserted", func(t *testing.T, path string) {
			rawInsert(t, published(t, path), 5)
		}, 15},
		{"older version deleted the head", func(t *testing.T, path string) {
			if _, err := published(t, path).Exec(`DELETE FROM queue WHERE id <= 3`); err != nil {
				t.Fatal(err)
			}
		}, 7},
		{"older version emptied it", func(t *testing.T, path string) {
			if _, err := published(t, path).Exec(`DELETE FROM queue`); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"bad value", func(t *testing.T, path string) {
			if _, err := published(t, path).Exec(`UPDATE meta SET value = 'x' WHERE key = ?`, metaQueueBytes); err != nil {
				t.Fatal(err)
			}
		}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "buffer.db")
			tt.prepare(t, path)
			wantRows, wantBytes := scanSize(t, path)
			if wantRows != tt.wantRows {
				t.Fatalf("prepared %d rows, want %d", wantRows, tt.wantRows)
			}
			// Inspection before the gateway ran counts them.
			r, err := OpenReader(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := r.Stats(t.Context())
			_ = r.Close() // read only
			if err != nil || s.Depth != wantRows || s.Bytes != wantBytes {
				t.Errorf("Reader.Stats: got depth %d, bytes %d, %v, want %d, %d", s.Depth, s.Bytes, err, wantRows, wantBytes)
			}
			b := open(t, Default(path))
			checkOpen(t, b)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			checkStored(t, path) // stored at open: no second scan
		})
	}
}
