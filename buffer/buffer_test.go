package buffer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/internal/testutil"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func open(t *testing.T, cfg Config) *Buffer {
	t.Helper()
	b, err := Open(t.Context(), cfg, testLog(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() }) // closing twice is harmless
	return b
}

func msg(topic string, i int) gateway.Message {
	return gateway.Message{Topic: topic, Payload: []byte(strconv.Itoa(i)), QoS: 1, Time: time.Unix(1700000000, int64(i))}
}

// publishAll publishes concurrently (as many publishers would) and waits.
func publishAll(t *testing.T, b *Buffer, msgs []gateway.Message) {
	t.Helper()
	// One goroutine per topic keeps per-topic order.
	byTopic := map[string][]gateway.Message{}
	var order []string
	for _, m := range msgs {
		if _, ok := byTopic[m.Topic]; !ok {
			order = append(order, m.Topic)
		}
		byTopic[m.Topic] = append(byTopic[m.Topic], m)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(msgs))
	for _, topic := range order {
		wg.Go(func() {
			for _, m := range byTopic[topic] {
				if err := b.Publish(t.Context(), m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
}

// drain reads everything after 0 without waiting.
func drain(t *testing.T, b *Buffer) ([]int64, []gateway.Message) {
	t.Helper()
	var ids []int64
	var msgs []gateway.Message
	var after int64
	for {
		// Each call gets its own wait: on a loaded machine one read may
		// take long, and the drain ends only when nothing more comes.
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		i, m, err := b.Next(ctx, after, 100)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return ids, msgs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		ids = append(ids, i...)
		msgs = append(msgs, m...)
		after = i[len(i)-1]
	}
}

func TestPublishPersistsInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b := open(t, Default(path))
	var in []gateway.Message
	for i := range 300 {
		in = append(in, msg(fmt.Sprintf("site/dev%d/temp", i%3), i))
	}
	for _, m := range in { // sequential: global order is the publish order
		if err := b.Publish(t.Context(), m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b = open(t, Default(path))
	ids, got := drain(t, b)
	if len(got) != len(in) {
		t.Fatalf("got %d messages after reopen, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i].Topic != in[i].Topic || string(got[i].Payload) != string(in[i].Payload) ||
			!got[i].Time.Equal(in[i].Time) || got[i].QoS != 1 {
			t.Fatalf("message %d: got %+v, want %+v", i, got[i], in[i])
		}
		if i > 0 && ids[i] <= ids[i-1] {
			t.Fatalf("ids not increasing: %d after %d", ids[i], ids[i-1])
		}
	}
	// Ack the first half: after a restart only the second half is left.
	if err := b.Ack(ids[:150]...); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if _, got := drain(t, b); len(got) != 150 || string(got[0].Payload) != "150" {
		t.Fatalf("after ack: got %d messages starting %q, want 150 starting 150", len(got), got[0].Payload)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b = open(t, Default(path))
	_, got = drain(t, b)
	if len(got) != 150 || string(got[0].Payload) != "150" {
		t.Fatalf("after restart: got %d messages, want 150 starting 150", len(got))
	}
	s, err := b.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Depth != 150 || s.LastAck.IsZero() {
		t.Errorf("stats: got depth %d last ack %v, want 150 and a time", s.Depth, s.LastAck)
	}
}

// TestOnlineAckedNeverWritten: with the uplink up, a message acknowledged
// before its flush is due is accepted without touching the database.
func TestOnlineAckedNeverWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	cfg.FlushInterval = time.Minute
	b := open(t, cfg)
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Publish(t.Context(), msg("a/b", 1)) }()
	ids, msgs, err := b.Next(t.Context(), 0, 10)
	if err != nil || len(ids) != 1 || msgs[0].Topic != "a/b" {
		t.Fatalf("Next: got %v %v %v, want one message on a/b", ids, msgs, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Publish returned %v before the ack or a commit", err)
	default:
	}
	if err := b.Ack(ids...); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Depth != 0 || s.Uplink != UplinkUp || s.LastAck.IsZero() {
		t.Errorf("stats: got depth %d uplink %q last ack %v, want 0, up, a time", s.Depth, s.Uplink, s.LastAck)
	}
}

// TestOnlineUnackedCommitted: with the uplink up, a message not
// acknowledged within the flush interval is committed.
func TestOnlineUnackedCommitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	cfg.FlushInterval = 20 * time.Millisecond
	b := open(t, cfg)
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), msg("a/b", 1)); err != nil {
		t.Fatal(err)
	}
	ids, _, err := b.Next(t.Context(), 0, 10)
	if err != nil || len(ids) != 1 {
		t.Fatalf("Next: %v %v", ids, err)
	}
	if err := b.Ack(ids...); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, cfg)
	if _, got := drain(t, b); len(got) != 0 {
		t.Errorf("after ack and restart: got %d messages, want 0", len(got))
	}
}

func TestMaxBytesDropsOldest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	size := int64(len("site/a/x") + 4 + RowOverhead)
	cfg.MaxBytes = 100 * size
	b := open(t, cfg)
	var in []gateway.Message
	for i := range 250 {
		topic := "site/a/x"
		if i%2 == 1 {
			topic = "site/b/x"
		}
		in = append(in, gateway.Message{Topic: topic, Payload: fmt.Appendf(nil, "%04d", i), QoS: 1})
	}
	for _, m := range in {
		if err := b.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Drops != 150 || s.Depth != 100 || s.Bytes != 100*size {
		t.Errorf("stats: got drops %d depth %d bytes %d, want 150, 100, %d", s.Drops, s.Depth, s.Bytes, 100*size)
	}
	if s.DropsByPrefix["site/a"] != 75 || s.DropsByPrefix["site/b"] != 75 {
		t.Errorf("drops by prefix: got %v, want site/a and site/b 75 each", s.DropsByPrefix)
	}
	_, got := drain(t, b)
	if len(got) != 100 || string(got[0].Payload) != "0150" || string(got[99].Payload) != "0249" {
		t.Fatalf("got %d messages, want the newest 100 (0150..0249)", len(got))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The counters survive a restart.
	b = open(t, cfg)
	if s, err := b.Stats(t.Context()); err != nil || s.Drops != 150 || s.DropsByPrefix["site/b"] != 75 {
		t.Errorf("stats after restart: got %+v, %v, want 150 drops", s, err)
	}
}

func TestMaxAgeDrops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	cfg.MaxAge = 50 * time.Millisecond
	b := open(t, cfg)
	for i := range 10 {
		if err := b.Publish(t.Context(), msg("old/x", i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "stats: 10 dropped for age, none left", func() bool {
		s, err := b.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if s.Drops == 10 && s.Depth == 0 && s.DropsByPrefix["old/x"] == 10 {
			return true
		}
		b.nudge()
		return false
	})
}

// fillDisk fakes a nearly full disk: the database may grow by two pages.
func fillDisk(t *testing.T, b *Buffer) {
	t.Helper()
	var pages int64
	if err := b.wdb.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := b.wdb.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)); err != nil {
		t.Fatal(err)
	}
}

// TestDiskFull fakes a full disk with PRAGMA max_page_count: Publish fails
// with ErrDiskFull, nothing crashes, and after room is made publishing works.
func TestDiskFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := Default(path)
	cfg.MaxBytes = 0
	b := open(t, cfg)
	if err := b.Publish(t.Context(), msg("a/b", 0)); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, b)
	big := make([]byte, 64<<10)
	err := b.Publish(t.Context(), gateway.Message{Topic: "a/big", Payload: big, QoS: 1})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Publish when full: got %v, want ErrDiskFull", err)
	}
	if s, _ := b.Stats(t.Context()); s.DiskFullErrors != 1 || s.Depth != 1 {
		t.Errorf("stats: got disk full %d depth %d, want 1 and 1", s.DiskFullErrors, s.Depth)
	}
	if _, err := b.wdb.Exec("PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), msg("a/b", 1)); err != nil {
		t.Fatalf("Publish after room was made: %v", err)
	}
	if _, got := drain(t, b); len(got) != 2 {
		t.Errorf("got %d messages, want 2", len(got))
	}
}

