package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
)

// lineWriter hands each complete line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 10000)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.buf[:i]):
		default: // a test that stopped reading does not block the gateway
		}
		w.buf = w.buf[i+1:]
	}
}

// waitLine returns the first line that match accepts, failing the test if
// done (serve's result) comes first or no such line comes within 20s.
func (w *lineWriter) waitLine(t *testing.T, done <-chan error, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line := <-w.lines:
			if match(line) {
				return line
			}
		case err := <-done:
			t.Fatalf("serve stopped waiting for %s: %v", what, err)
		case <-deadline:
			t.Fatalf("no %s within 20s", what)
		}
	}
}

// TestDemoRunsAndStopsCleanly is the newcomer's first run: readings from
// every simulated device are printed, and cancelling stops it with no error.
func TestDemoRunsAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := newLineWriter(), &testutil.SyncBuffer{}
	dataDir := filepath.Join(t.TempDir(), "data")
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--data-dir", dataDir, "--mqtt", "127.0.0.1:0", "--web", "127.0.0.1:0"}, stdout, stderr)
	}()

	want := map[string]bool{
		// Polled from the in-process Modbus simulator through the real client.
		"demo/boiler/temperature": false, "demo/boiler/humidity": false, "demo/boiler/setpoint": false,
		"demo/boiler/flow": false, "demo/boiler/heater": false, "demo/boiler/model": false,
		"demo/boiler/running": false, "demo/boiler/alarm": false,
		// From the sim driver.
		"demo/meter/energy": false, "demo/meter/power": false,
	}
	values := map[string]map[string]bool{} // topic -> distinct payload values
	deadline := time.After(20 * time.Second)
	for missing := len(want); missing > 0 || len(values["demo/boiler/temperature"]) < 2; {
		select {
		case line := <-stdout.lines:
			topic, payload, ok := strings.Cut(line, " ")
			if !ok {
				t.Fatalf("line %q is not \"topic payload\"", line)
			}
			if strings.HasSuffix(topic, "/status") {
				continue // a device's availability: online/offline
			}
			var msg struct {
				Value   any    `json:"value"`
				TS      string `json:"ts"`
				Quality string `json:"quality"`
			}
			if err := json.Unmarshal([]byte(payload), &msg); err != nil {
				t.Fatalf("payload of %s is not JSON: %v", topic, err)
			}
			if msg.Quality != "good" || msg.TS == "" || msg.Value == nil {
				t.Errorf("%s: got %s", topic, payload)
			}
			if seen, known := want[topic]; known && !seen {
				want[topic] = true
				missing--
			}
			if values[topic] == nil {
				values[topic] = map[string]bool{}
			}
			values[topic][string(must(json.Marshal(msg.Value)))] = true
		case err := <-done:
			t.Fatalf("demo stopped early: %v\n%s", err, stderr)
		case <-deadline:
			t.Fatalf("no readings from %v within 20s; stderr:\n%s", want, stderr)
		}
	}
	checkDemoPolls(t, stderr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not stop within 10s of cancel")
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Errorf("demo data dir: %v", err)
	}
	if !strings.Contains(stderr.String(), "gateway stopped") {
		t.Errorf("no clean stop logged:\n%s", stderr)
	}
}

