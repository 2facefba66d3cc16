package buffer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Stats describes the queue, for `gateway buffer stats` and the web page.
type Stats struct {
	Depth          int64            `json:"depth"`                     // messages waiting for the upstream
	Bytes          int64            `json:"bytes"`                     // their size as counted against max_bytes
	MaxBytes       int64            `json:"max_bytes,omitempty"`       // the cap (live stats only)
	Oldest         time.Time        `json:"oldest,omitzero"`           // when the oldest was accepted
	OldestAge      Duration         `json:"oldest_age"`                // now - Oldest
	Drops          int64            `json:"drops"`                     // messages dropped by the caps, ever
	DropsByPrefix  map[string]int64 `json:"drops_by_prefix,omitempty"` // per first two topic levels
	Commits        int64            `json:"commits,omitempty"`         // transactions committed since Open (live stats only)
	DiskFullErrors int64            `json:"disk_full_errors"`          // commits refused for a full disk (live stats only)
	LastAck        time.Time        `json:"last_ack,omitzero"`         // last upstream acknowledgement
	Uplink         string           `json:"uplink"`                    // up, down, or empty: no forwarder
	UplinkError    string           `json:"uplink_error,omitempty"`    // why the uplink is down
	UplinkSince    time.Time        `json:"uplink_since,omitzero"`     // last uplink state change
	NextAttempt    time.Time        `json:"next_attempt,omitzero"`     // while the uplink is down: the next connection attempt
	UplinkProtocol string           `json:"uplink_protocol,omitempty"` // the MQTT version spoken upstream
	LastRefusal    string           `json:"last_refusal,omitempty"`    // the last PUBLISH or CONNACK the upstream refused
}

// Duration marshals as a Go duration string.
type Duration time.Duration

// MarshalText encodes d like time.Duration.String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Stats returns the live state of the running buffer.
func (b *Buffer) Stats(ctx context.Context) (Stats, error) {
	b.mu.Lock()
	s := Stats{
		Depth:          max(0, b.dbRows-int64(len(b.acked))+b.memRows),
		Bytes:          b.dbBytes + b.memBytes,
		MaxBytes:       b.cfg.MaxBytes,
		Drops:          b.drops,
		Commits:        b.commits,
		DiskFullErrors: b.fullErrors,
		LastAck:        b.lastAck,
		Uplink:         b.uplink.state,
		UplinkError:    b.uplink.err,
		UplinkSince:    b.uplink.since,
		NextAttempt:    b.uplink.next,
		UplinkProtocol: b.uplink.protocol,
		LastRefusal:    b.uplink.refusal,
	}
	if len(b.dropsBy) > 0 {
		s.DropsByPrefix = make(map[string]int64, len(b.dropsBy))
		for p, n := range b.dropsBy {
			s.DropsByPrefix[p] = n
		}
	}
	var memOldest time.Time
	for _, list := range [][]*rec{b.committing, b.pending} {
		for _, r := range list {
			if !r.acked {
				memOldest = r.at
				break
			}
		}
		if !memOldest.IsZero() {
			break
		}
	}
	b.mu.Unlock()
	oldest, err := oldestAt(ctx, b.rdb)
	if err != nil {
		return s, err
	}
	if oldest.IsZero() {
		oldest = memOldest
	}
	s.Oldest = oldest
	if !oldest.IsZero() {
		s.OldestAge = Duration(time.Since(oldest))
	}
	return s, nil
}

func oldestAt(ctx context.Context, db queryer) (time.Time, error) {
	var at int64
	err := db.QueryRowContext(ctx, `SELECT at FROM queue ORDER BY id LIMIT 1`).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("buffer stats: %w", err)
	}
	return time.Unix(0, at), nil
}

// readStats reads the stats recorded in the database (as another process
// sees them), in one read transaction: one snapshot. Depth and Bytes come from
// the counters in meta, committed with the rows, so they are exact as of the
// last commit; a database whose counters are missing or stale (not opened by
// this version yet) is counted with a full scan.
func readStats(ctx context.Context, db *sql.DB) (Stats, error) {
	var s Stats
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return s, fmt.Errorf("buffer stats: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only: nothing to keep or lose
	if s.Depth, s.Bytes, _, _, err = queueSize(ctx, tx); err != nil {
		return s, fmt.Errorf("buffer stats: %w", err)
	}
	if s.Oldest, err = oldestAt(ctx, tx); err != nil {
		return s, err
	}
	if !s.Oldest.IsZero() {
		s.OldestAge = Duration(time.Since(s.Oldest))
	}
	rows, err := tx.QueryContext(ctx, `SELECT prefix, n FROM drops ORDER BY prefix`)
	if err != nil {
		return s, fmt.Errorf("buffer stats drops: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return s, fmt.Errorf("buffer stats drops: %w", err)
		}
		if s.DropsByPrefix == nil {
			s.DropsByPrefix = make(map[string]int64)
		}
		s.DropsByPrefix[p] = n
		s.Drops += n
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("buffer stats drops: %w", err)
	}
	meta, err := tx.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return s, fmt.Errorf("buffer stats meta: %w", err)
	}
	defer meta.Close()
	for meta.Next() {
		var k, v string
		if err := meta.Scan(&k, &v); err != nil {
			return s, fmt.Errorf("buffer stats meta: %w", err)
		}
		switch k {
		case metaLastAck:
			s.LastAck, _ = time.Parse(time.RFC3339Nano, v) // a bad value shows as none
		case metaUplink:
			s.Uplink = v
		case metaUplinkError:
			s.UplinkError = v
		case metaUplinkSince:
			s.UplinkSince, _ = time.Parse(time.RFC3339Nano, v) // a bad value shows as none
		case metaUplinkNext:
			s.NextAttempt, _ = time.Parse(time.RFC3339Nano, v) // "" or a bad value: none
		case metaProtocol:
			s.UplinkProtocol = v
		case metaRefusal:
			s.LastRefusal = v
		}
	}
	if err := meta.Err(); err != nil {
		return s, fmt.Errorf("buffer stats meta: %w", err)
	}
	return s, nil
}
