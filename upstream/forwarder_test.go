package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/upstream"
)

// The buffer is the queue the forwarder drains (wired in cmd/gateway).
var _ upstream.Queue = (*buffer.Buffer)(nil)

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func qos(n int) *int { return &n }

// forEachVersion runs test once per upstream protocol version, as subtests
// "v4" (MQTT 3.1.1) and "v5" (MQTT 5.0); testConfig reads the version from
// the subtest's name.
func forEachVersion(t *testing.T, test func(t *testing.T)) {
	for _, v := range upstream.ProtocolVersions {
		t.Run("v"+strconv.Itoa(v), test)
	}
}

// versionOf returns the protocol version of a forEachVersion subtest (4
// outside one).
func versionOf(t *testing.T) int {
	if strings.Contains(t.Name()+"/", "/v5/") {
		return 5
	}
	return 4
}

// testConfig forwards site/# under edge/gw1 and alarm/+ to alerts/{topic},
// at the protocol version of t (see forEachVersion).
func testConfig(t *testing.T, url string) upstream.Config {
	return versionConfig(url, versionOf(t))
}

// versionConfig is testConfig at protocol version v.
func versionConfig(url string, v int) upstream.Config {
	cfg := upstream.Default()
	cfg.URL = url
	cfg.ProtocolVersion = v
	if v == 5 {
		cfg.TopicAliases = upstream.DefaultTopicAliases // as FromConfig does
	}
	cfg.ClientID = "gw-test"
	cfg.ReconnectMin = 20 * time.Millisecond
	cfg.ReconnectMax = 200 * time.Millisecond
	cfg.ConnectTimeout = 2 * time.Second
	cfg.Forward = []upstream.ForwardRule{
		{Filter: "site/#", RemotePrefix: "edge/gw1"},
		{Filter: "alarm/+", RemoteTopic: "alerts/{topic}", QoS: qos(0)},
	}
	return cfg
}

// gw is the buffer + forwarder part of a gateway.
type gw struct {
	buf    *buffer.Buffer
	fwd    *upstream.Forwarder
	in     gateway.Sink // the Filter in front of the buffer
	stop   func()
	stopMu sync.Once
}

func startGW(t testing.TB, path string, cfg upstream.Config, local gateway.Sink, wrap func(*buffer.Buffer) upstream.Queue) *gw {
	t.Helper()
	bcfg := buffer.Default(path)
	return startGWWith(t, bcfg, cfg, local, wrap)
}

func startGWWith(t testing.TB, bcfg buffer.Config, cfg upstream.Config, local gateway.Sink, wrap func(*buffer.Buffer) upstream.Queue) *gw {
	t.Helper()
	return startGWLog(t, bcfg, cfg, local, wrap, testLog(t))
}

func startGWLog(t testing.TB, bcfg buffer.Config, cfg upstream.Config, local gateway.Sink, wrap func(*buffer.Buffer) upstream.Queue, log *slog.Logger) *gw {
	t.Helper()
	buf, err := buffer.Open(t.Context(), bcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	var q upstream.Queue = buf
	if wrap != nil {
		q = wrap(buf)
	}
	fwd, err := upstream.New(cfg, q, local, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fwd.Run(ctx) }()
	g := &gw{buf: buf, fwd: fwd, in: upstream.Filter(cfg.Forward, buf)}
	g.stop = func() {
		g.stopMu.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if err := buf.Close(); err != nil {
				t.Errorf("buffer Close: %v", err)
			}
		})
	}
	t.Cleanup(g.stop)
	return g
}

// waitEmpty waits until the buffer holds nothing.
func (g *gw) waitEmpty(t testing.TB) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, "the buffer to empty", func() bool {
		s, err := g.buf.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return s.Depth == 0
	})
}

