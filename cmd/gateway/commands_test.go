package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/mqtttest"
)

// startDemo runs the demo with its broker on a free port and returns the
// port and the printed messages.
func startDemo(t *testing.T) (port string, messages *lineWriter) {
	port, _, messages = startDemoWeb(t)
	return port, messages
}

// startDemoWeb is startDemo that also returns the status page's address.
func startDemoWeb(t *testing.T) (port, web string, messages *lineWriter) {
	return startDemoIn(t, t.TempDir())
}

// startDemoIn is startDemoWeb with the demo's data in dataDir.
func startDemoIn(t *testing.T, dataDir string) (port, web string, messages *lineWriter) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr := newLineWriter(), newLineWriter()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--data-dir", dataDir, "--mqtt", "127.0.0.1:0", "--web", "127.0.0.1:0"}, stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	addrRE := regexp.MustCompile(`msg="broker listening".* address=127\.0\.0\.1:(\d+)`)
	webRE := regexp.MustCompile(`the status page: +http://([^/]+)/`)
	for {
		select {
		case line := <-stderr.lines:
			if m := webRE.FindStringSubmatch(line); m != nil {
				web = m[1]
			}
			if m := addrRE.FindStringSubmatch(line); m != nil {
				port = m[1]
			}
			if strings.Contains(line, `msg="gateway started"`) {
				return port, web, stdout
			}
		case err := <-done:
			t.Fatalf("demo stopped: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("the demo broker did not start listening")
		}
	}
}

// TestCommandEndToEnd: mosquitto_pub on a command topic of the demo broker
// writes the boiler's setpoint register through the Modbus client into the
// simulator; the result is published, and the next poll reads the new value.
// An invalid command is refused with a reason and never reaches the device.
func TestCommandEndToEnd(t *testing.T) {
	pub, sub := mqtttest.NeedTool(t, "mosquitto_pub"), mqtttest.NeedTool(t, "mosquitto_sub")
	port, messages := startDemo(t)

	results := func(payload string) map[string]any {
		t.Helper()
		// Subscribe first (-C 1 waits for one result), then publish.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		subCmd := exec.CommandContext(ctx, sub, "-h", "127.0.0.1", "-p", port, "-t", "demo/boiler/setpoint/set/result", "-C", "1", "-q", "1")
		out, err := subCmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		subErr := &strings.Builder{}
		subCmd.Stderr = subErr
		if err := subCmd.Start(); err != nil {
			t.Fatal(err)
		}
		// mosquitto_sub has no "subscribed" signal: publish until a result comes.
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(out) // ends when mosquitto_sub exits after one message
			got <- b
		}()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-t", "demo/boiler/setpoint/set", "-q", "1", "-m", payload).Run(); err != nil {
				t.Fatalf("mosquitto_pub: %v", err)
			}
			select {
			case b := <-got:
				_ = subCmd.Wait() // it exited after its one message
				var res map[string]any
				if err := json.Unmarshal(b, &res); err != nil {
					t.Fatalf("result %q: %v (%s)", b, err, subErr)
				}
				return res
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("no command result: %s", subErr)
			}
		}
	}

	res := results("23.5")
	if res["ok"] != true || res["value"] != 23.5 {
		t.Fatalf("result of 23.5: %v", res)
	}
	// The simulator holds 235 (scale 0.1) now: the next reading says so.
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case line := <-messages.lines:
			seen = strings.HasPrefix(line, "demo/boiler/setpoint ") && strings.Contains(line, `"value":23.5`)
		case <-deadline:
			t.Fatal("the setpoint reading never showed 23.5")
		}
	}

	res = results(`"warm"`)
	if res["ok"] != false || !strings.Contains(res["error"].(string), "want a number") {
		t.Errorf("result of \"warm\": %v", res)
	}
}

// TestDemoStatusPage: the demo serves the status page, its JSON API and
// Prometheus metrics, with the devices and the buffer in them.
func TestDemoStatusPage(t *testing.T) {
	_, web, _ := startDemoWeb(t)
	if web == "" {
		t.Fatal("the demo did not print the status page address")
	}
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + web + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v\n%s", path, resp.StatusCode, err, b)
		}
		return string(b)
	}
	if page := get("/"); !strings.Contains(page, "<html") {
		t.Errorf("GET /: not a page: %.200s", page)
	}
	// Wait for the devices to have polled and the buffer to hold something.
	deadline := time.After(20 * time.Second)
	for {
		status := get("/api/status")
		if strings.Contains(status, `"boiler"`) && strings.Contains(status, `"meter"`) && !strings.Contains(status, `"starting"`) && regexp.MustCompile(`"depth": ?[1-9]`).MatchString(status) {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("status never showed both devices and a buffer depth: %s", status)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if m := get("/metrics"); !strings.Contains(m, "buffer") || !strings.Contains(m, "device") {
		t.Errorf("metrics lack buffer or device series:\n%.2000s", m)
	}
}

// TestLocalClientMessagesAreBuffered: a local MQTT client (mosquitto_pub)
// publishing on a forwarded topic gets its messages into the upstream buffer
// like the pipeline's readings; other topics do not. The broker acknowledges
// a QoS 1 or 2 message only once the buffer has committed it, so as soon as
// mosquitto_pub has its acknowledgements (and exits) every message is on
// disk: the database is read at once, without waiting.
func TestLocalClientMessagesAreBuffered(t *testing.T) {
	pub := mqtttest.NeedTool(t, "mosquitto_pub")
	dataDir := t.TempDir()
	port, _, _ := startDemoIn(t, dataDir)
	const n = 300
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "m%03d\n", i)
	}
	for _, c := range []struct{ topic, qos string }{
		{"demo/meter/local-q1", "1"}, {"demo/meter/local-q2", "2"}, {"elsewhere/not-forwarded", "1"},
	} {
		cmd := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-t", c.topic, "-q", c.qos, "-l")
		cmd.Stdin = strings.NewReader(lines.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	var out strings.Builder
	err := run(t.Context(), []string{"buffer", "--db", filepath.Join(dataDir, "buffer.db"), "list", "--topic", "demo/meter/+", "--limit", "100000", "--json"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m struct{ Topic string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("buffer list --json line %q: %v", line, err)
		}
		got[m.Topic]++
	}
	for _, topic := range []string{"demo/meter/local-q1", "demo/meter/local-q2"} {
		if got[topic] != n {
			t.Errorf("%s: %d messages in the buffer once mosquitto_pub had its acknowledgements, want %d", topic, got[topic], n)
		}
	}
	out.Reset()
	if err := run(t.Context(), []string{"buffer", "--db", filepath.Join(dataDir, "buffer.db"), "list", "--topic", "elsewhere/#"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "not-forwarded") {
		t.Errorf("a message on a topic no forward rule matches was buffered:\n%s", out.String())
	}
}