func TestCorruptMovedAside(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"damaged page", func(t *testing.T, path string) {
			b, err := Open(t.Context(), Default(path), testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2000 {
				if err := b.Publish(t.Context(), msg(fmt.Sprintf("t/%d", i), i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Overwrite the b-tree pages after the schema page.
			if _, err := f.WriteAt([]byte(strings.Repeat("\xff", 8192)), 4096*2); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "buffer.db")
			tt.corrupt(t, path)
			b := open(t, Default(path))
			if err := b.Publish(t.Context(), msg("a/b", 1)); err != nil {
				t.Fatalf("Publish on the new database: %v", err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*") // the pattern is valid
			if len(aside) == 0 {
				t.Fatalf("no %s.corrupt-* file kept", path)
			}
			if _, got := drain(t, b); len(got) != 1 {
				t.Errorf("new database: got %d messages, want 1", len(got))
			}
		})
	}
}

// TestKill9 runs a child process that publishes until it is killed with
// SIGKILL; every message whose Publish returned must be in the database.
func TestKill9(t *testing.T) {
	if path := os.Getenv("BUFFER_KILL_CHILD"); path != "" {
		killChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "buffer.db")
	child := testutil.StartChild(t, "TestKill9", "BUFFER_KILL_CHILD="+path)
	sc := child.Out
	accepted := map[string]bool{}
	for sc.Scan() && len(accepted) < 3000 {
		accepted[sc.Text()] = true
	}
	if err := child.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // accepted before the kill landed
		accepted[sc.Text()] = true
	}
	_ = child.Cmd.Wait() // killed: the error says so
	if len(accepted) < 3000 {
		t.Fatalf("child accepted only %d messages", len(accepted))
	}
	b := open(t, Default(path))
	_, got := drain(t, b)
	have := map[string]bool{}
	last := map[string]int{}
	for _, m := range got {
		have[string(m.Payload)] = true
		// per topic (= per publisher goroutine) order
		n, _ := strconv.Atoi(strings.SplitN(string(m.Payload), "-", 2)[1]) // written by killChild
		if n <= last[m.Topic] && last[m.Topic] != 0 {
			t.Fatalf("topic %s: %d after %d", m.Topic, n, last[m.Topic])
		}
		last[m.Topic] = n
	}
	for p := range accepted {
		if !have[p] {
			t.Fatalf("accepted message %q lost after kill -9 (have %d of %d)", p, len(have), len(accepted))
		}
	}
	t.Logf("accepted %d, found %d after kill -9", len(accepted), len(got))
}

func killChild(path string) {
	b, err := Open(context.Background(), Default(path), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 1; ; i++ {
				p := fmt.Sprintf("%d-%d", g, i)
				if err := b.Publish(context.Background(), gateway.Message{Topic: fmt.Sprintf("k/%d", g), Payload: []byte(p), QoS: 1}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(w, p)
				w.Flush() // the parent must see it at once
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestEnqueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b := open(t, Default(path))
	if err := b.SetUplink(UplinkUp, ""); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := b.Async().Publish(t.Context(), msg("a/b", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil { // commits what is pending
		t.Fatal(err)
	}
	if err := b.Enqueue(msg("a/b", 0)); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("Enqueue after Close: got %v, want ErrClosed", err)
	}
	b = open(t, Default(path))
	if _, got := drain(t, b); len(got) != 100 {
		t.Errorf("after restart: got %d messages, want 100", len(got))
	}
}
