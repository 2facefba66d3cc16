package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/testutil"
)

// TestBusyWebPort: a taken status page port does not take the data path
// down. The gateway logs it once, at the config line, keeps publishing,
// and serves the page once the port is free (testdata/run/busy-web-port).
func TestBusyWebPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := busy.Addr().String()
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/run/busy-web-port/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/run/busy-web-port/want.err")
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{ADDR}", addr, "{DATA}", filepath.Join(dir, "data"))
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(fill.Replace(string(src))), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := newLineWriter(), newLineWriter()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, serveOptions{stdout: stdout, stderr: stderr, print: true, webRetry: 50 * time.Millisecond})
	}()
	wait := func(w *lineWriter, what string, match func(string) bool) string {
		t.Helper()
		return w.waitLine(t, done, what, match)
	}
	wantMsg := strings.Replace(strings.TrimSpace(fill.Replace(string(want))), "config.toml:", path+":", 1)
	logged := wait(stderr, "the busy port's error", func(l string) bool { return strings.Contains(l, "web.address") })
	if !strings.Contains(logged, wantMsg) {
		t.Errorf("got log line:\n%s\nwant it to hold:\n%s", logged, wantMsg)
	}
	// The data path runs meanwhile: readings keep coming, and the fault is
	// not logged again on each retry.
	for range 20 {
		wait(stdout, "a reading", func(l string) bool { return strings.HasPrefix(l, "g/a/n ") })
	}
	// Free the port: the page comes up.
	busy.Close()
	wait(stderr, "the page starting", func(l string) bool {
		if strings.Contains(l, "web.address") {
			t.Errorf("the busy port was logged again: %s", l)
		}
		return strings.Contains(l, "status page: the address is free again")
	})
	testutil.WaitFor(t, 20*time.Second, "the page answering", func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