// publishPerTopic publishes n messages on each topic, one goroutine per
// topic, payload = sequence number.
func publishPerTopic(t *testing.T, s gateway.Sink, topics []string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(topics))
	for _, topic := range topics {
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				if err := s.Publish(t.Context(), gateway.Message{Topic: topic, Payload: []byte(strconv.Itoa(i)), QoS: 1}); err != nil {
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

// checkInOrder checks that per topic, 1..n all arrived and the first
// occurrences are in order (resends after a reconnect may repeat a window).
func checkInOrder(t *testing.T, got []mqtttest.Message, topics []string, n int) {
	t.Helper()
	seen := map[string]map[int]bool{}
	last := map[string]int{}
	dups := 0
	for _, m := range got {
		v, err := strconv.Atoi(m.Payload)
		if err != nil {
			t.Fatalf("payload %q", m.Payload)
		}
		if seen[m.Topic] == nil {
			seen[m.Topic] = map[int]bool{}
		}
		if seen[m.Topic][v] {
			dups++
			continue
		}
		if v != last[m.Topic]+1 {
			t.Fatalf("topic %s: %d arrived after %d", m.Topic, v, last[m.Topic])
		}
		seen[m.Topic][v] = true
		last[m.Topic] = v
	}
	for _, topic := range topics {
		if last[topic] != n {
			t.Errorf("topic %s: got 1..%d, want 1..%d", topic, last[topic], n)
		}
	}
	if dups > 0 {
		t.Logf("%d duplicates (resent window)", dups)
	}
}

// Test 1: online flow with the right remote topics.
func TestOnline(t *testing.T) { forEachVersion(t, testOnline) }

func testOnline(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), testConfig(t, up.URL()), nil, nil)
	in := []gateway.Message{
		{Topic: "site/boiler/temp", Payload: []byte("21.5"), QoS: 0},
		{Topic: "other/x", Payload: []byte("not forwarded")},
		{Topic: "alarm/fire", Payload: []byte("1")},
		{Topic: "site/boiler/pressure", Payload: []byte("1.2")},
	}
	for _, m := range in {
		if err := g.in.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.Wait(t, 3, 10*time.Second)
	// A Message prints as "topic payload".
	want := []string{"edge/gw1/site/boiler/temp 21.5", "alerts/alarm/fire 1", "edge/gw1/site/boiler/pressure 1.2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("upstream got %v, want %v", got, want)
	}
	g.waitEmpty(t)
	if st := g.fwd.Status(); st.State != "up" || st.Acked != 3 {
		t.Errorf("status: got %+v, want up with 3 acked", st)
	}
}

// gatedQueue holds the forwarder's reads while closed, so a test can attach
// its subscriber to a restarted upstream before the backlog drains.
type gatedQueue struct {
	*buffer.Buffer
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gatedQueue) Next(ctx context.Context, after int64, n int) ([]int64, []gateway.Message, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	return g.Buffer.Next(ctx, after, n)
}

func (g *gatedQueue) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedQueue) release() {
	g.mu.Lock()
	close(g.gate)
	g.mu.Unlock()
}

// Test 2: outage: stop upstream, publish thousands, restart: all arrive in
// order per topic and the buffer empties.
func TestOutage(t *testing.T) { forEachVersion(t, testOutage) }

func testOutage(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	gq := &gatedQueue{gate: make(chan struct{})}
	close(gq.gate)
	path := filepath.Join(t.TempDir(), "buffer.db")
	g := startGW(t, path, testConfig(t, up.URL()), nil, func(b *buffer.Buffer) upstream.Queue { gq.Buffer = b; return gq })
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/warmup", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, 1, 10*time.Second)

	up.Stop()
	gq.hold()
	var topics []string
	for i := range 50 {
		topics = append(topics, fmt.Sprintf("site/dev%02d/value", i))
	}
	const n = 100 // 5000 messages
	publishPerTopic(t, g.in, topics, n)
	s, err := g.buf.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Depth != int64(len(topics)*n) {
		t.Errorf("depth during outage: got %d, want %d", s.Depth, len(topics)*n)
	}
	up.Start()
	rec = mqtttest.Subscribe(t, up.URL(), "#")
	gq.release()
	got := rec.Wait(t, len(topics)*n, 60*time.Second)
	var remote []string
	for _, topic := range topics {
		remote = append(remote, "edge/gw1/"+topic)
	}
	checkInOrder(t, got, remote, n)
	g.waitEmpty(t)
	g.stop()
	r, err := buffer.OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s, err := r.Stats(t.Context()); err != nil || s.Depth != 0 || s.Uplink != "down" || s.LastAck.IsZero() {
		t.Errorf("stats after stop: got %+v, %v; want empty, down, with a last ack", s, err)
	}
}

