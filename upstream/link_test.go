package upstream_test

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/tcpproxy"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/upstream"
)

// startProxy puts a controllable TCP proxy in front of mosquitto.
func startProxy(t *testing.T, up *mqtttest.Mosquitto, delay time.Duration) *tcpproxy.Proxy {
	t.Helper()
	p, err := tcpproxy.Start(strings.TrimPrefix(up.URL(), "mqtt://"), delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() }) // closing down: the error says nothing
	return p
}

// connectLevel returns the protocol level of an MQTT CONNECT packet
// [MQTT-3.1.2.2]: 4 for 3.1.1, 3 for 3.1 ("MQIsdp"), 5 for 5.0; -1 if b is
// not a CONNECT.
func connectLevel(b []byte) int {
	if len(b) < 2 || b[0] != 0x10 {
		return -1
	}
	i := 1
	for i < len(b) && b[i]&0x80 != 0 { // remaining length, a variable byte integer
		i++
	}
	i++
	if i+2 > len(b) {
		return -1
	}
	n := int(b[i])<<8 | int(b[i+1])
	i += 2 + n
	if i >= len(b) {
		return -1
	}
	return int(b[i])
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, timeout, what, cond)
}

// TestHalfOpenLink: the path to the upstream dies without an error (no byte
// passes, the TCP connection stays open). The forwarder notices within 1.5
// times the keep-alive and says how; its connection attempts over the dead
// path are each abandoned (closed) before the next begins, all of them MQTT
// 3.1.1 (no silent fallback to 3.1); once the path heals, the messages
// published meanwhile arrive.
func TestHalfOpenLink(t *testing.T) { forEachVersion(t, testHalfOpenLink) }

func testHalfOpenLink(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	proxy := startProxy(t, up, 0)
	cfg := testConfig(t, "mqtt://"+proxy.Addr())
	cfg.KeepAlive = 2 * time.Second
	cfg.ConnectTimeout = time.Second
	cfg.ReconnectMin = 50 * time.Millisecond
	cfg.ReconnectMax = 100 * time.Millisecond
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	waitUp(t, g.fwd)
	if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/a", Payload: []byte("before"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, 1, 10*time.Second)

	proxy.Blackhole()
	cut := time.Now()
	waitFor(t, "the uplink to go down", 30*time.Second, func() bool { return g.fwd.Status().State == "down" })
	noticed := time.Since(cut)
	st := g.fwd.Status()
	if !strings.Contains(st.LastErr, "keep-alive watchdog") || !strings.Contains(st.LastErr, "half-open") {
		t.Errorf("last error %q: want it noticed by the keep-alive watchdog as half-open", st.LastErr)
	}
	// 1.5 x keep-alive, plus a generous allowance for a loaded machine.
	if limit := cfg.KeepAlive*3/2 + 2*time.Second; noticed > limit {
		t.Errorf("half-open link noticed after %v, want within %v (1.5 x keep-alive %v, with slack)", noticed, limit, cfg.KeepAlive)
	}
	t.Logf("half-open link noticed after %v: %s", noticed, st.LastErr)
	if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/a", Payload: []byte("during"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	// Attempts over the dead path time out; each is closed before the next.
	n := proxy.Accepted()
	waitFor(t, "three more connection attempts", 60*time.Second, func() bool { return proxy.Accepted() >= n+3 })
	proxy.Heal()
	waitUp(t, g.fwd)
	rec.Wait(t, 2, 20*time.Second)
	if got := proxy.MaxOpen(); got > 1 {
		t.Errorf("at most %d connections were open at once, want 1 (an abandoned attempt ran on)", got)
	}
	for i, first := range proxy.Firsts() {
		if lvl := connectLevel(first); lvl != cfg.ProtocolVersion {
			t.Errorf("connection %d: CONNECT protocol level %d, want %d, the configured one", i, lvl, cfg.ProtocolVersion)
		}
	}
}

// TestNextAttemptReported: while the upstream is down, the status and the
// buffer's stats say when the next connection attempt is due.
func TestNextAttemptReported(t *testing.T) { forEachVersion(t, testNextAttemptReported) }

