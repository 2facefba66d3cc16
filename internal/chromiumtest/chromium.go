// Package chromiumtest drives headless Chromium over the Chrome DevTools
// Protocol for browser tests: the web page's, and MQTT.js's browser bundle
// against the broker's WebSocket listener.
package chromiumtest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// A minimal Chrome DevTools Protocol client for browser tests. A page may
// hold an event stream open, so Chromium's --dump-dom with a virtual time
// budget never finishes; driving the page over the protocol lets the test
// wait, in real time, for the DOM to show live updates.

// Path is where Debian installs chromium.
const Path = "/usr/bin/chromium"

// Browser is one headless Chromium showing one page.
type Browser struct {
	conn *websocket.Conn
	id   int
}

// Open starts headless Chromium on url and connects to its page.
// Chromium is stopped in t.Cleanup.
func Open(t testing.TB, url string, width, height int) *Browser {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Fatalf("this test needs Debian's chromium (apt-get install chromium): %v", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cmd := exec.CommandContext(ctx, Path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir="+t.TempDir(),
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		fmt.Sprintf("--window-size=%d,%d", width, height),
		"about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	// Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
	endpoint := make(chan string, 1)
	var tail strings.Builder
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "DevTools listening on "); ok {
				endpoint <- rest
			} else if tail.Len() < 4000 {
				tail.WriteString(line + "\n")
			}
		}
		// Reaping the killed process; its exit status is expected to be an error.
		_ = cmd.Wait()
	}()
	var ws string
	select {
	case ws = <-endpoint:
	case <-exited:
		t.Fatalf("chromium exited before listening:\n%s", tail.String())
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start DevTools within 60s")
	}
	host := strings.TrimPrefix(ws, "ws://")
	host = host[:strings.IndexByte(host, '/')]

	var targets []struct{ Type, URL, WebSocketDebuggerURL string }
	resp, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		t.Fatalf("devtools targets: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		t.Fatalf("devtools targets: %v", err)
	}
	var page string
	for _, tg := range targets {
		if tg.Type == "page" {
			page = tg.WebSocketDebuggerURL
		}
	}
	if page == "" || len(targets) == 0 {
		t.Fatalf("no page target in %+v", targets)
	}
	conn, _, err := websocket.Dial(t.Context(), page, nil)
	if err != nil {
		t.Fatalf("devtools connect: %v", err)
	}
	conn.SetReadLimit(64 << 20) // screenshots
	t.Cleanup(func() {
		// The browser is about to be killed; a failed close changes nothing.
		_ = conn.CloseNow()
	})
	b := &Browser{conn: conn}
	// Navigate now that we are attached: the answer comes once the page's
	// document is committed, so evaluations run in it.
	nctx, ncancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer ncancel()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.Call(nctx, "Page.navigate", map[string]any{"url": url}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %v %s", url, err, nav.ErrorText)
	}
	return b
}

// Call sends one protocol command and decodes its result into result.
func (b *Browser) Call(ctx context.Context, method string, params, result any) error {
	b.id++
	id := b.id
	if err := wsjson.Write(ctx, b.conn, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := wsjson.Read(ctx, b.conn, &msg); err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		if msg.ID != id {
			continue // an event, or an answer to an abandoned call
		}
		if msg.Error != nil {
			return fmt.Errorf("%s: %s", method, msg.Error.Message)
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(msg.Result, result)
	}
}

// Eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value into v.
func (b *Browser) Eval(t testing.TB, expr string, v any) {
	t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := b.Call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true,
	}, &res)
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	if res.ExceptionDetails != nil {
		t.Fatalf("eval %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if v != nil {
		if err := json.Unmarshal(res.Result.Value, v); err != nil {
			t.Fatalf("eval %s: result %s: %v", expr, res.Result.Value, err)
		}
	}
}

// WaitFor waits, in the page, until the JavaScript expression cond is
// truthy, re-checking on every animation frame for up to 15 seconds, and
// reports whether it became true.
func (b *Browser) WaitFor(t testing.TB, cond string) bool {
	t.Helper()
	var ok bool
	b.Eval(t, `new Promise((resolve) => {
		const end = Date.now() + 15000;
		const check = () => {
			let v = false;
			try { v = !!(`+cond+`); } catch (e) {}
			if (v || Date.now() > end) resolve(v); else setTimeout(check, 50);
		};
		check();
	})`, &ok)
	return ok
}

// Screenshot captures the whole page at the given CSS width as PNG.
func (b *Browser) Screenshot(t testing.TB, width int, mobile bool) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	metrics := func(height int) {
		if err := b.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
			"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	metrics(800)
	// Let the page lay out (and redraw its chart) at the new width.
	var height int
	b.Eval(t, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() =>
		r(Math.ceil(document.documentElement.scrollHeight)))))`, &height)
	metrics(height)
	b.Eval(t, `new Promise((r) => { window.dispatchEvent(new Event('resize')); requestAnimationFrame(() => requestAnimationFrame(() => r(true))); })`, nil)
	var shot struct {
		Data string `json:"data"`
	}
	if err := b.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}