// Test 3: crash: kill -9 a gateway holding a backlog, restart it, start the
// upstream: all arrive.
func TestCrash(t *testing.T) {
	if env := os.Getenv("UPSTREAM_CRASH_CHILD"); env != "" {
		crashChild(env)
		return
	}
	forEachVersion(t, testCrash)
}

func testCrash(t *testing.T) {
	up := mqtttest.NewMosquitto(t)
	path := filepath.Join(t.TempDir(), "buffer.db")
	child := testutil.StartChild(t, "TestCrash", fmt.Sprintf("UPSTREAM_CRASH_CHILD=%d|%s|%s", versionOf(t), path, up.URL()))
	if !child.WaitLine("ready") {
		t.Fatal("crash child did not get ready")
	}
	child.Kill9(t)

	up.Start()
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	g := startGW(t, path, testConfig(t, up.URL()), nil, nil)
	got := rec.Wait(t, crashTopics*crashN, 60*time.Second)
	var remote []string
	for i := range crashTopics {
		remote = append(remote, fmt.Sprintf("edge/gw1/site/crash%d", i))
	}
	checkInOrder(t, got, remote, crashN)
	g.waitEmpty(t)
}

const crashTopics, crashN = 20, 100

// TestCrashWhileDraining kills -9 a gateway in the middle of draining a
// backlog to a running upstream (paced by max_rate); after the restart
// everything arrives, in order per topic (duplicates only from the window).
func TestCrashWhileDraining(t *testing.T) {
	if env := os.Getenv("UPSTREAM_CRASH_CHILD"); env != "" {
		crashChild(env)
		return
	}
	forEachVersion(t, testCrashWhileDraining)
}

func testCrashWhileDraining(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	path := filepath.Join(t.TempDir(), "buffer.db")
	child := testutil.StartChild(t, "TestCrashWhileDraining", fmt.Sprintf("UPSTREAM_CRASH_CHILD=%d|%s|%s|500", versionOf(t), path, up.URL()))
	if !child.WaitLine("ready") {
		t.Fatal("crash child did not get ready")
	}
	rec.Wait(t, 50, 10*time.Second) // draining has started
	child.Kill9(t)
	before := len(rec.Snapshot())
	if before >= crashTopics*crashN {
		t.Fatalf("the child drained everything (%d) before it was killed", before)
	}
	g := startGW(t, path, testConfig(t, up.URL()), nil, nil)
	var remote []string
	for i := range crashTopics {
		remote = append(remote, fmt.Sprintf("edge/gw1/site/crash%d", i))
	}
	var got []mqtttest.Message
	testutil.WaitFor(t, 60*time.Second, fmt.Sprintf("all %d messages upstream", crashTopics*crashN), func() bool {
		g.waitEmpty(t)
		got = rec.Snapshot()
		return complete(got, crashTopics*crashN)
	})
	t.Logf("%d arrived before the kill, %d in all", before, len(got))
	checkInOrder(t, got, remote, crashN)
}

func distinct(got []mqtttest.Message) int {
	seen := map[[2]string]bool{}
	for _, m := range got {
		seen[[2]string{m.Topic, m.Payload}] = true
	}
	return len(seen)
}