func testNextAttemptReported(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	cfg := testConfig(t, up.URL())
	cfg.ReconnectMin = 20 * time.Second
	cfg.ReconnectMax = 20 * time.Second
	path := filepath.Join(t.TempDir(), "buffer.db")
	g := startGW(t, path, cfg, nil, nil)
	waitUp(t, g.fwd)
	if st := g.fwd.Status(); !st.NextAttempt.IsZero() {
		t.Errorf("next attempt while up: %v, want none", st.NextAttempt)
	}
	up.Stop()
	waitFor(t, "the uplink to go down", 30*time.Second, func() bool { return g.fwd.Status().State == "down" })
	st := g.fwd.Status()
	if d := time.Until(st.NextAttempt); d <= 0 || d > 20*time.Second {
		t.Errorf("next attempt in %v, want within the 20s wait", d)
	}
	waitFor(t, "the buffer to record the next attempt", 10*time.Second, func() bool {
		s, err := g.buf.Stats(t.Context())
		return err == nil && s.NextAttempt.Equal(st.NextAttempt)
	})
	// `gateway buffer stats` reads it from the database.
	var out bytes.Buffer
	waitFor(t, "buffer stats to show the next attempt", 10*time.Second, func() bool {
		out.Reset()
		err := buffer.Main(t.Context(), []string{"--db", path, "stats"}, &out, io.Discard)
		return err == nil && strings.Contains(out.String(), "next attempt") &&
			strings.Contains(out.String(), st.NextAttempt.UTC().Format(time.RFC3339))
	})
}

// waitWatcher records each reconnect wait the forwarder announces: the time
// from when a new NextAttempt was first seen to that attempt (at most the
// wait that was drawn).
type waitWatcher struct {
	fwd  *upstream.Forwarder
	last time.Time
}

// next waits for the next announced reconnect wait.
func (w *waitWatcher) next(t *testing.T) time.Duration {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, "a reconnect wait announced", func() bool {
		next := w.fwd.Status().NextAttempt
		if next.IsZero() || next.Equal(w.last) {
			return false
		}
		w.last = next
		return true
	})
	return time.Until(w.last)
}

// TestReconnectWait: failed attempts double the wait; a connection that
// drops soon after it came up does not reset it (a flapping link is not
// hammered), one that stayed up StableAfter does.
func TestReconnectWait(t *testing.T) { forEachVersion(t, testReconnectWait) }

func testReconnectWait(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	proxy := startProxy(t, up, 0)
	cfg := testConfig(t, "mqtt://"+proxy.Addr())
	cfg.ReconnectMin = 200 * time.Millisecond
	cfg.ReconnectMax = 20 * time.Second
	cfg.StableAfter = 2 * time.Second
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, nil, nil)
	waitUp(t, g.fwd)
	w := &waitWatcher{fwd: g.fwd}

	proxy.Cut() // refused from now on: the waits grow
	for d := time.Duration(0); d < 1500*time.Millisecond; {
		d = w.next(t)
	}
	// Up again, but only briefly: the wait keeps growing.
	proxy.Restore()
	waitUp(t, g.fwd)
	proxy.Cut()
	if d := w.next(t); d < time.Second {
		t.Errorf("wait after a connection that stayed up only briefly: %v, want it still grown (>= 1s)", d)
	}
	// Up for longer than StableAfter: back to ReconnectMin.
	proxy.Restore()
	waitUp(t, g.fwd)
	upAt := time.Now()
	waitFor(t, "the connection to stay up StableAfter", 30*time.Second, func() bool {
		return time.Since(upAt) > cfg.StableAfter+500*time.Millisecond
	})
	if st := g.fwd.Status(); st.State != "up" {
		t.Fatalf("uplink %s (%s), want up", st.State, st.LastErr)
	}
	proxy.Cut()
	if d := w.next(t); d > cfg.ReconnectMin {
		t.Errorf("wait after a connection that stayed up %v: %v, want at most reconnect_min %v", cfg.StableAfter, d, cfg.ReconnectMin)
	}
}