// TestDemoBrokerWithMosquittoSub is the demo's promise: a real MQTT client
// (Debian's mosquitto_sub) subscribed to the demo broker sees the readings.
func TestDemoBrokerWithMosquittoSub(t *testing.T) {
	sub := mqtttest.NeedTool(t, "mosquitto_sub")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := newLineWriter()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--data-dir", t.TempDir(), "--mqtt", "127.0.0.1:0", "--web", "127.0.0.1:0"}, io.Discard, stderr)
	}()
	addrRE := regexp.MustCompile(`msg="broker listening".* address=127\.0\.0\.1:(\d+)`)
	var port string
	for port == "" {
		select {
		case line := <-stderr.lines:
			if m := addrRE.FindStringSubmatch(line); m != nil {
				port = m[1]
			}
		case err := <-done:
			t.Fatalf("demo stopped: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("the demo broker did not start listening")
		}
	}
	out, err := exec.CommandContext(ctx, sub, "-h", "127.0.0.1", "-p", port, "-t", "demo/boiler/temperature",
		"-t", "demo/meter/#", "-C", "6", "-W", "20", "-v").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_sub: %v\n%s", err, out)
	}
	topics := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		topic, payload, _ := strings.Cut(line, " ")
		if strings.HasSuffix(topic, "/status") {
			continue // the meter's availability: online/offline
		}
		if !json.Valid([]byte(payload)) {
			t.Errorf("payload on %s is not JSON: %q", topic, payload)
		}
		topics[topic] = true
	}
	if !topics["demo/boiler/temperature"] {
		t.Errorf("mosquitto_sub saw %v, want demo/boiler/temperature among them", topics)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDemoConfigIsValid keeps the embedded demo loadable and compilable.
func TestDemoConfigIsValid(t *testing.T) {
	cfg, err := demo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compile(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestCheck checks config.toml.example as a new user would: offline it
// passes; on a machine without the files it names, check fails naming each
// at its line (as run would fail); with the files in place it passes.
func TestCheck(t *testing.T) {
	src, err := os.ReadFile("../../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"check", "--offline", "../../config.toml.example"}, &out, io.Discard); err != nil {
		t.Fatalf("check --offline config.toml.example: %v", err)
	}
	if got := out.String(); !strings.Contains(got, ": ok (") || !strings.Contains(got, "offline") {
		t.Errorf("check --offline output: %q, want ok and that it was offline", got)
	}

	// The example's files, moved to a directory that does not have them.
	dir := t.TempDir()
	example := filepath.Join(dir, "config.toml")
	moved := bytes.ReplaceAll(src, []byte(`"/etc/gateway/`), []byte(`"`+dir+`/`))
	moved = bytes.ReplaceAll(moved, []byte(`"/var/lib/gateway`), []byte(`"`+dir+`/data`))
	moved = bytes.ReplaceAll(moved, []byte(`"/dev/serial/by-id/`), []byte(`"`+dir+`/serial/`))
	if err := os.WriteFile(example, moved, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(t.Context(), []string{"check", example}, &out, io.Discard)
	if err == nil {
		t.Fatalf("check passed with none of the example's files; output %q", out.String())
	}
	// Each problem is at the line of the key naming the file.
	lineOf := func(file string) int {
		for i, l := range strings.Split(string(moved), "\n") {
			if strings.Contains(l, `"`+dir+"/"+file+`"`) && !strings.HasPrefix(strings.TrimSpace(l), "#") {
				return i + 1
			}
		}
		t.Fatalf("config.toml.example names no %s", file)
		return 0
	}
	for _, want := range []struct{ key, file string }{
		{"broker.password_file", "passwd"},
		{"broker.listeners[1].cert_file", "tls/server.crt"},
		{"broker.listeners[1].ca_file", "tls/clients-ca.crt"},
		{"upstream.ca_file", "upstream-ca.pem"},
		{"upstream.cert_file", "device.crt"},
		{`devices[1] "air".port`, "serial/usb-Arduino_Uno_12345-if00"},
		{`devices[3] "energy-meter".port`, "serial/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"},
	} {
		if w := fmt.Sprintf(":%d: %s: on this machine: ", lineOf(want.file), want.key); !strings.Contains(err.Error(), w) {
			t.Errorf("check error lacks %q:\n%v", w, err)
		}
	}

	// Now give it the files.
	pki := mqtttest.NewPKI(t, "gw")
	for name, from := range map[string]string{
		"tls/server.crt": pki.ServerCert, "tls/server.key": pki.ServerKey, "tls/clients-ca.crt": pki.CA,
		"upstream-ca.pem": pki.CA, "device.crt": pki.ClientCert, "device.key": pki.ClientKey, "passwd": "",
		// The serial ports: check only looks that they exist.
		"serial/usb-Arduino_Uno_12345-if00": "", "serial/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0": "",
	} {
		var b []byte
		if from != "" {
			if b, err = os.ReadFile(from); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := run(t.Context(), []string{"check", example}, &out, io.Discard); err != nil {
		t.Fatalf("check with the files in place: %v", err)
	}
	if got := out.String(); !strings.Contains(got, ": ok (") || strings.Contains(got, "offline") {
		t.Errorf("check output: %q", got)
	}
}

// TestCheckCases runs testdata/check/<name>/config.toml through `gateway
// check` and compares its error with want.err: problems found by the
// compile stage must be reported like the decoder's, with file and line.
// A case's flags, if any, are in its file args (e.g. --offline, for
// devices that name serial ports this machine may or may not have). Any
// other file in the folder must be one its config.toml names (a password
// file, an ACL), so that a file meant as a flag is never silently ignored.
func TestCheckCases(t *testing.T) {
	paths, _ := filepath.Glob("testdata/check/*/config.toml")
	if len(paths) == 0 {
		t.Fatal("no cases")
	}
	for _, path := range paths {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			flags := checkCaseFlags(t, dir)
			args := append(append([]string{"check"}, flags...), path)
			var out bytes.Buffer
			err := run(t.Context(), args, &out, io.Discard)
			want, rerr := os.ReadFile(filepath.Join(dir, "want.err"))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if err == nil {
				t.Fatalf("check passed; want:\n%s", want)
			}
			got := strings.ReplaceAll(err.Error(), path, "config.toml") + "\n"
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			if code := exitCode(err, io.Discard); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
		})
	}
}

// checkCaseFlags returns the flags in dir/args: one a line, blank lines and
// lines starting with # left out. It fails t for a file in dir that is
// neither config.toml, want.err, args nor named in config.toml by its path.
func checkCaseFlags(t *testing.T, dir string) []string {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch n := e.Name(); n {
		case "config.toml", "want.err", "args":
		default:
			if !strings.Contains(string(cfg), `"`+filepath.Join(dir, n)+`"`) {
				t.Fatalf("%s: %s is not config.toml, want.err or args, and config.toml does not name it as %q (flags go in args, one a line)", dir, n, filepath.Join(dir, n))
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "args"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			flags = append(flags, l)
		}
	}
	return flags
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args     []string
		code     int    // exit code
		stdout   string // a substring of stdout
		errorMsg string // a substring of the error
	}{
		{args: []string{"help"}, stdout: "gateway COMMAND"},
		{args: []string{"--help"}, stdout: "Commands:"},
		{args: []string{"version"}, stdout: "gateway "},
		{args: []string{"--version"}, stdout: "gateway "},
		{args: []string{"run", "--help"}, stdout: "Usage: gateway run -c FILE"},
		{args: []string{"check", "--help"}, stdout: "Usage: gateway check [--offline] [--homeassistant] FILE"},
		{args: []string{"demo", "--help"}, stdout: "--data-dir"},
		{args: []string{"version", "--help"}, stdout: "Usage: gateway version"},
		{args: []string{"frobnicate"}, code: 2, errorMsg: `unknown command "frobnicate"`},
		{args: []string{"check"}, code: 2, errorMsg: "missing the config file"},
		{args: []string{"check", "a", "b"}, code: 2, errorMsg: "want one config file"},
		{args: []string{"run", "--bogus"}, code: 2, errorMsg: "flag provided but not defined: -bogus"},
		{args: []string{"run", "-c", "does-not-exist.toml"}, code: 1, errorMsg: "no such file"},
		{args: []string{"check", "does-not-exist.toml"}, code: 1, errorMsg: "no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tt.args, &out, io.Discard)
			if code := exitCode(err, io.Discard); code != tt.code {
				t.Errorf("exit code %d, want %d (err %v)", code, tt.code, err)
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.stdout)
			}
			if tt.errorMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.errorMsg)) {
				t.Errorf("error %v does not contain %q", err, tt.errorMsg)
			}
		})
	}
}