func complete(got []mqtttest.Message, n int) bool { return distinct(got) >= n }

// crashChild runs a gateway, publishes a backlog, says "ready" and waits to
// be killed. env is "version|path|url" (upstream down) or
// "version|path|url|max_rate".
func crashChild(env string) {
	version, env, _ := strings.Cut(env, "|")
	path, url, _ := strings.Cut(env, "|")
	url, rate, _ := strings.Cut(url, "|")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bcfg := buffer.Default(path)
	if rate != "" {
		bcfg.FlushInterval = 5 * time.Millisecond // commit the held backlog quickly
	}
	buf, err := buffer.Open(context.Background(), bcfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	v, _ := strconv.Atoi(version)
	cfg := versionConfig(url, v)
	cfg.MaxRate, _ = strconv.ParseFloat(rate, 64) // "": unlimited
	// With a rate, the drain is held until the whole backlog is accepted.
	gq := &gatedQueue{Buffer: buf, gate: make(chan struct{})}
	if rate == "" {
		close(gq.gate)
	}
	fwd, err := upstream.New(cfg, gq, nil, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go fwd.Run(context.Background()) //nolint:errcheck // runs until killed
	in := upstream.Filter(cfg.Forward, buf)
	var wg sync.WaitGroup
	for i := range crashTopics {
		wg.Go(func() {
			for n := 1; n <= crashN; n++ {
				m := gateway.Message{Topic: fmt.Sprintf("site/crash%d", i), Payload: []byte(strconv.Itoa(n))}
				if err := in.Publish(context.Background(), m); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
			}
		})
	}
	wg.Wait()
	if rate != "" {
		gq.release()
	}
	fmt.Println("ready")
	select {}
}

// Test 4: a small max_bytes drops the oldest; the counter says how many; the
// newest arrive.
func TestCapDropsOldest(t *testing.T) { forEachVersion(t, testCapDropsOldest) }

func testCapDropsOldest(t *testing.T) {
	up := mqtttest.NewMosquitto(t)
	path := filepath.Join(t.TempDir(), "buffer.db")
	bcfg := buffer.Default(path)
	// "site/cap/x" (the queue keeps the local topic) + 4-digit payload
	size := int64(len("site/cap/x") + 4 + buffer.RowOverhead)
	bcfg.MaxBytes = 100 * size
	gq := &gatedQueue{gate: make(chan struct{})} // held until the subscriber is on
	g := startGWWith(t, bcfg, testConfig(t, up.URL()), nil, func(b *buffer.Buffer) upstream.Queue { gq.Buffer = b; return gq })
	for i := range 1000 {
		m := gateway.Message{Topic: "site/cap/x", Payload: fmt.Appendf(nil, "%04d", i)}
		if err := g.in.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	s, err := g.buf.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Drops != 900 || s.DropsByPrefix["site/cap"] != 900 || s.Depth != 100 {
		t.Errorf("stats: got drops %d (%v) depth %d, want 900 under site/cap and 100", s.Drops, s.DropsByPrefix, s.Depth)
	}
	up.Start() // not started before: the uplink was down
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	gq.release()
	got := rec.Wait(t, 100, 30*time.Second)
	g.waitEmpty(t)
	if got[0].Payload != "0900" || got[99].Payload != "0999" {
		t.Errorf("upstream got %s..%s, want the newest 0900..0999", got[0].Payload, got[99].Payload)
	}
}

// Test 5: a wrong password keeps everything buffered and stats say why.
func TestRefused(t *testing.T) { forEachVersion(t, testRefused) }

func testRefused(t *testing.T) {
	pwfile := mqtttest.WriteFile(t, "passwd", "")
	if out, err := exec.Command(mqtttest.NeedTool(t, "mosquitto_passwd"), "-b", pwfile, "gw", "right").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	up := mqtttest.StartMosquitto(t, mqtttest.WithConfig("password_file "+pwfile, "allow_anonymous false"))
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := testConfig(t, up.URL())
	cfg.Username, cfg.Password = "gw", "wrong"
	if s := fmt.Sprint(cfg); strings.Contains(s, "wrong") {
		t.Errorf("config prints its password: %s", s)
	}
	g := startGW(t, path, cfg, nil, nil)
	for i := range 50 {
		if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/x", Payload: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	// What `gateway buffer stats` shows, from its own read-only connection.
	r, err := buffer.OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	testutil.WaitFor(t, 10*time.Second, "stats: uplink down, not authorized", func() bool {
		s, err := r.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if s.Uplink == "down" && strings.Contains(strings.ToLower(s.UplinkError), "not authorized") {
			if s.Depth != 50 {
				t.Errorf("depth: got %d, want 50 kept", s.Depth)
			}
			return true
		}
		return false
	})
	var out strings.Builder
	if err := buffer.Main(t.Context(), []string{"--db", path, "stats"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(out.String()), "not authorized") || !strings.Contains(out.String(), "50 messages") {
		t.Errorf("buffer stats output:\n%s\nwant the refusal and 50 messages", out.String())
	}
}

// Test 7: commands from upstream reach the local sink.
func TestCommandsFromUpstream(t *testing.T) { forEachVersion(t, testCommandsFromUpstream) }

func testCommandsFromUpstream(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	cfg := testConfig(t, up.URL())
	cfg.Subscribe = []upstream.SubscribeRule{{Filter: "cloud/gw1/cmd/#", LocalPrefix: "cmd"}}
	local, sink := chanSink()
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, sink, nil)
	// Wait for the subscription: the uplink is up after SUBACK.
	waitUp(t, g.fwd)
	cloudPublish(t, up.URL(), "cloud/gw1/cmd/boiler/setpoint", "22.5")
	select {
	case m := <-local:
		if m.Topic != "cmd/boiler/setpoint" || string(m.Payload) != "22.5" || m.QoS != 1 {
			t.Errorf("local got %s %q qos %d, want cmd/boiler/setpoint \"22.5\" qos 1", m.Topic, m.Payload, m.QoS)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not reach the local sink")
	}
}

// chanSink returns a local sink that hands what it gets to the channel.
func chanSink() (chan gateway.Message, gateway.Sink) {
	local := make(chan gateway.Message, 10)
	return local, gateway.SinkFunc(func(ctx context.Context, m gateway.Message) error {
		local <- m
		return nil
	})
}

// waitUp waits until the forwarder reports the uplink up (after SUBACK).
func waitUp(t testing.TB, fwd *upstream.Forwarder) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, "the uplink up", func() bool { return fwd.Status().State == "up" })
}

// cloudPublish publishes one message upstream as the cloud would.
func cloudPublish(t *testing.T, url, topic, payload string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("cloud"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("cloud connect: %v", tok.Error())
	}
	defer c.Disconnect(250)
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("cloud publish: %v", tok.Error())
	}
}

// TestCommandsWhileOffline: with subscribe rules the forwarder keeps a
// persistent session upstream, so a QoS 1 command sent while the gateway is
// stopped is delivered when it comes back. A message for a filter the new
// config no longer subscribes (left in the session) is acknowledged and
// dropped, not delivered and not redelivered forever.
func TestCommandsWhileOffline(t *testing.T) { forEachVersion(t, testCommandsWhileOffline) }

func testCommandsWhileOffline(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	cfg := testConfig(t, up.URL())
	cfg.Subscribe = []upstream.SubscribeRule{
		{Filter: "cloud/gw1/cmd/#", LocalPrefix: "cmd"},
		{Filter: "cloud/gw1/old/#", LocalPrefix: "old"},
	}
	local, sink := chanSink()
	g := startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, sink, nil)
	waitUp(t, g.fwd)
	g.stop()

	cloudPublish(t, up.URL(), "cloud/gw1/cmd/boiler/setpoint", "21.5")
	cloudPublish(t, up.URL(), "cloud/gw1/old/x", "stale")

	cfg.Subscribe = cfg.Subscribe[:1] // the new config drops the "old" rule
	g = startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, sink, nil)
	select {
	case m := <-local:
		if m.Topic != "cmd/boiler/setpoint" || string(m.Payload) != "21.5" {
			t.Errorf("local got %s %q, want cmd/boiler/setpoint \"21.5\"", m.Topic, m.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command sent while the gateway was offline never arrived")
	}
	waitUp(t, g.fwd)
	g.stop()
	select {
	case m := <-local:
		t.Errorf("unexpected local message %s %q", m.Topic, m.Payload)
	default:
	}
	// The stale message was acknowledged: a third session gets nothing.
	g = startGW(t, filepath.Join(t.TempDir(), "buffer.db"), cfg, sink, nil)
	waitUp(t, g.fwd)
	cloudPublish(t, up.URL(), "cloud/gw1/cmd/boiler/setpoint", "22")
	select {
	case m := <-local:
		if string(m.Payload) != "22" {
			t.Errorf("local got %s %q, want only the new command", m.Topic, m.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new command never arrived")
	}
}

// Closing the queue under a running forwarder ends Run with gateway.ErrClosed.
func TestQueueClosed(t *testing.T) { forEachVersion(t, testQueueClosed) }

func testQueueClosed(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	buf, err := buffer.Open(t.Context(), buffer.Default(filepath.Join(t.TempDir(), "buffer.db")), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := upstream.New(testConfig(t, up.URL()), buf, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fwd.Run(t.Context()) }()
	waitUp(t, fwd)
	if err := buf.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, gateway.ErrClosed) {
			t.Errorf("Run: got %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the queue was closed")
	}
}

// TestRemovedSubscribeRuleUnsubscribed: the buffer remembers the filters
// subscribed last; a restart whose config dropped a subscribe rule
// UNSUBSCRIBEs its filter, so the persistent session upstream stops
// collecting (and sending) its messages.
func TestRemovedSubscribeRuleUnsubscribed(t *testing.T) {
	forEachVersion(t, testRemovedSubscribeRuleUnsubscribed)
}

func testRemovedSubscribeRuleUnsubscribed(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	path := filepath.Join(t.TempDir(), "buffer.db")
	cfg := testConfig(t, up.URL())
	cfg.Subscribe = []upstream.SubscribeRule{
		{Filter: "cloud/gw1/cmd/#", LocalPrefix: "cmd"},
		{Filter: "cloud/gw1/old/#", LocalPrefix: "old"},
	}
	local, sink := chanSink()
	g := startGW(t, path, cfg, sink, nil)
	waitUp(t, g.fwd)
	g.stop()

	cfg.Subscribe = cfg.Subscribe[:1] // the new config drops the "old" rule
	var logged testutil.SyncBuffer
	g = startGWLog(t, buffer.Default(path), cfg, sink, nil, slog.New(slog.NewTextHandler(&logged, nil)))
	waitUp(t, g.fwd)
	// One publisher, QoS 1: mosquitto delivers in this order.
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(up.URL()).SetClientID("cloud"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("cloud connect: %v", tok.Error())
	}
	defer c.Disconnect(250)
	for _, m := range []struct{ topic, payload string }{{"cloud/gw1/old/x", "stale"}, {"cloud/gw1/cmd/boiler/setpoint", "22"}} {
		if tok := c.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("cloud publish: %v", tok.Error())
		}
	}
	select {
	case m := <-local:
		if string(m.Payload) != "22" {
			t.Errorf("local got %s %q, want the command", m.Topic, m.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command never arrived")
	}
	if strings.Contains(logged.String(), "matches no subscribe rule") {
		t.Errorf("a message for the removed rule's filter still came down:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "unsubscribed upstream filters") {
		t.Errorf("no unsubscribe logged:\n%s", logged.String())
	}
}
