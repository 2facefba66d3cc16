package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/testutil"
)

// TestReload changes a point's topic and adds a device through a reload,
// then offers a broken config, which is refused while the running one keeps
// publishing.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	base := `[gateway]
name = "r"
data_dir = "` + filepath.Join(dir, "data") + `"

[web]
address = "127.0.0.1:0"

[[devices]]
name = "a"
driver = "sim"
interval = "5ms"
payload = "value"

  [[devices.points]]
  name = "n"
  wave = "counter"
  TOPIC
`
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(base, "TOPIC", "", 1))
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := newLineWriter(), newLineWriter()
	reload := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, serveOptions{stdout: stdout, stderr: stderr, print: true, reload: reload})
	}()
	waitLine := func(w *lineWriter, what string, match func(string) bool) string {
		t.Helper()
		return w.waitLine(t, done, what, match)
	}
	prefix := func(p string) func(string) bool { return func(l string) bool { return strings.HasPrefix(l, p) } }
	contains := func(p string) func(string) bool { return func(l string) bool { return strings.Contains(l, p) } }

	waitLine(stdout, "a reading on r/a/n", prefix("r/a/n "))

	// Change the point's topic and add a device b.
	write(strings.Replace(base, "TOPIC", `topic = "moved/{device}/{point}"`, 1) + `
[[devices]]
name = "b"
driver = "sim"
interval = "5ms"

  [[devices.points]]
  name = "t"
  wave = "toggle"
  period = "1s"
`)
	reload <- struct{}{}
	waitLine(stderr, "the reload log", contains("config reloaded"))
	waitLine(stdout, "a reading on the moved topic", prefix("moved/a/n "))
	waitLine(stdout, "a reading from the added device", prefix("r/b/t "))

	// A broken config is refused and the running one keeps publishing.
	write(strings.Replace(base, "TOPIC", `wave = "sin"`, 1))
	reload <- struct{}{}
	refused := waitLine(stderr, "the refusal", contains("config reload refused"))
	if !strings.Contains(refused, "config.toml") {
		t.Errorf("the refusal does not name the file: %s", refused)
	}
	for range 3 {
		waitLine(stdout, "readings after the refusal", prefix("moved/a/n "))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReloadOnSIGHUP runs the real binary: `gateway run -c FILE`, the file
// changes, SIGHUP (what `systemctl reload` sends) applies it.
func TestReloadOnSIGHUP(t *testing.T) {
	bin := gatewayBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	cfg := func(topic string) string {
		return `[gateway]
name = "h"
data_dir = "` + filepath.Join(dir, "data") + `"
[web]
address = ""
[[devices]]
name = "d"
driver = "sim"
interval = "10ms"
payload = "value"
topic = "` + topic + `"
  [[devices.points]]
  name = "n"
  wave = "counter"
`
	}
	if err := os.WriteFile(path, []byte(cfg("before/{point}")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-c", path, "--print")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // already exited when the test passes
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	waitPrefix := func(p string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("gateway exited waiting for %s:\n%s", p, &stderr)
				}
				if strings.HasPrefix(l, p) {
					return
				}
			case <-deadline:
				t.Fatalf("no line starting %q:\n%s", p, &stderr)
			}
		}
	}
	waitPrefix("before/n ")
	if err := os.WriteFile(path, []byte(cfg("after/{point}")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitPrefix("after/n ")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range lines { // keep the pipe drained until exit
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, &stderr)
	}
	if strings.Count(stderr.String(), `msg="device up" component=pipeline device=d`) != 1 {
		t.Errorf("the device restarted on a topic change:\n%s", &stderr)
	}
}
