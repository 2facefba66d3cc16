package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/internal/testutil"
)

func testLogger() (*slog.Logger, *testutil.SyncBuffer) {
	var buf testutil.SyncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// identity maps each reading to one message on "device/point".
type identity struct{}

func (identity) Map(r gateway.Reading) []gateway.Message {
	return []gateway.Message{{Topic: r.Device + "/" + r.Point, Payload: r.Value.AppendText(nil)}}
}

// collector is a sink that hands each message to a channel.
type collector chan gateway.Message

func (c collector) Publish(ctx context.Context, m gateway.Message) error {
	select {
	case c <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scripted is a Poller whose polls fail while fail(n) says so.
type scripted struct {
	n    int
	fail func(n int) bool
}

func (s *scripted) Poll(ctx context.Context) ([]gateway.Reading, error) {
	s.n++
	if s.fail(s.n) {
		return []gateway.Reading{{Point: "x", Quality: gateway.QualityBad}}, errors.New("no answer from slave 3")
	}
	return []gateway.Reading{{Point: "x", Value: gateway.Int(int64(s.n))}}, nil
}

func start(t *testing.T, p *Pipeline) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestPollerReadingsFlowToSink(t *testing.T) {
	log, _ := testLogger()
	sink := make(collector)
	p, err := New(log, []Device{{Name: "dev", Poller: &scripted{fail: func(int) bool { return false }}, Interval: time.Millisecond}}, identity{}, sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	for want := 1; want <= 3; want++ {
		m := <-sink
		if m.Topic != "dev/x" || string(m.Payload) != string(rune('0'+want)) {
			t.Fatalf("message %d: got %s %q", want, m.Topic, m.Payload)
		}
	}
	go func() { // keep the sink moving while Run drains
		for range sink {
		}
	}()
	stop()
	if st := p.Status()[0]; st.State != StateStopped || st.Polls < 3 || st.Failures != 0 {
		t.Errorf("status after stop: %+v", st)
	}
}

func TestFailingDeviceLogsOncePerChange(t *testing.T) {
	log, logs := testLogger()
	sink := make(collector, 1000)
	// Polls 2..6 fail, then the device recovers.
	poller := &scripted{fail: func(n int) bool { return n >= 2 && n <= 6 }}
	p, err := New(log, []Device{{Name: "dev", Poller: poller, Interval: time.Millisecond}}, identity{}, sink, Options{MaxBackoff: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	// Wait for a good reading after the failures: value 7 or later.
	for {
		m := <-sink
		if len(m.Payload) > 0 && m.Payload[0] >= '7' {
			break
		}
	}
	stop()
	out := logs.String()
	for msg, want := range map[string]int{"device up": 1, "device failing": 1, "device recovered": 1, "device still failing": 4} {
		if got := strings.Count(out, msg); got != want {
			t.Errorf("log %q: %d times, want %d\n%s", msg, got, want, out)
		}
	}
	if !strings.Contains(out, "failed_attempts=5") {
		t.Errorf("recovery log does not count 5 failed attempts:\n%s", out)
	}
	st := p.Status()[0]
	if st.Failures != 5 || st.LastError != "no answer from slave 3" {
		t.Errorf("status: %+v", st)
	}
}

// crashing is a Driver that emits one reading and stops with an error,
// runs times in a row, then runs until cancelled.
type crashing struct {
	mu   sync.Mutex
	runs int
}

func (c *crashing) Run(ctx context.Context, emit func(gateway.Reading)) error {
	c.mu.Lock()
	c.runs++
	n := c.runs
	c.mu.Unlock()
	emit(gateway.Reading{Point: "run", Value: gateway.Int(int64(n))})
	if n <= 3 {
		return errors.New("port vanished")
	}
	<-ctx.Done()
	return nil
}

func TestDriverRestartedWithBackoff(t *testing.T) {
	log, logs := testLogger()
	sink := make(collector, 100)
	p, err := New(log, []Device{{Name: "serial", Driver: &crashing{}}}, identity{}, sink, Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	for want := '1'; want <= '4'; want++ {
		if m := <-sink; m.Payload[0] != byte(want) {
			t.Fatalf("got run %q, want %q", m.Payload, want)
		}
	}
	stop()
	// Each run delivered a good reading before it crashed, so each crash is
	// a change from ok to failing: logged once each, with backoff between.
	if got := strings.Count(logs.String(), "device failing"); got != 3 {
		t.Errorf("'device failing' logged %d times, want once per crash (3):\n%s", got, logs)
	}
}

// burst is a Driver that emits n readings at once and then waits.
type burst int

func (b burst) Run(ctx context.Context, emit func(gateway.Reading)) error {
	for i := range int(b) {
		emit(gateway.Reading{Point: "p", Value: gateway.Int(int64(i))})
	}
	<-ctx.Done()
	return nil
}

func TestCancelDrainsQueuedReadings(t *testing.T) {
	log, _ := testLogger()
	release := make(chan struct{})
	var mu sync.Mutex
	var got []gateway.Message
	sink := gateway.SinkFunc(func(ctx context.Context, m gateway.Message) error {
		<-release // a sink that is stuck until the pipeline is cancelled
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		return nil
	})
	p, err := New(log, []Device{{Name: "d", Driver: burst(10)}}, identity{}, sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	// Wait until all ten readings were emitted, then cancel and unblock.
	for p.Status()[0].Readings < 10 {
		runtimeYield()
	}
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Errorf("published %d messages after cancel, want all 10", len(got))
	}
	if pub, failed := p.Counts(); pub != 10 || failed != 0 {
		t.Errorf("Counts() = %d, %d; want 10, 0", pub, failed)
	}
}

func TestNewRejectsBadDevices(t *testing.T) {
	log, _ := testLogger()
	for _, d := range []Device{
		{Name: "none"},
		{Name: "both", Poller: &scripted{}, Driver: burst(1), Interval: time.Second},
		{Name: "nointerval", Poller: &scripted{}},
	} {
		if _, err := New(log, []Device{d}, identity{}, make(collector), Options{}); err == nil {
			t.Errorf("New(%s): want an error", d.Name)
		}
	}
}

func TestBackoff(t *testing.T) {
	p := &Pipeline{opt: Options{MaxBackoff: time.Minute}}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: time.Minute} {
		got := p.backoff(time.Second, n)
		if got < want*9/10 || got > want*11/10 {
			t.Errorf("backoff(1s, %d) = %v, want %v ±10%%", n, got, want)
		}
	}
	// A poll interval above the cap is never shortened by it.
	if got := p.backoff(5*time.Minute, 3); got < 4*time.Minute {
		t.Errorf("backoff(5m, 3) = %v, want about 5m", got)
	}
}

// prefixMapper maps readings like identity, with a topic prefix.
type prefixMapper string

func (pm prefixMapper) Map(r gateway.Reading) []gateway.Message {
	return []gateway.Message{{Topic: string(pm) + r.Device + "/" + r.Point, Payload: r.Value.AppendText(nil)}}
}

func TestUpdateKeepsUnchangedDevicesRunning(t *testing.T) {
	log, logs := testLogger()
	sink := make(collector, 10000)
	keepPoller := &scripted{fail: func(int) bool { return false }}
	gonePoller := &scripted{fail: func(int) bool { return false }}
	keep := Device{Name: "keep", Poller: keepPoller, Interval: time.Millisecond}
	gone := Device{Name: "gone", Poller: gonePoller, Interval: time.Millisecond}
	p, err := New(log, []Device{keep, gone}, identity{}, sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	waitTopic := func(topic string) gateway.Message {
		t.Helper()
		for {
			select {
			case m := <-sink:
				if m.Topic == topic {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no message on %s", topic)
			}
		}
	}
	waitTopic("keep/x")
	waitTopic("gone/x")

	added := Device{Name: "added", Driver: burst(1)}
	stopped, err := p.Update([]Device{keep, added}, prefixMapper("v2/"))
	if err != nil {
		t.Fatal(err)
	}
	if len(stopped) != 1 || stopped[0].Name != "gone" {
		t.Errorf("Update stopped %+v, want just gone", stopped)
	}
	waitTopic("v2/added/p")
	waitTopic("v2/keep/x") // mapped by the new mapper
	stop()
	if n := strings.Count(logs.String(), `device up" device=keep`); n != 1 {
		t.Errorf("kept device came up %d times, want once", n)
	}
	names := []string{}
	for _, st := range p.Status() {
		names = append(names, st.Name)
	}
	if strings.Join(names, ",") != "keep,added" {
		t.Errorf("status devices %v, want keep,added", names)
	}
}

// TestHealthyReportsAStuckSink: readings waiting behind a sink that does not
// return make the pipeline unhealthy after 30s (the systemd watchdog then
// stops its pings).
func TestHealthyReportsAStuckSink(t *testing.T) {
	log, _ := testLogger()
	var now atomic.Int64
	now.Store(time.Unix(1000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	release := make(chan struct{})
	sink := gateway.SinkFunc(func(ctx context.Context, m gateway.Message) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	p, err := New(log, []Device{{Name: "d", Driver: burst(10)}}, identity{}, sink, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	for p.Status()[0].Readings < 10 {
		runtimeYield()
	}
	if err := p.Healthy(); err != nil {
		t.Errorf("healthy right away: %v", err)
	}
	now.Add(int64(31 * time.Second))
	if err := p.Healthy(); err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("Healthy after 31s of a stuck sink: %v, want stuck", err)
	}
	close(release)
	stop()
}

func TestOnStateTellsEachChange(t *testing.T) {
	log, _ := testLogger()
	sink := make(collector, 1000)
	var mu sync.Mutex
	var states []string
	poller := &scripted{fail: func(n int) bool { return n >= 2 && n <= 4 }}
	p, err := New(log, []Device{{Name: "dev", Poller: poller, Interval: time.Millisecond}}, identity{}, sink,
		Options{MaxBackoff: 4 * time.Millisecond, OnState: func(dev string, s State) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, dev+" "+s.String())
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	for {
		m := <-sink
		if len(m.Payload) > 0 && m.Payload[0] >= '6' { // after the recovery has been recorded
			break
		}
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	want := []string{"dev ok", "dev failing", "dev ok", "dev stopped"}
	if !slices.Equal(states, want) {
		t.Errorf("OnState calls: %q, want %q", states, want)
	}
}

// emitter is a Driver that emits its readings, then waits for cancel.
type emitter []gateway.Reading

func (e emitter) Run(ctx context.Context, emit func(gateway.Reading)) error {
	for _, r := range e {
		emit(r)
	}
	<-ctx.Done()
	return nil
}

// TestPartlyAnsweringDeviceStaysOK: a streaming driver whose device answers
// for one block and not for another alternates good and bad readings; it
// stays ok (its status topic does not flap), and goes failing only when
// two bad readings come in a row.
func TestPartlyAnsweringDeviceStaysOK(t *testing.T) {
	log, _ := testLogger()
	sink := make(collector, 100)
	good := gateway.Reading{Point: "a", Value: gateway.Int(1)}
	bad := gateway.Reading{Point: "b", Quality: gateway.QualityBad, Err: errors.New("illegal data address")}
	var mu sync.Mutex
	var states []string
	drv := emitter{good, bad, good, bad, good, bad, bad, {Point: "end"}}
	p, err := New(log, []Device{{Name: "dev", Driver: drv}}, identity{}, sink, Options{OnState: func(_ string, s State) {
		mu.Lock()
		defer mu.Unlock()
		states = append(states, s.String())
	}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	for m := range sink {
		if m.Topic == "dev/end" {
			break
		}
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	// The last reading ("end", good) makes it ok again.
	if want := []string{"ok", "failing", "ok", "stopped"}; !slices.Equal(states, want) {
		t.Errorf("states %q, want %q", states, want)
	}
}

// counting is a Driver that polls on its own and counts its polls.
type counting struct{ polls atomic.Uint64 }

func (c *counting) Run(ctx context.Context, emit func(gateway.Reading)) error {
	for ctx.Err() == nil {
		c.polls.Add(1)
		emit(gateway.Reading{Point: "x", Value: gateway.Int(int64(c.polls.Load()))})
	}
	return nil
}

func (c *counting) PollCounts() gateway.PollCounts {
	n := c.polls.Load()
	return gateway.PollCounts{Polls: n, PollFailures: 1, Requests: 2 * n, RequestErrors: 1}
}

// TestStatusCountsDriverPolls: a Driver's own poll counts show in Status
// (it was "0 polls" for a Modbus device polling every second), and a
// Poller's polls are its requests when it does not count them itself.
func TestStatusCountsDriverPolls(t *testing.T) {
	log, _ := testLogger()
	sink := make(collector, 1000)
	drv := &counting{}
	p, err := New(log, []Device{
		{Name: "modbus", Driver: drv},
		{Name: "sim", Poller: &scripted{fail: func(int) bool { return false }}, Interval: time.Millisecond},
	}, identity{}, sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	for range 10 {
		<-sink
	}
	stop()
	st := p.Status()
	if st[0].Polls != drv.polls.Load() || st[0].Failures != 1 || st[0].Requests != 2*st[0].Polls || st[0].ReqErrors != 1 {
		t.Errorf("driver status %+v, want its own counts (%d polls)", st[0], drv.polls.Load())
	}
	if st[1].Requests != st[1].Polls || st[1].ReqErrors != st[1].Failures {
		t.Errorf("poller status %+v, want requests = polls", st[1])
	}
}

// TestClockUnsyncedMarked: readings taken while the system clock is not
// synchronised are marked, and the ones after it synchronised are not.
func TestClockUnsyncedMarked(t *testing.T) {
	log, _ := testLogger()
	sink := make(collector, 100)
	var synced atomic.Bool
	var seen []bool
	var mu sync.Mutex
	p, err := New(log, []Device{{Name: "sim", Poller: &scripted{fail: func(int) bool { return false }}, Interval: time.Millisecond}},
		identity{}, sink, Options{ClockSynced: synced.Load, Observe: func(r gateway.Reading) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, r.ClockUnsynced)
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	<-sink
	synced.Store(true)
	for {
		<-sink
		mu.Lock()
		n := len(seen)
		last := n > 0 && !seen[n-1]
		mu.Unlock()
		if last {
			break
		}
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	if !seen[0] {
		t.Errorf("first reading (clock not synced) not marked: %v", seen)
	}
}
