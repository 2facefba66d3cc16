package upstream_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// mosquitto is a Debian mosquitto broker on loopback ports, started by a test.
type mosquitto struct {
	t     *testing.T
	conf  string
	port  int // plain listener
	extra int // second listener (e.g. TLS), 0: none
	cmd   *exec.Cmd
	exit  chan struct{}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newMosquitto writes a config (plain listener, anonymous, unlimited queues,
// plus extra lines, e.g. a TLS listener on port extra) without starting it.
func newMosquitto(t *testing.T, extraPort int, extra string) *mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/mosquitto"); err2 == nil {
			bin = "/usr/sbin/mosquitto"
		} else if testing.Short() {
			t.Skip("mosquitto not installed")
		} else {
			t.Fatalf("mosquitto not installed (apt-get install mosquitto): %v", err)
		}
	}
	m := &mosquitto{t: t, port: freePort(t), extra: extraPort}
	dir := t.TempDir()
	m.conf = filepath.Join(dir, "mosquitto.conf")
	conf := fmt.Sprintf(`user root
persistence false
log_dest stderr
log_type error
log_type warning
max_inflight_messages 0
max_queued_messages 0
allow_anonymous true
listener %d 127.0.0.1
%s
`, m.port, extra)
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(bin) // placeholder so Cleanup can check
	m.cmd.Path = bin
	t.Cleanup(m.stop)
	return m
}

// start starts mosquitto and waits until every listener accepts connections.
func (m *mosquitto) start() {
	m.t.Helper()
	bin := m.cmd.Path
	m.cmd = exec.Command(bin, "-c", m.conf)
	var stderr strings.Builder
	m.cmd.Stderr = &lockedWriter{w: &stderr}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.exit = make(chan struct{})
	go func(cmd *exec.Cmd, exit chan struct{}) {
		_ = cmd.Wait() // exit status is irrelevant: stop kills it
		close(exit)
	}(m.cmd, m.exit)
	for _, port := range []int{m.port, m.extra} {
		if port == 0 {
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
			if err == nil {
				_ = c.Close() // only probing
				break
			}
			select {
			case <-m.exit:
				m.t.Fatalf("mosquitto exited: %s", m.cmd.Stderr.(*lockedWriter).String())
			case <-time.After(20 * time.Millisecond): // retry the probe
			}
			if time.Now().After(deadline) {
				m.t.Fatalf("mosquitto not listening on %d: %v", port, err)
			}
		}
	}
}

// stop kills mosquitto (if running) and waits for it to exit.
func (m *mosquitto) stop() {
	if m.exit == nil {
		return
	}
	_ = m.cmd.Process.Kill() // it may have exited already
	<-m.exit
	m.exit = nil
}

func (m *mosquitto) url() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", m.port) }

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// recorder is an MQTT subscriber on the upstream broker recording what arrives.
type recorder struct {
	mu    sync.Mutex
	msgs  []recMsg
	added chan struct{}
}

type recMsg struct {
	topic, payload string
}

// subscribe connects a recording subscriber to url for filter at QoS 1.
func subscribe(t *testing.T, url, filter string) *recorder {
	t.Helper()
	r := &recorder{added: make(chan struct{}, 1)}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("rec-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetOrderMatters(true)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, recMsg{m.Topic(), string(m.Payload())})
		r.mu.Unlock()
		select {
		case r.added <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return r
}

// wait waits until at least n messages arrived.
func (r *recorder) wait(t *testing.T, n int, timeout time.Duration) []recMsg {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := append([]recMsg(nil), r.msgs...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.added:
		case <-deadline.C:
			t.Fatalf("got %d messages upstream, want %d", len(got), n)
		}
	}
}

func (r *recorder) snapshot() []recMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recMsg(nil), r.msgs...)
}
