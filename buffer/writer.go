package buffer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/edgegw/gateway"
)

// ageCheckInterval is how often the writer looks for messages older than MaxAge.
const ageCheckInterval = time.Second

// work is what one commit does, taken from the Buffer under its lock.
type work struct {
	batch      []*rec  // to insert (moved to b.committing)
	deletes    []int64 // acknowledged committed ids
	uplink     *uplinkState
	lastAck    time.Time // zero: not written
	checkCaps  bool
	batchBytes int64
	subscribed []byte       // JSON of the subscribed filters, with subWaiters
	subWaiters []chan error // told the commit's outcome
}

func (w *work) empty() bool {
	return len(w.batch) == 0 && len(w.deletes) == 0 && w.uplink == nil && w.lastAck.IsZero() && !w.checkCaps &&
		len(w.subWaiters) == 0
}

// result is what a successful commit changed.
type result struct {
	deleted, deletedBytes int64
	dropped, droppedBytes int64
	droppedBy             map[string]int64
	rows, bytes           int64 // the queue table after the commit (dbRows, dbBytes)
}

// writer is the only goroutine writing to the database: it group-commits
// appends, deletes acknowledged messages, enforces the caps and records meta
// (with the queue's size, in the same transaction as every change to its
// rows).
func (b *Buffer) writer(ctx context.Context) {
	defer close(b.done)
	var st writerState
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		final := ctx.Err() != nil
		wait := b.flush(&st, final)
		if final {
			b.refuseLeftover()
			return
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-b.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// refuseLeftover answers, with gateway.ErrClosed, any record the final flush
// left behind. Close sets b.closed before it stops the writer, so no record is
// appended after the final flush took them all and none should be left; but a
// callback must never go unanswered.
func (b *Buffer) refuseLeftover() {
	refused := fmt.Errorf("buffer append: not committed: %w", gateway.ErrClosed)
	var replies []reply
	b.mu.Lock()
	for _, list := range [][]*rec{b.committing, b.pending} {
		for _, r := range list {
			if !r.acked {
				b.memRows--
				b.memBytes -= r.size
			}
			replies = r.answer(replies, refused)
		}
	}
	b.committing, b.pending = nil, nil
	for _, c := range b.subWaiters {
		c <- refused // buffered: never blocks
	}
	b.subWaiters = nil
	b.mu.Unlock()
	if len(replies) > 0 {
		b.log.Error("buffer closed with messages not committed (data lost)", "lost", len(replies))
	}
	callAll(replies)
}

// writerState is the writer goroutine's own bookkeeping.
type writerState struct {
	lastMeta     time.Time
	lastAgeCheck time.Time
	dropEpisode  int64 // messages dropped in the current episode (0: none)
	fullEpisode  bool
}

// flush takes the due work, commits it, and returns how long to wait before
// the next flush.
func (b *Buffer) flush(st *writerState, final bool) time.Duration {
	now := time.Now()
	w, wait := b.takeWork(st, now, final)
	if w.empty() {
		return wait
	}
	res, err := b.commit(w, now)
	b.finish(st, w, res, err, now)
	if len(w.batch) > 0 || len(w.deletes) > 0 {
		return 0 // more may have arrived during the commit
	}
	return wait
}

// takeWork selects what is due; it moves the batch to b.committing.
func (b *Buffer) takeWork(st *writerState, now time.Time, final bool) (*work, time.Duration) {
	w := &work{}
	wait := ageCheckInterval
	b.mu.Lock()
	defer b.mu.Unlock()
	hold := b.online && !final && len(b.pending) < b.cfg.BatchSize && !b.mustCommit
	b.mustCommit = false
	cutoff := now.Add(-b.cfg.FlushInterval)
	i := 0
	for ; i < len(b.pending); i++ {
		r := b.pending[i]
		if hold && r.at.After(cutoff) {
			wait = min(wait, r.at.Sub(cutoff))
			break
		}
		if r.acked {
			continue // accepted by the upstream: never written
		}
		w.batch = append(w.batch, r)
		w.batchBytes += r.size
	}
	b.pending = append(b.pending[:0:0], b.pending[i:]...)
	b.committing = w.batch
	if len(b.acked) > 0 {
		due := final || len(w.batch) > 0 || len(b.acked) >= b.cfg.BatchSize
		if !due {
			for _, t := range b.acked {
				if !t.After(cutoff) {
					due = true
					break
				}
				wait = min(wait, t.Sub(cutoff))
			}
		}
		if due {
			w.deletes = make([]int64, 0, len(b.acked))
			for id := range b.acked {
				w.deletes = append(w.deletes, id)
			}
		}
	}
	if len(b.subWaiters) > 0 {
		w.subWaiters, b.subWaiters = b.subWaiters, nil
		w.subscribed, _ = json.Marshal(b.subscribed) // a []string always marshals
		if b.subscribed == nil {
			w.subscribed = []byte("[]")
		}
	}
	if b.uplinkDirty {
		u := b.uplink
		w.uplink = &u
		b.uplinkDirty = false
	}
	if b.ackDirty {
		writeAck := final || w.uplink != nil || len(w.batch) > 0 || len(w.deletes) > 0 ||
			now.Sub(st.lastMeta) >= b.cfg.MetaInterval
		if writeAck {
			w.lastAck = b.lastAck
			b.ackDirty = false
		} else {
			wait = min(wait, b.cfg.MetaInterval-now.Sub(st.lastMeta))
		}
	}
	over := b.cfg.MaxBytes > 0 && b.dbBytes+w.batchBytes > b.cfg.MaxBytes
	ageDue := b.cfg.MaxAge > 0 && b.dbRows > 0 && now.Sub(st.lastAgeCheck) >= ageCheckInterval
	w.checkCaps = over || ageDue
	return w, max(wait, time.Millisecond)
}

// commit runs one transaction.
func (b *Buffer) commit(w *work, now time.Time) (result, error) {
	var res result
	tx, err := b.wdb.Begin()
	if err != nil {
		return res, fmt.Errorf("buffer begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op; on error the first error matters
	if len(w.batch) > 0 {
		ins, err := tx.Prepare(`INSERT INTO queue(id, at, boot, mono, mtime, topic, qos, retain, payload) VALUES(?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return res, fmt.Errorf("buffer insert: %w", err)
		}
		boot := b.cfg.Clock.Boot()
		for _, r := range w.batch {
			var mtime int64
			if !r.m.Time.IsZero() {
				mtime = r.m.Time.UnixNano()
			}
			payload := r.m.Payload
			if payload == nil {
				payload = []byte{} // NOT NULL
			}
			if _, err := ins.Exec(r.id, r.at.UnixNano(), boot, int64(r.mono), mtime, r.m.Topic, r.m.QoS, r.m.Retain, payload); err != nil {
				_ = ins.Close() // the insert error is what matters
				return res, fmt.Errorf("buffer insert: %w", err)
			}
		}
		if err := ins.Close(); err != nil {
			return res, fmt.Errorf("buffer insert: %w", err)
		}
	}
	if len(w.deletes) > 0 {
		if err := deleteRuns(tx, w.deletes, &res); err != nil {
			return res, err
		}
	}
	if w.checkCaps {
		if err := b.enforceCaps(tx, w, now, &res); err != nil {
			return res, err
		}
	}
	b.mu.Lock()
	rows, bytes, lastID := b.dbRows, b.dbBytes, b.lastDBID // only this goroutine changes them
	b.mu.Unlock()
	res.rows = rows + int64(len(w.batch)) - res.deleted - res.dropped
	res.bytes = bytes + w.batchBytes - res.deletedBytes - res.droppedBytes
	if len(w.batch) > 0 || res.deleted > 0 || res.dropped > 0 {
		if n := len(w.batch); n > 0 {
			lastID = w.batch[n-1].id
		}
		first, err := firstID(tx)
		if err != nil {
			return res, err
		}
		if err := setSize(tx, sizeCounters{rows: res.rows, bytes: res.bytes, first: first, seq: lastID}); err != nil {
			return res, err
		}
	}
	if w.uplink != nil {
		var next string
		if !w.uplink.next.IsZero() {
			next = w.uplink.next.UTC().Format(time.RFC3339Nano)
		}
		err := setMeta(tx, metaUplink, w.uplink.state, metaUplinkError, w.uplink.err,
			metaUplinkSince, w.uplink.since.UTC().Format(time.RFC3339Nano), metaUplinkNext, next,
			metaProtocol, w.uplink.protocol, metaRefusal, w.uplink.refusal)
		if err != nil {
			return res, err
		}
	}
	if w.subWaiters != nil {
		if err := setMeta(tx, metaSubscribed, string(w.subscribed)); err != nil {
			return res, err
		}
	}
	if !w.lastAck.IsZero() {
		if err := setMeta(tx, metaLastAck, w.lastAck.UTC().Format(time.RFC3339Nano)); err != nil {
			return res, err
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("buffer commit: %w", err)
	}
	return res, nil
}

// deleteRuns deletes acknowledged ids, one statement pair per run of
// consecutive ids (acknowledgements arrive in order, so runs are long).
func deleteRuns(tx *sql.Tx, ids []int64, res *result) error {
	slices.Sort(ids)
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		lo, hi := ids[i], ids[j]
		i = j + 1
		var n, size int64
		err := tx.QueryRow(`SELECT count(*), coalesce(sum(length(topic)+length(payload)), 0) FROM queue WHERE id BETWEEN ? AND ?`,
			lo, hi).Scan(&n, &size)
		if err != nil {
			return fmt.Errorf("buffer delete: %w", err)
		}
		if n == 0 {
			continue // dropped by a cap meanwhile
		}
		if _, err := tx.Exec(`DELETE FROM queue WHERE id BETWEEN ? AND ?`, lo, hi); err != nil {
			return fmt.Errorf("buffer delete: %w", err)
		}
		res.deleted += n
		res.deletedBytes += size + n*RowOverhead
	}
	return nil
}

// setMeta upserts key, value pairs.
func setMeta(tx *sql.Tx, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		_, err := tx.Exec(`INSERT INTO meta(key, value) VALUES(?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value`, kv[i], kv[i+1])
		if err != nil {
			return fmt.Errorf("buffer meta %s: %w", kv[i], err)
		}
	}
	return nil
}

// enforceCaps drops the oldest rows while the queue is over MaxBytes or they
// are older than MaxAge, counting them per topic prefix. Rows already
// acknowledged are deleted without counting.
func (b *Buffer) enforceCaps(tx *sql.Tx, w *work, now time.Time, res *result) error {
	b.mu.Lock()
	over := b.dbBytes + w.batchBytes - res.deletedBytes - b.cfg.MaxBytes
	b.mu.Unlock()
	if b.cfg.MaxBytes == 0 {
		over = 0
	}
	// aged: accepted over MaxAge ago, by the time since boot for rows of
	// this boot, else by the wall clock.
	boot, mono := b.cfg.Clock.Boot(), b.cfg.Clock.Mono()
	cutoff := b.cfg.Clock.Now().Add(-b.cfg.MaxAge).UnixNano()
	aged := func(at int64, rowBoot string, rowMono int64) bool {
		if b.cfg.MaxAge <= 0 {
			return false
		}
		if rowBoot == boot && rowMono > 0 {
			return mono-time.Duration(rowMono) > b.cfg.MaxAge
		}
		return at < cutoff
	}
	const page = 512
	for {
		rows, err := tx.Query(`SELECT id, at, boot, mono, topic, length(topic)+length(payload) FROM queue ORDER BY id LIMIT ?`, page)
		if err != nil {
			return fmt.Errorf("buffer cap: %w", err)
		}
		last, n, stop := int64(-1), 0, false
		for rows.Next() {
			var id, at, rowMono, size int64
			var topic, rowBoot string
			if err := rows.Scan(&id, &at, &rowBoot, &rowMono, &topic, &size); err != nil {
				_ = rows.Close() // the scan error is what matters
				return fmt.Errorf("buffer cap: %w", err)
			}
			n++
			if over <= 0 && !aged(at, rowBoot, rowMono) {
				stop = true
				break
			}
			size += RowOverhead
			over -= size
			last = id
			b.mu.Lock()
			acked := b.isAcked(id)
			b.mu.Unlock()
			if acked {
				res.deleted++
				res.deletedBytes += size
				continue
			}
			if res.droppedBy == nil {
				res.droppedBy = make(map[string]int64)
			}
			res.dropped++
			res.droppedBytes += size
			res.droppedBy[topicPrefix(topic)]++
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("buffer cap: %w", err)
		}
		if last >= 0 {
			if _, err := tx.Exec(`DELETE FROM queue WHERE id <= ?`, last); err != nil {
				return fmt.Errorf("buffer cap: %w", err)
			}
		}
		if stop || n < page {
			break
		}
	}
	for p, n := range res.droppedBy {
		_, err := tx.Exec(`INSERT INTO drops(prefix, n) VALUES(?, ?)
			ON CONFLICT(prefix) DO UPDATE SET n = n + excluded.n`, p, n)
		if err != nil {
			return fmt.Errorf("buffer count drops: %w", err)
		}
	}
	return nil
}

// finish applies a commit's outcome to the in-memory state and answers the
// Append callbacks of the batch.
func (b *Buffer) finish(st *writerState, w *work, res result, err error, now time.Time) {
	if w.checkCaps && err == nil {
		st.lastAgeCheck = now
		b.ageChecks.Add(1)
	}
	if err == nil && (w.uplink != nil || !w.lastAck.IsZero()) {
		st.lastMeta = now
	}
	b.mu.Lock()
	var answer error
	if err != nil {
		answer = err
		if isFull(err) {
			answer = fmt.Errorf("%w: %w", ErrDiskFull, err)
			b.fullErrors++
		}
		if w.uplink != nil {
			b.uplinkDirty = true // retry
		}
		if !w.lastAck.IsZero() {
			b.ackDirty = true
		}
	}
	replies := make([]reply, 0, len(b.committing))
	for _, r := range b.committing { // id order: callbacks are called in append order
		switch {
		case err == nil:
			if r.acked {
				b.acked[r.id] = now
			} else {
				b.memRows--
				b.memBytes -= r.size
				if r.sent {
					b.acked[r.id] = now // sent at QoS 0 and now on disk: delete it
				}
			}
			replies = r.answer(replies, nil)
		case r.acked:
			replies = r.answer(replies, nil) // the upstream has it
		default:
			b.memRows--
			b.memBytes -= r.size
			replies = r.answer(replies, answer)
		}
	}
	if err == nil {
		b.commits++
		if n := len(b.committing); n > 0 {
			b.lastDBID = b.committing[n-1].id
		}
		b.dbRows, b.dbBytes = res.rows, res.bytes // as stored in meta
		for _, id := range w.deletes {
			delete(b.acked, id)
		}
		b.drops += res.dropped
		for p, n := range res.droppedBy {
			b.dropsBy[p] += n
		}
	}
	b.committing = nil
	drops, dropsBy := b.drops, len(b.dropsBy)
	b.mu.Unlock()
	callAll(replies)
	for _, c := range w.subWaiters {
		c <- err // buffered: never blocks
	}

	switch {
	case err != nil && isFull(err):
		if !st.fullEpisode {
			st.fullEpisode = true
			b.log.Error("buffer disk full: messages rejected", "rejected", len(w.batch), "err", err)
		}
		return
	case err != nil:
		b.log.Error("buffer commit failed: messages rejected", "rejected", len(w.batch), "err", err)
		return
	}
	if st.fullEpisode && len(w.batch) > 0 {
		st.fullEpisode = false
		b.log.Info("buffer disk no longer full")
	}
	switch {
	case res.dropped > 0 && st.dropEpisode == 0:
		b.log.Error("buffer full: dropping oldest messages (data lost)",
			"dropped", res.dropped, "drops_total", drops, "prefixes", dropsBy,
			"max_bytes", b.cfg.MaxBytes, "max_age", b.cfg.MaxAge)
		st.dropEpisode = res.dropped
	case res.dropped > 0:
		st.dropEpisode += res.dropped
	case st.dropEpisode > 0 && len(w.batch) > 0:
		b.log.Warn("buffer no longer dropping", "dropped_in_episode", st.dropEpisode, "drops_total", drops)
		st.dropEpisode = 0
	}
}
