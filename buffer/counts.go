package buffer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The queue's size is kept in the meta table, so that opening the buffer and
// `gateway buffer stats` need not scan millions of rows on an SD card. Every
// commit that changes queue rows (inserts, acknowledged deletes, cap drops)
// writes the counters in the same transaction, with one statement: they
// cannot drift from the rows, whatever the crash.
//
// An older version of the gateway, run on the database after this one (a
// rollback), changes the rows without the counters. So they are stamped with
// the lowest and the highest id when they were written: an older version that
// inserted moved sqlite_sequence on, one that deleted acknowledged or dropped
// messages (from the head of the queue) moved the lowest id; either way the
// stamp no longer fits and the size is counted again. Only deletes that all
// fall behind the head (acknowledgements out of order, the head never
// acknowledged) would go unnoticed.
const (
	metaQueueRows  = "queue_rows"  // rows in the queue table
	metaQueueBytes = "queue_bytes" // their size as counted against max_bytes
	metaQueueFirst = "queue_first" // stamp: the lowest id in the queue (0: empty)
	metaQueueSeq   = "queue_seq"   // stamp: the highest id ever committed
)

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queueSize returns the rows in the queue, their size as counted against
// MaxBytes, and the highest id ever committed. It reads the counters kept in
// meta; when they are missing (a database from before them) or their stamp
// does not fit the table, it counts with a full scan and reports scanned.
func queueSize(ctx context.Context, q queryer) (rows, bytes, lastID int64, scanned bool, err error) {
	// min and max of the rowid are the first and last entries of its b-tree: cheap.
	var first, last, seq sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT min(id), max(id) FROM queue`).Scan(&first, &last); err != nil {
		return 0, 0, 0, false, fmt.Errorf("queue ids: %w", err)
	}
	err = q.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name='queue'`).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, 0, false, fmt.Errorf("queue sequence: %w", err)
	}
	lastID = max(last.Int64, seq.Int64)
	c, err := storedSize(ctx, q)
	if err != nil {
		return 0, 0, 0, false, err
	}
	if c != nil && c.seq == lastID && c.first == first.Int64 && (c.rows > 0) == first.Valid {
		return c.rows, c.bytes, lastID, false, nil
	}
	var sum sql.NullInt64
	err = q.QueryRowContext(ctx, `SELECT count(*), sum(length(topic)+length(payload)) FROM queue`).Scan(&rows, &sum)
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("count queue: %w", err)
	}
	return rows, sum.Int64 + rows*RowOverhead, lastID, true, nil
}

// sizeCounters are the meta keys.
type sizeCounters struct{ rows, bytes, first, seq int64 }

// storedSize reads the counters from meta: nil if any is missing or bad.
func storedSize(ctx context.Context, q queryer) (*sizeCounters, error) {
	rs, err := q.QueryContext(ctx, `SELECT key, value FROM meta WHERE key IN (?, ?, ?, ?)`,
		metaQueueRows, metaQueueBytes, metaQueueFirst, metaQueueSeq)
	if err != nil {
		return nil, fmt.Errorf("read queue counters: %w", err)
	}
	defer rs.Close()
	var c sizeCounters
	seen := 0
	for rs.Next() {
		var k, v string
		if err := rs.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read queue counters: %w", err)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, nil // a bad value: count again
		}
		switch k {
		case metaQueueRows:
			c.rows = n
		case metaQueueBytes:
			c.bytes = n
		case metaQueueFirst:
			c.first = n
		case metaQueueSeq:
			c.seq = n
		}
		seen++
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read queue counters: %w", err)
	}
	if seen != 4 {
		return nil, nil // missing: count
	}
	return &c, nil
}

// setSize writes the counters, in one statement.
func setSize(tx *sql.Tx, c sizeCounters) error {
	_, err := tx.Exec(`INSERT INTO meta(key, value) VALUES (?, ?), (?, ?), (?, ?), (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
		metaQueueRows, strconv.FormatInt(c.rows, 10),
		metaQueueBytes, strconv.FormatInt(c.bytes, 10),
		metaQueueFirst, strconv.FormatInt(c.first, 10),
		metaQueueSeq, strconv.FormatInt(c.seq, 10))
	if err != nil {
		return fmt.Errorf("buffer meta queue counters: %w", err)
	}
	return nil
}

// firstID returns the lowest id in the queue, 0 when it is empty.
func firstID(tx *sql.Tx) (int64, error) {
	var first sql.NullInt64
	if err := tx.QueryRow(`SELECT min(id) FROM queue`).Scan(&first); err != nil {
		return 0, fmt.Errorf("buffer queue first id: %w", err)
	}
	return first.Int64, nil
}

// loadSize sets b.dbRows, b.dbBytes and b.lastDBID at open, counting (once)
// and storing the counters if they were missing or stale.
func (b *Buffer) loadSize(ctx context.Context) error {
	start := time.Now()
	tx, err := b.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load buffer size: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op; on error the first error matters
	rows, bytes, lastID, scanned, err := queueSize(ctx, tx)
	if err != nil {
		return fmt.Errorf("load buffer size: %w", err)
	}
	if scanned {
		first, err := firstID(tx)
		if err == nil {
			err = setSize(tx, sizeCounters{rows: rows, bytes: bytes, first: first, seq: lastID})
		}
		if err != nil {
			return fmt.Errorf("load buffer size: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("load buffer size: %w", err)
	}
	if scanned && rows > 0 {
		// A new (empty) database has no counters yet either: nothing to say.
		b.log.Info("buffer size counted by a full scan and stored: missing or stale counters",
			"depth", rows, "bytes", bytes, "took", time.Since(start))
	}
	b.dbRows, b.dbBytes, b.lastDBID = rows, bytes, lastID
	return nil
}