// TestRunConfigFile runs a real config file with --print.
func TestRunConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	cfg := `[gateway]
name = "t"
data_dir = "` + filepath.Join(dir, "data") + `"
log_format = "json"

[web]
address = ""

[[devices]]
name = "d"
driver = "sim"
interval = "10ms"
payload = "value"

  [[devices.points]]
  name = "n"
  wave = "counter"
`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := newLineWriter(), &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "-c", path, "--print"}, stdout, stderr) }()
	for want := 0; want < 3; want++ {
		select {
		case line := <-stdout.lines:
			if strings.HasPrefix(line, "t/d/status ") || strings.HasPrefix(line, "t/status ") {
				want-- // availability, not a reading
				continue
			}
			if line != "t/d/n "+string(rune('0'+want)) {
				t.Fatalf("line %d: got %q", want, line)
			}
		case err := <-done:
			t.Fatalf("run stopped: %v\n%s", err, stderr)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// log_format = "json": every log line is a JSON object.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

// TestSignals builds the binary and checks the real process: SIGTERM stops
// the demo cleanly with exit status 0.
func TestSignals(t *testing.T) {
	bin := gatewayBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "--data-dir", t.TempDir(), "--mqtt", "127.0.0.1:0", "--web", "127.0.0.1:0")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr testutil.SyncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() }) // already exited when the test passes
			sc := bufio.NewScanner(stdout)
			if !sc.Scan() {
				t.Fatalf("no output from the demo; stderr:\n%s", &stderr)
			}
			go func() { _, _ = io.Copy(io.Discard, stdout) }() // keep the pipe drained
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case err := <-waited:
				if err != nil {
					t.Fatalf("exit after %v: %v\n%s", sig, err, &stderr)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("still running 15s after %v", sig)
			}
			if !strings.Contains(stderr.String(), "shutting down") || !strings.Contains(stderr.String(), "gateway stopped") {
				t.Errorf("stderr lacks the shutdown messages:\n%s", &stderr)
			}
		})
	}
}

