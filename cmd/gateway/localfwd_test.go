package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/upstream"
)

// fakeAppender records appends and reports a settable backlog.
type fakeAppender struct {
	got     []gateway.Message
	dones   []func(error)
	backlog int64
	err     error
}

func (a *fakeAppender) Append(m gateway.Message, done func(error)) error {
	if a.err != nil {
		return a.err
	}
	a.got = append(a.got, m)
	a.dones = append(a.dones, done)
	return nil
}

func (a *fakeAppender) Backlog() (int64, int64) { return 0, a.backlog }

func TestLocalForwarderHook(t *testing.T) {
	buf := &fakeAppender{}
	f := newLocalForwarder(slog.New(slog.NewTextHandler(io.Discard, nil)), []upstream.ForwardRule{{Filter: "site/#"}}, buf)
	f.maxBacklog = 100
	var answers []error
	done := func(err error) { answers = append(answers, err) }

	if f.hook(gateway.Message{Topic: "other/t", QoS: 1}, done) {
		t.Error("a topic no forward rule matches was held")
	}
	payload := []byte("v")
	if !f.hook(gateway.Message{Topic: "site/a", QoS: 1, Payload: payload}, done) {
		t.Fatal("a forwarded QoS 1 message was not held")
	}
	payload[0] = 'X' // the broker reuses its buffer
	if len(buf.got) != 1 || string(buf.got[0].Payload) != "v" {
		t.Fatalf("appended %+v, want one message with its own copy of the payload", buf.got)
	}
	if buf.got[0].QoS != 1 {
		t.Errorf("appended at QoS %d, want the forward rule's default 1", buf.got[0].QoS)
	}
	// The forward rule's QoS applies upstream, whatever the local publisher used.
	two := 2
	f2 := newLocalForwarder(slog.New(slog.DiscardHandler), []upstream.ForwardRule{{Filter: "site/#", QoS: &two}}, buf)
	f2.hook(gateway.Message{Topic: "site/q", QoS: 1}, done)
	if got := buf.got[len(buf.got)-1]; got.QoS != 2 {
		t.Errorf("appended at QoS %d, want the rule's 2", got.QoS)
	}
	buf.got, buf.dones = buf.got[:1], buf.dones[:1]

	// QoS 0 is dropped (and counted) while the backlog is too big; QoS 1 is not.
	buf.backlog = 101
	if f.hook(gateway.Message{Topic: "site/a"}, done) {
		t.Error("a QoS 0 message was held over the backlog limit")
	}
	if !f.hook(gateway.Message{Topic: "site/a", QoS: 2}, done) {
		t.Error("a QoS 2 message was refused over the backlog limit")
	}
	if f.shed.Load() != 1 {
		t.Errorf("shed = %d, want 1", f.shed.Load())
	}
	buf.backlog = 0
	if !f.hook(gateway.Message{Topic: "site/a"}, done) || f.shedding.Load() {
		t.Error("QoS 0 not taken again once the backlog shrank")
	}

	// A closed buffer refuses: the hook holds the message and answers with the error.
	buf.err = gateway.ErrClosed
	if !f.hook(gateway.Message{Topic: "site/a", QoS: 1}, done) {
		t.Error("a refused message was not held (its acknowledgement would be sent)")
	}
	if len(answers) != 1 || !errors.Is(answers[0], gateway.ErrClosed) {
		t.Errorf("answers = %v, want one ErrClosed", answers)
	}
}

