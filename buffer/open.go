package buffer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/mattn/go-sqlite3"
)

// schema creates the tables. queue ids are assigned by the Buffer in accept
// order (AUTOINCREMENT keeps sqlite_sequence at the highest id ever used).
const schema = `
CREATE TABLE IF NOT EXISTS queue(
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL, -- accepted, unix nanoseconds (wall clock)
	boot    TEXT    NOT NULL DEFAULT '', -- the boot id at acceptance
	mono    INTEGER NOT NULL DEFAULT 0,  -- accepted, nanoseconds since that boot
	mtime   INTEGER NOT NULL, -- Message.Time, unix nanoseconds (0: none)
	topic   TEXT    NOT NULL,
	qos     INTEGER NOT NULL,
	retain  INTEGER NOT NULL,
	payload BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS drops(prefix TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
`

// Keys of the meta table (the queue's size counters are in counts.go).
const (
	metaLastAck     = "last_ack"        // RFC 3339 time of the last upstream acknowledgement
	metaUplink      = "uplink"          // uplink state as the forwarder reported it
	metaUplinkError = "uplink_error"    // the forwarder's last error
	metaUplinkSince = "uplink_since"    // RFC 3339 time of the last uplink state change
	metaSubscribed  = "subscribed"      // JSON array of the upstream filters the forwarder subscribed last
	metaUplinkNext  = "uplink_next"     // RFC 3339 time of the next connection attempt ("": none waiting)
	metaProtocol    = "uplink_protocol" // the MQTT version spoken upstream ("3.1.1", "5.0")
	metaRefusal     = "uplink_refusal"  // the last refused PUBLISH or CONNACK
)

// writerDSN returns the DSN of the writing connection: WAL with
// synchronous=FULL so a commit survives power loss, immediate transactions so
// a writer never has to upgrade a read lock.
func writerDSN(path string) string {
	return "file:" + escapePath(path) + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate"
}

// readerDSN returns the DSN of a read-only connection.
func readerDSN(path string) string {
	return "file:" + escapePath(path) + "?mode=ro&_busy_timeout=10000"
}

func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// isCorrupt reports whether err says the file is not a usable database.
func isCorrupt(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB)
}

// isFull reports whether err is SQLite's "database or disk is full".
func isFull(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrFull
}

// openWriter opens the database at path for writing, checks it with
// PRAGMA quick_check and creates the schema. A corrupt file is renamed aside
// (with its -wal and -shm) and a new database started.
func openWriter(ctx context.Context, path string, log *slog.Logger) (*sql.DB, error) {
	db, err := tryOpen(ctx, path)
	if err == nil {
		return db, nil
	}
	if !errors.Is(err, errCorrupt) {
		return nil, err
	}
	aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if rerr := os.Rename(path+suffix, aside+suffix); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("move corrupt buffer %s aside: %w", path, rerr)
		}
	}
	log.Error("buffer database corrupt: moved aside, starting a new one; its messages are not forwarded",
		"moved_to", aside, "err", err)
	return tryOpen(ctx, path)
}

// errCorrupt marks a database that failed its integrity check.
var errCorrupt = errors.New("database corrupt")

func tryOpen(ctx context.Context, path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", writerDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; the connection keeps the WAL open
	if err := checkAndInit(ctx, db); err != nil {
		_ = db.Close() // the open error is what matters
		if isCorrupt(err) {
			err = fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	return db, nil
}

func checkAndInit(ctx context.Context, db *sql.DB) error {
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return fmt.Errorf("quick_check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("quick_check: %s: %w", res, sqlite3.Error{Code: sqlite3.ErrCorrupt})
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	// A queue from before the boot and mono columns gets them (its rows
	// keep '' and 0: their age is measured by the wall clock).
	if _, err := db.ExecContext(ctx, `SELECT boot, mono FROM queue LIMIT 0`); err != nil {
		for _, col := range []string{`boot TEXT NOT NULL DEFAULT ''`, `mono INTEGER NOT NULL DEFAULT 0`} {
			if _, err := db.ExecContext(ctx, `ALTER TABLE queue ADD COLUMN `+col); err != nil {
				return fmt.Errorf("add queue column %s: %w", col, err)
			}
		}
	}
	return nil
}
