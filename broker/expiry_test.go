package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/broker/store"
	"github.com/edgegw/gateway/internal/testutil"
)

// fakeClock is a broker clock that the test moves forward.
type fakeClock struct{ ahead atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *fakeClock) set(ahead time.Duration) { c.ahead.Store(int64(ahead)) }

// newExpiryBroker returns a started broker (no listeners) on a fake clock
// whose sweeper runs every sweepEvery, closed in t.Cleanup.
func newExpiryBroker(t *testing.T, cfg Config, sweepEvery time.Duration, log *slog.Logger) (*Broker, *fakeClock) {
	t.Helper()
	b, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	clk := &fakeClock{}
	b.now, b.sweepEvery = clk.now, sweepEvery
	if err := b.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b, clk
}

// waitOffline waits until the broker has detached the session of id from
// its connection (the offline time is set then).
func waitOffline(t *testing.T, b *Broker, id string) {
	t.Helper()
	waitFor(t, id+" offline", func() bool {
		b.mu.Lock()
		s := b.sessions[id]
		b.mu.Unlock()
		if s == nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conn == nil
	})
}

// leave connects id with a persistent session subscribed to filter at QoS
// 1, disconnects and waits until the broker saw it go.
func leave(t *testing.T, b *Broker, id, filter string) {
	t.Helper()
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: id}, false)
	c.subscribe(1, filter, 1)
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitOffline(t, b, id)
}

func publish(t *testing.T, b *Broker, topic, payload string) {
	t.Helper()
	if err := b.Publish(t.Context(), gateway.Message{Topic: topic, Payload: []byte(payload), QoS: 1}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// TestSessionExpiry: the sweeper drops a persistent session offline for
// longer than session_expiry, in memory and in the store, so that its
// client starts anew without the queued messages; a session whose client
// came back in time lives on, its expiry counted from the last disconnect.
func TestSessionExpiry(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	b, clk := newExpiryBroker(t, Config{PersistencePath: db, SessionExpiry: time.Hour}, time.Millisecond, nil)
	leave(t, b, "gone", "q")
	leave(t, b, "back", "q")
	publish(t, b, "q", "early") // queued for both

	clk.set(30 * time.Minute)
	c := pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "back"}, true) // in time: resumed
	c.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "q", Payload: []byte("early")})
	c.send(&packet.Puback{PacketID: 1})
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitOffline(t, b, "back")
	publish(t, b, "q", "late") // queued for both

	// 80 minutes after "gone" left, 50 after "back" did.
	clk.set(80 * time.Minute)
	waitFor(t, "the sweep", func() bool { return b.Stats().Sessions == 1 })

	g := pipeClient(t, b)
	g.connect(&packet.Connect{ClientID: "gone"}, false) // [MQTT-3.2.2-2] no session present
	g.subscribe(1, "marker", 1)
	publish(t, b, "marker", "first")
	// Neither "early" nor "late" comes before it.
	g.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "marker", Payload: []byte("first")})
	g.send(&packet.Puback{PacketID: 1})
	g.send(&packet.Disconnect{})
	g.expectClosed()

	c = pipeClient(t, b)
	c.connect(&packet.Connect{ClientID: "back"}, true)
	c.expect(&packet.Publish{QoS: 1, PacketID: 2, Topic: "q", Payload: []byte("late")})
	c.send(&packet.Disconnect{}) // "late" stays queued
	c.expectClosed()
	waitOffline(t, b, "back")
	waitOffline(t, b, "gone")

	// The store forgot the old session of "gone": its subscription to q
	// and the two messages queued for it.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss, err := st.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range ss {
		got[s.ClientID] = fmt.Sprint(s.Subs, len(s.Queue))
	}
	want := map[string]string{"back": "map[q:1] 1", "gone": "map[marker:1] 0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored sessions (subscriptions, queued messages) = %v, want %v", got, want)
	}
}

// TestSessionExpiryRestored: a session restored from the store counts as
// offline since the broker started, whatever its age before the restart;
// a client connecting after its expiry gets a new session even before the
// sweeper ran.
func TestSessionExpiryRestored(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	cfg := Config{PersistencePath: db, SessionExpiry: time.Hour}
	b1, clk1 := newExpiryBroker(t, cfg, time.Hour, nil)
	leave(t, b1, "r", "q")
	publish(t, b1, "q", "kept")
	clk1.set(50 * time.Minute)
	if got := b1.expireSessions(b1.now()); got != nil {
		t.Fatalf("expired after 50 minutes: %v", got)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	// The sweeper never runs during the test: expireSessions and attach
	// apply the expiry.
	b2, clk2 := newExpiryBroker(t, cfg, time.Hour, nil)
	if got := b2.expireSessions(b2.start.Add(59 * time.Minute)); got != nil {
		t.Fatalf("expired 59 minutes after the restart: %v", got)
	}
	clk2.set(61 * time.Minute)
	c := pipeClient(t, b2)
	c.connect(&packet.Connect{ClientID: "r"}, false) // expired: a new session
	c.subscribe(1, "q", 1)
	publish(t, b2, "q", "new")
	c.expect(&packet.Publish{QoS: 1, PacketID: 1, Topic: "q", Payload: []byte("new")}) // not "kept"
}

// TestSessionExpiryLog: one log line per sweep, listing the client ids only
// when there are few.
func TestSessionExpiryLog(t *testing.T) {
	var logBuf testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	b, _ := newExpiryBroker(t, Config{SessionExpiry: time.Minute}, time.Hour, log)
	for n, tc := range []struct {
		sessions int
		listed   bool
	}{{2, true}, {maxLoggedExpired + 5, false}} {
		for i := range tc.sessions {
			leave(t, b, fmt.Sprintf("c%d-%d", n, i), "t")
		}
		logBuf.Reset()
		if got := b.expireSessions(b.now().Add(2 * time.Minute)); len(got) != tc.sessions {
			t.Fatalf("expired %d sessions, want %d", len(got), tc.sessions)
		}
		var lines []map[string]any
		for _, line := range bytes.Split(bytes.TrimSpace(logBuf.Bytes()), []byte("\n")) {
			var rec map[string]any
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if rec["msg"] == "persistent sessions expired" {
				lines = append(lines, rec)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("%d sessions: %d log lines, want 1", tc.sessions, len(lines))
		}
		if got := lines[0]["count"]; got != float64(tc.sessions) {
			t.Errorf("count = %v, want %d", got, tc.sessions)
		}
		if _, listed := lines[0]["clients"]; listed != tc.listed {
			t.Errorf("%d sessions: clients listed %v, want %v", tc.sessions, listed, tc.listed)
		}
	}
}

func TestSweepInterval(t *testing.T) {
	for _, tc := range []struct{ expiry, want time.Duration }{
		{168 * time.Hour, time.Minute},
		{2 * time.Minute, 30 * time.Second},
		{time.Second, time.Second},
	} {
		if got := sweepInterval(tc.expiry); got != tc.want {
			t.Errorf("sweepInterval(%v) = %v, want %v", tc.expiry, got, tc.want)
		}
	}
}