// TestLocalPublishAckedAfterCommit: with the uplink up the buffer keeps new
// messages in memory for up to flush_interval (waiting for the upstream's
// acknowledgement instead of writing them); a local QoS 1 or 2 publisher is
// still acknowledged only once its message is on disk. So when mosquitto_pub
// has its acknowledgements and exits, a fresh reader of the database sees
// every message.
func TestLocalPublishAckedAfterCommit(t *testing.T) {
	pub := mqtttest.NeedTool(t, "mosquitto_pub")
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "buffer.db")
	bcfg := buffer.Default(path)
	bcfg.FlushInterval = time.Second
	buf, err := buffer.Open(t.Context(), bcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	if err := buf.SetUplink(buffer.UplinkUp, ""); err != nil { // hold messages for acks, as online
		t.Fatal(err)
	}
	b, err := broker.New(broker.Config{Listeners: []broker.Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetClientPublishHook(newLocalForwarder(log, []upstream.ForwardRule{{Filter: "site/#"}}, buf).hook)
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(b.Addrs()[0].(*net.TCPAddr).Port)
	for _, qos := range []string{"1", "2"} {
		cmd := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-t", "site/q"+qos, "-q", qos, "-l")
		cmd.Stdin = strings.NewReader("a\nb\nc\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
		r, err := buffer.OpenReader(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.List(t.Context(), buffer.Filter{Topic: "site/q" + qos})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Errorf("QoS %s: %d messages on disk once the publisher was acknowledged, want 3", qos, len(got))
		}
	}
}

// TestWillOnShutdownBuffered: a local client's will on a forwarded topic is
// buffered for upstream when the gateway shuts down and closes its
// connection (before the buffer closes).
func TestWillOnShutdownBuffered(t *testing.T) {
	subBin := mqtttest.NeedTool(t, "mosquitto_sub")
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := newLineWriter()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--data-dir", dataDir, "--mqtt", "127.0.0.1:0", "--web", ""}, io.Discard, stderr)
	}()
	port := ""
	for port == "" {
		select {
		case line := <-stderr.lines:
			if _, after, ok := strings.Cut(line, `msg="broker listening"`); ok {
				_, a, _ := strings.Cut(after, "address=127.0.0.1:")
				port, _, _ = strings.Cut(a, " ")
			}
		case err := <-done:
			t.Fatalf("demo stopped: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("the demo broker did not start listening")
		}
	}
	// A subscriber with a will; it prints messages once subscribed.
	sub := exec.Command(subBin, "-h", "127.0.0.1", "-p", port, "-t", "demo/meter/#",
		"--will-topic", "demo/meter/client-status", "--will-payload", "gone", "--will-qos", "1", "--will-retain")
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var subErr testutil.SyncBuffer
	sub.Stderr = &subErr
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Process.Kill(); _ = sub.Wait() }) // it exits when the gateway closes the connection
	// The meter publishes every 2s: one message means the client is connected.
	if _, err := out.Read(make([]byte, 1)); err != nil {
		t.Fatalf("mosquitto_sub on port %s: %v %s", port, err, subErr.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r, err := buffer.OpenReader(t.Context(), filepath.Join(dataDir, "buffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.List(t.Context(), buffer.Filter{Topic: "demo/meter/client-status"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Payload) != "gone" {
		t.Errorf("buffered wills: %+v, want the client's will", got)
	}
}

// checkingAppender appends to a real buffer and, when a message's callback
// is answered, records whether the message was on disk at that moment.
type checkingAppender struct {
	*buffer.Buffer
	r       *buffer.Reader
	mu      sync.Mutex
	answers map[string]bool // payload -> on disk when answered
}

func (a *checkingAppender) Append(m gateway.Message, done func(error)) error {
	payload := string(m.Payload)
	return a.Buffer.Append(m, func(err error) {
		onDisk := false
		got, lerr := a.r.List(context.Background(), buffer.Filter{Topic: m.Topic})
		for _, e := range got {
			onDisk = onDisk || string(e.Payload) == payload
		}
		a.mu.Lock()
		a.answers[payload] = lerr == nil && onDisk
		a.mu.Unlock()
		done(err)
	})
}

// TestLocalQoS0ForwardCommittedBeforeAck: a forward rule with qos = 0 sends
// upstream without acknowledgements; a local QoS 1/2 publisher must still
// get its PUBACK only once its message is on disk (a QoS 0 publish counts as
// done once paho has written it, which kill -9 can lose).
func TestLocalQoS0ForwardCommittedBeforeAck(t *testing.T) {
	forVersions(t, testLocalQoS0ForwardCommittedBeforeAck)
}

func testLocalQoS0ForwardCommittedBeforeAck(t *testing.T, version int) {
	pub := mqtttest.NeedTool(t, "mosquitto_pub")
	up := mqtttest.StartMosquitto(t)
	rec := mqtttest.Subscribe(t, up.URL(), "#")
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "buffer.db")
	bcfg := buffer.Default(path)
	bcfg.FlushInterval = time.Minute // without the fix nothing would be written at all
	buf, err := buffer.Open(t.Context(), bcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	r, err := buffer.OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rules := []upstream.ForwardRule{{Filter: "site/#", QoS: ptr(0)}}
	ucfg := upstream.Default()
	ucfg.URL, ucfg.Forward, ucfg.ProtocolVersion = up.URL(), rules, version
	fwd, err := upstream.New(ucfg, buf, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- fwd.Run(ctx) }()
	defer func() { cancel(); <-fwdDone }()
	testutil.WaitFor(t, 20*time.Second, "the uplink up", func() bool { return fwd.Status().State == "up" })
	app := &checkingAppender{Buffer: buf, r: r, answers: map[string]bool{}}
	b, err := broker.New(broker.Config{Listeners: []broker.Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetClientPublishHook(newLocalForwarder(log, rules, app).hook)
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(b.Addrs()[0].(*net.TCPAddr).Port)
	for _, qos := range []string{"1", "2"} {
		cmd := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-t", "site/q"+qos, "-q", qos, "-l")
		cmd.Stdin = strings.NewReader(qos + "a\n" + qos + "b\n" + qos + "c\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	rec.Wait(t, 6, 10*time.Second) // they went upstream, at QoS 0
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.answers) != 6 {
		t.Errorf("%d publishes answered, want 6: %v", len(app.answers), app.answers)
	}
	for p, onDisk := range app.answers {
		if !onDisk {
			t.Errorf("publish %q was acknowledged to its publisher before it was on disk", p)
		}
	}
}

func ptr[T any](v T) *T { return &v }
