package mqtttest

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long Start waits for every listener to accept.
const startTimeout = 10 * time.Second

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer l.Close() // only probing: the port is what the caller wants
	return l.Addr().(*net.TCPAddr).Port
}

// Mosquitto is a Debian mosquitto broker that a test runs on 127.0.0.1.
// Its ports stay the same across Stop and Start, so a test can take the
// broker away and bring it back (an outage of the upstream). It is stopped
// (killed and waited for) in t.Cleanup; when the test failed, its log is
// written to the test's log then.
//
// The configuration is anonymous access, no persistence and no limits on
// in-flight or queued messages, plus what the options add.
type Mosquitto struct {
	t       testing.TB
	bin     string
	conf    string
	logPath string // mosquitto's stdout and stderr, over all its runs
	port    int    // the plain listener
	ports   []int  // every listener's port, the plain one first
	cmd     *exec.Cmd
	exit    chan struct{} // closed when the process has exited; nil: not running
}

// MosquittoOption adds to the configuration of a Mosquitto.
type MosquittoOption func(*mosquittoConfig)

type mosquittoConfig struct {
	lines     []string // after the plain listener's line
	listeners []string // listener blocks, after lines
	ports     []int
}

// WithConfig adds lines to the configuration. They follow the plain
// listener's line, so listener settings among them apply to it, and they
// override the defaults (e.g. "allow_anonymous false").
func WithConfig(lines ...string) MosquittoOption {
	return func(c *mosquittoConfig) { c.lines = append(c.lines, lines...) }
}

// WithListener adds a listener on 127.0.0.1:port (take one with FreePort)
// followed by its own settings, such as cafile, certfile, keyfile and
// require_certificate for TLS. Start waits until it accepts, too.
func WithListener(port int, lines ...string) MosquittoOption {
	return func(c *mosquittoConfig) {
		c.ports = append(c.ports, port)
		c.listeners = append(c.listeners, fmt.Sprintf("listener %d 127.0.0.1", port))
		c.listeners = append(c.listeners, lines...)
	}
}

// NewMosquitto writes the configuration for a mosquitto broker with its
// plain listener on a free port, in a directory under t.TempDir(), and
// returns it not started, so that a test can know its URL before the broker
// is up. A missing mosquitto program fails the test (see NeedTool).
func NewMosquitto(t testing.TB, opts ...MosquittoOption) *Mosquitto {
	t.Helper()
	var c mosquittoConfig
	for _, o := range opts {
		o(&c)
	}
	dir := t.TempDir()
	m := &Mosquitto{t: t, bin: NeedTool(t, "mosquitto"), conf: filepath.Join(dir, "mosquitto.conf"),
		logPath: filepath.Join(dir, "mosquitto.log"), port: FreePort(t)}
	m.ports = append([]int{m.port}, c.ports...)
	// user root: tests run as root, and mosquitto started as root otherwise
	// drops to the mosquitto user, who may not read the test's files.
	conf := []string{
		"user root",
		"persistence false",
		"persistence_location " + dir + "/", // for WithConfig("persistence true")
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"max_inflight_messages 0",
		"max_queued_messages 0",
		"allow_anonymous true",
		fmt.Sprintf("listener %d 127.0.0.1", m.port),
	}
	conf = append(conf, c.lines...)
	conf = append(conf, c.listeners...)
	if err := os.WriteFile(m.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if s := m.Log(); t.Failed() && s != "" {
			t.Logf("mosquitto on port %d logged:\n%s", m.port, s)
		}
	})
	return m
}

// StartMosquitto is NewMosquitto followed by Start.
func StartMosquitto(t testing.TB, opts ...MosquittoOption) *Mosquitto {
	t.Helper()
	m := NewMosquitto(t, opts...)
	m.Start()
	return m
}

// Start starts mosquitto and waits until every listener accepts
// connections. It fails the test if mosquitto is running already, exits, or
// does not listen within startTimeout.
func (m *Mosquitto) Start() {
	m.t.Helper()
	if m.exit != nil {
		m.t.Fatalf("mosquitto on port %d: Start while it runs", m.port)
	}
	// The log is a file mosquitto writes itself: no copying goroutine, and
	// it keeps what every run said.
	log, err := os.OpenFile(m.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	defer log.Close() // mosquitto has its own copy once started
	cmd := exec.Command(m.bin, "-c", m.conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	exit := make(chan struct{})
	m.cmd, m.exit = cmd, exit
	go func() {
		_ = cmd.Wait() // the exit status says nothing: Stop kills it
		close(exit)
	}()
	for _, port := range m.ports {
		m.waitListening(port)
	}
}

// waitListening probes port until it accepts a connection.
func (m *Mosquitto) waitListening(port int) {
	m.t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close() // only probing
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto not listening on %s after %v: %v (its log follows)", addr, startTimeout, err)
		}
		select {
		case <-m.exit:
			m.t.Fatalf("mosquitto exited before listening on %s (its log follows)", addr)
		case <-time.After(20 * time.Millisecond): // probe again
		}
	}
}

// Stop kills mosquitto (SIGKILL, like a crash or a pulled cable) and waits
// for it to exit. Stopping a broker that is not running does nothing.
func (m *Mosquitto) Stop() {
	if m.exit == nil {
		return
	}
	_ = m.cmd.Process.Kill() // it may have exited already
	<-m.exit
	m.cmd, m.exit = nil, nil
}

// URL is the plain listener's address for an MQTT client:
// mqtt://127.0.0.1:PORT.
func (m *Mosquitto) URL() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", m.port) }

// Port is the plain listener's port.
func (m *Mosquitto) Port() int { return m.port }

// Log returns what mosquitto logged so far (errors and warnings), over all
// its runs, for failure messages. It is safe to call while mosquitto runs.
func (m *Mosquitto) Log() string {
	b, err := os.ReadFile(m.logPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // not started yet: no log
		return fmt.Sprintf("(read the mosquitto log: %v)", err)
	}
	return string(b)
}
