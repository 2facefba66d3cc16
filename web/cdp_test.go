package web

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

// A minimal Chrome DevTools Protocol client for the browser test. The page
// holds an event stream open, so Chromium's --dump-dom with a virtual time
// budget never finishes; driving the page over the protocol lets the test
// wait, in real time, for the DOM to show live updates.

const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium showing one page.
type browser struct {
	conn *websocket.Conn
	id   int
}

// openBrowser starts headless Chromium on url and connects to its page.
// Chromium is stopped in t.Cleanup.
func openBrowser(t *testing.T, url string, width, height int) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("this test needs Debian's chromium (apt-get install chromium): %v", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cmd := exec.CommandContext(ctx, chromiumPath,
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
	b := &browser{conn: conn}
	// Navigate now that we are attached: the answer comes once the page's
	// document is committed, so evaluations run in it.
	nctx, ncancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer ncancel()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(nctx, "Page.navigate", map[string]any{"url": url}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %v %s", url, err, nav.ErrorText)
	}
	return b
}

// call sends one protocol command and decodes its result into result.
func (b *browser) call(ctx context.Context, method string, params, result any) error {
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

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value into v.
func (b *browser) eval(t *testing.T, expr string, v any) {
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
	err := b.call(ctx, "Runtime.evaluate", map[string]any{
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

// waitFor waits, in the page, until the JavaScript expression cond is
// truthy, re-checking on every animation frame for up to 15 seconds, and
// reports whether it became true.
func (b *browser) waitFor(t *testing.T, cond string) bool {
	t.Helper()
	var ok bool
	b.eval(t, `new Promise((resolve) => {
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

// screenshot captures the whole page at the given CSS width as PNG.
func (b *browser) screenshot(t *testing.T, width int, mobile bool) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	metrics := func(height int) {
		if err := b.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
			"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	metrics(800)
	// Let the page lay out (and redraw its chart) at the new width.
	var height int
	b.eval(t, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() =>
		r(Math.ceil(document.documentElement.scrollHeight)))))`, &height)
	metrics(height)
	b.eval(t, `new Promise((r) => { window.dispatchEvent(new Event('resize')); requestAnimationFrame(() => requestAnimationFrame(() => r(true))); })`, nil)
	var shot struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}
