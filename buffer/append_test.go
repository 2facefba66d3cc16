package buffer

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// answers records the Append callbacks of a test by key.
type answers struct {
	t     *testing.T
	b     *Buffer
	mu    sync.Mutex
	calls map[int][]error // every call, by key
	order []int           // keys in call order
	ch    chan int        // the key of each call
}

func newAnswers(t *testing.T, b *Buffer) *answers {
	return &answers{t: t, b: b, calls: map[int][]error{}, ch: make(chan int, 10000)}
}

// done returns the callback for key. It checks that b.mu is not held while
// it runs: the lock is free within a second unless the calling goroutine
// holds it.
func (a *answers) done(key int) func(error) {
	return func(err error) {
		deadline := time.Now().Add(time.Second)
		for {
			if a.b.mu.TryLock() {
				a.b.mu.Unlock()
				break
			}
			if time.Now().After(deadline) {
				a.t.Errorf("callback %d called with the buffer's lock held", key)
				break
			}
			runtime.Gosched()
		}
		a.mu.Lock()
		a.calls[key] = append(a.calls[key], err)
		a.order = append(a.order, key)
		a.mu.Unlock()
		a.ch <- key // buffered: never blocks
	}
}

// wait waits for n more callbacks.
func (a *answers) wait(n int) {
	a.t.Helper()
	timeout := time.After(10 * time.Second) // a failsafe, not a synchronisation
	for range n {
		select {
		case <-a.ch:
		case <-timeout:
			a.t.Fatalf("waiting for %d callbacks: timed out", n)
		}
	}
}

// got returns the calls of key so far.
func (a *answers) got(key int) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls[key])
}

// once checks that key was answered exactly once and returns the answer.
func (a *answers) once(key int) error {
	a.t.Helper()
	got := a.got(key)
	if len(got) != 1 {
		a.t.Fatalf("callback %d: called %d times (%v), want once", key, len(got), got)
	}
	return got[0]
}

func TestAppendCommitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b := open(t, Default(path))
	a := newAnswers(t, b)
	if err := b.Append(msg("a/b", 1), a.done(1)); err != nil {
		t.Fatalf("Append: %v", err)
	}
	a.wait(1)
	if err := a.once(1); err != nil {
		t.Fatalf("callback: got %v, want nil", err)
	}
	if rows, bytes := b.Backlog(); rows != 0 || bytes != 0 {
		t.Errorf("Backlog after the commit: got %d, %d, want 0, 0", rows, bytes)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a.once(1) // not called again by Close
	r, err := OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if es, err := r.List(t.Context(), Filter{}); err != nil || len(es) != 1 {
		t.Errorf("after Close: got %d entries, %v, want 1", len(es), err)
	}
}

// TestAppendAckedBeforeCommit: with the uplink up, the callback of a message
// acknowledged before its commit was due is called by Ack, with nil.
func TestAppendAckedBeforeCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	cfg.FlushInterval = time.Minute
	b := open(t, cfg)
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	a := newAnswers(t, b)
	if err := b.Append(msg("a/b", 1), a.done(1)); err != nil {
		t.Fatal(err)
	}
	ids, _, err := b.Next(t.Context(), 0, 10)
	if err != nil || len(ids) != 1 {
		t.Fatalf("Next: got %v, %v, want one id", ids, err)
	}
	if got := a.got(1); len(got) != 0 {
		t.Fatalf("callback called with %v before the ack or a commit", got)
	}
	if err := b.Ack(ids...); err != nil {
		t.Fatal(err)
	}
	if err := a.once(1); err != nil { // called before Ack returned
		t.Fatalf("callback: got %v, want nil", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a.once(1)
	r, err := OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s, err := r.Stats(t.Context()); err != nil || s.Depth != 0 {
		t.Errorf("stats: got depth %d, %v, want 0: never written", s.Depth, err)
	}
}

// TestAppendDiskFull: a failed commit answers with its error, wrapping
// ErrDiskFull (the full disk faked as in TestDiskFull).
func TestAppendDiskFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	cfg.MaxBytes = 0
	b := open(t, cfg)
	if err := b.Publish(t.Context(), msg("a/b", 0)); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, b)
	a := newAnswers(t, b)
	if err := b.Append(gateway.Message{Topic: "a/big", Payload: make([]byte, 64<<10), QoS: 1}, a.done(1)); err != nil {
		t.Fatal(err)
	}
	a.wait(1)
	if err := a.once(1); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("callback when full: got %v, want ErrDiskFull", err)
	}
	if rows, bytes := b.Backlog(); rows != 0 || bytes != 0 {
		t.Errorf("Backlog after the refusal: got %d, %d, want 0, 0", rows, bytes)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a.once(1)
}

// TestAppendOrder: the callbacks of one commit are called in append order.
func TestAppendOrder(t *testing.T) {
	const n = 50
	cfg := Default(filepath.Join(t.TempDir(), "buffer.db"))
	cfg.FlushInterval = time.Minute
	cfg.BatchSize = n // the n-th append starts the commit of all n
	cfg.MaxAge = 0    // no age checks: each would be a commit of its own
	b := open(t, cfg)
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	a := newAnswers(t, b)
	for i := range n {
		if err := b.Append(msg("a/b", i), a.done(i)); err != nil {
			t.Fatal(err)
		}
	}
	a.wait(n)
	for i := range n {
		if err := a.once(i); err != nil {
			t.Fatalf("callback %d: got %v, want nil", i, err)
		}
	}
	a.mu.Lock()
	order := slices.Clone(a.order)
	a.mu.Unlock()
	if !slices.IsSorted(order) {
		t.Errorf("callbacks called in order %v, want append order", order)
	}
	// The uplink state is committed once, alone or with the batch.
	if s, err := b.Stats(t.Context()); err != nil || s.Commits > 2 {
		t.Errorf("stats: got %d commits, %v, want the batch in one commit", s.Commits, err)
	}
}