// TestSecondSignalExitsAtOnce checks the handler: the first signal cancels,
// the second exits without waiting for the clean shutdown.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	exited := make(chan int, 1)
	var stderr testutil.SyncBuffer
	ctx, stop := signalContext(context.Background(), &stderr, func(code int) { exited <- code })
	defer stop()
	self, _ := os.FindProcess(os.Getpid())
	if err := self.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if err := self.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second signal did not exit")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("ctx: %v", ctx.Err())
	}
}

// TestDemoStoppedWhileStarting: a stop signal that arrives while the demo
// is still starting (here: before it began) is a clean stop.
func TestDemoStoppedWhileStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stderr testutil.SyncBuffer
	err := run(ctx, []string{"demo", "--data-dir", t.TempDir(), "--mqtt", "127.0.0.1:0", "--web", "127.0.0.1:0"}, io.Discard, &stderr)
	if err != nil {
		t.Fatalf("demo stopped while starting: %v\n%s", err, stderr.String())
	}
}

// checkDemoPolls reads the demo's status page (its address from the
// banner) until the Modbus boiler, which polls on its own schedule, shows
// its polls, requests and a request rate, as the sim meter does.
func checkDemoPolls(t *testing.T, stderr *testutil.SyncBuffer) {
	t.Helper()
	m := regexp.MustCompile(`the status page: +(http://\S+)/`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no status page address in the banner:\n%s", stderr)
	}
	var devs []struct {
		Name     string  `json:"name"`
		Polls    uint64  `json:"polls"`
		Requests uint64  `json:"requests"`
		Errors   uint64  `json:"request_errors"`
		Rate     float64 `json:"requests_per_second"`
	}
	// Two samples of the page, 5s apart.
	testutil.WaitFor(t, 30*time.Second, "polls, requests and a request rate for both devices on the page", func() bool {
		resp, err := http.Get(m[1] + "/api/devices")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&devs)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		ok := len(devs) == 2
		for _, d := range devs {
			ok = ok && d.Polls >= 2 && d.Requests >= d.Polls && d.Errors == 0 && d.Rate > 0
		}
		return ok
	})
}