// TestAppendClosePending: Close commits what is pending and answers every
// callback before it returns.
func TestAppendClosePending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	cfg.FlushInterval = time.Minute
	b := open(t, cfg)
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	a := newAnswers(t, b)
	for i := range 10 {
		if err := b.Append(msg("a/b", i), a.done(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := a.once(i); err != nil {
			t.Errorf("callback %d: got %v, want nil (committed by Close)", i, err)
		}
	}
	b = open(t, cfg)
	if _, got := drain(t, b); len(got) != 10 {
		t.Errorf("after reopen: got %d messages, want 10", len(got))
	}
}

func TestAppendAfterClose(t *testing.T) {
	b := open(t, Default(filepath.Join(t.TempDir(), "buffer.db")))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a := newAnswers(t, b)
	if err := b.Append(msg("a/b", 1), a.done(1)); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
	if got := a.got(1); len(got) != 0 {
		t.Errorf("callback after Close: called with %v, want not called", got)
	}
}

// TestRefuseLeftover: a record the final flush did not take (none should be
// left) is answered with ErrClosed.
func TestRefuseLeftover(t *testing.T) {
	b := open(t, Default(filepath.Join(t.TempDir(), "buffer.db")))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a := newAnswers(t, b)
	m := msg("a/b", 1)
	b.pending = []*rec{
		{id: 1, m: m, size: 10, done: a.done(1)},
		{id: 2, m: m, size: 10, acked: true}, // answered by Ack
	}
	b.memRows, b.memBytes = 1, 10
	b.refuseLeftover()
	if err := a.once(1); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("leftover callback: got %v, want ErrClosed", err)
	}
	if rows, bytes := b.Backlog(); rows != 0 || bytes != 0 || len(b.pending) != 0 {
		t.Errorf("after refuseLeftover: got backlog %d, %d and %d pending, want none", rows, bytes, len(b.pending))
	}
}

func TestBacklog(t *testing.T) {
	cfg := Default(filepath.Join(t.TempDir(), "buffer.db"))
	cfg.FlushInterval = time.Minute
	b := open(t, cfg)
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	a := newAnswers(t, b)
	msgs := []gateway.Message{
		{Topic: "a/b", Payload: []byte("1"), QoS: 1},
		{Topic: "a/bc", Payload: []byte("22"), QoS: 1},
		{Topic: "a/bcd", Payload: []byte("333"), QoS: 1},
	}
	var want int64
	for i, m := range msgs {
		if err := b.Append(m, a.done(i)); err != nil {
			t.Fatal(err)
		}
		want += int64(len(m.Topic)+len(m.Payload)) + RowOverhead
	}
	if rows, bytes := b.Backlog(); rows != 3 || bytes != want {
		t.Errorf("Backlog: got %d, %d, want 3, %d", rows, bytes, want)
	}
	ids, _, err := b.Next(t.Context(), 0, 1)
	if err != nil || len(ids) != 1 {
		t.Fatalf("Next: got %v, %v, want one id", ids, err)
	}
	if err := b.Ack(ids...); err != nil {
		t.Fatal(err)
	}
	want -= int64(len(msgs[0].Topic)+len(msgs[0].Payload)) + RowOverhead
	if rows, bytes := b.Backlog(); rows != 2 || bytes != want {
		t.Errorf("Backlog after an ack: got %d, %d, want 2, %d", rows, bytes, want)
	}
	if err := b.SetUplink(UplinkDown, "gone"); err != nil { // commits at once
		t.Fatal(err)
	}
	a.wait(3)
	if rows, bytes := b.Backlog(); rows != 0 || bytes != 0 {
		t.Errorf("Backlog after the commit: got %d, %d, want 0, 0", rows, bytes)
	}
}

// TestAckQoS0CommitsFirst: an upstream "ack" of a QoS 0 message only means
// it was written to the connection, so a message whose callback waits is
// committed (at once, not after FlushInterval) before it is answered, and
// Next does not return it again.
func TestAckQoS0CommitsFirst(t *testing.T) {
	cfg := Default(filepath.Join(t.TempDir(), "buffer.db"))
	cfg.FlushInterval = time.Minute
	b := open(t, cfg)
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	if err := b.Append(gateway.Message{Topic: "a/b", Payload: []byte("1")}, func(err error) { answered <- err }); err != nil {
		t.Fatal(err)
	}
	ids, _, err := b.Next(t.Context(), 0, 10)
	if err != nil || len(ids) != 1 {
		t.Fatalf("Next: got %v, %v, want one id", ids, err)
	}
	if err := b.Ack(ids...); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the acked QoS 0 message was not committed and answered")
	}
	if s, err := b.Stats(t.Context()); err != nil || s.Commits == 0 {
		t.Error("answered without a commit")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if ids, _, err := b.Next(ctx, 0, 10); err == nil {
		t.Errorf("Next after the ack: got %v, want nothing", ids)
	}
}
