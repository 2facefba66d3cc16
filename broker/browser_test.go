package broker

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/internal/chromiumtest"
)

// mqttJSBundle returns MQTT.js's browser bundle, which scripts/test
// installs with npm ci into testdata/node.
func mqttJSBundle(t *testing.T) []byte {
	t.Helper()
	js, err := os.ReadFile(filepath.Join("..", "testdata", "node", "node_modules", "mqtt", "dist", "mqtt.min.js"))
	if err != nil {
		t.Fatalf("MQTT.js not installed (npm ci --prefix testdata/node; scripts/test does): %v", err)
	}
	return js
}

// TestBrowserOrigins runs MQTT.js's browser bundle in headless Chromium,
// on a page served from another origin than the broker's WebSocket
// listeners: a listener accepting anonymous clients refuses it (403) unless
// allowed_origins lists the page's origin; a listener that requires a login
// accepts it.
func TestBrowserOrigins(t *testing.T) {
	bundle := mqttJSBundle(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/mqtt.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(bundle)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>dashboard</title><script src="/mqtt.min.js"></script>`)
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)

	anon := newTestBroker(t, Config{Listeners: []Listener{
		{Address: "127.0.0.1:0", Protocol: "ws"},
		{Address: "127.0.0.1:0", Protocol: "ws", AllowedOrigins: []string{page.URL}},
	}})
	pw := filepath.Join(t.TempDir(), "passwd")
	if err := auth.SetPassword(pw, "dash", "board"); err != nil {
		t.Fatal(err)
	}
	login := newTestBroker(t, Config{PasswordFile: pw, Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "ws"}}})

	b := chromiumtest.Open(t, page.URL, 800, 600)
	if !b.WaitFor(t, `typeof mqtt !== 'undefined'`) {
		t.Fatal("MQTT.js did not load in the page")
	}
	// try connects, subscribes, publishes at QoS 1 and waits for its own
	// message; it resolves "ok TOPIC PAYLOAD" or what went wrong.
	try := func(addr, user, password string) string {
		var got string
		b.Eval(t, fmt.Sprintf(`new Promise((resolve) => {
			const c = mqtt.connect('ws://%s/mqtt', {reconnectPeriod: 0, connectTimeout: 10000,
				protocolVersion: 4, username: %q || undefined, password: %q || undefined});
			const done = (v) => { c.end(true); resolve(v); };
			c.on('connect', () => c.subscribe('dash/x', {qos: 1}, (err) => err ? done('suback ' + err.message) :
				c.publish('dash/x', 'hello', {qos: 1})));
			c.on('message', (t, m) => done('ok ' + t + ' ' + m));
			c.on('error', (e) => done('error ' + e.message));
			c.on('close', () => done('closed'));
		})`, addr, user, password), &got)
		return got
	}

	if got := try(anon.Addrs()[0].String(), "", ""); strings.HasPrefix(got, "ok") {
		t.Errorf("anonymous listener, page from another origin: %q, want refused", got)
	}
	if n := anon.stats.originRefused.Load(); n != 1 {
		t.Errorf("origin refusals = %d, want 1", n)
	}
	if got := try(anon.Addrs()[1].String(), "", ""); got != "ok dash/x hello" {
		t.Errorf("anonymous listener with the page in allowed_origins: %q, want ok", got)
	}
	if got := try(login.Addrs()[0].String(), "dash", "board"); got != "ok dash/x hello" {
		t.Errorf("listener requiring a login, page from another origin: %q, want ok", got)
	}
	if got := try(login.Addrs()[0].String(), "dash", "wrong"); strings.HasPrefix(got, "ok") {
		t.Errorf("listener requiring a login, wrong password: %q, want refused", got)
	}
}

// TestWSOwnOrigin: an anonymous WebSocket listener accepts a page of its
// own origin and clients that send no Origin (not browsers).
func TestWSOwnOrigin(t *testing.T) {
	b := newTestBroker(t, Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "ws"}}})
	addr := b.Addrs()[0].String()
	for _, origin := range []string{"http://" + addr, ""} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, _, err := websocket.Dial(t.Context(), "ws://"+addr+"/mqtt", &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Errorf("origin %q: %v", origin, err)
			continue
		}
		c.CloseNow() // only the upgrade was tested
	}
	h := http.Header{"Origin": {"http://attacker.example"}}
	if _, resp, err := websocket.Dial(t.Context(), "ws://"+addr+"/mqtt", &websocket.DialOptions{HTTPHeader: h}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: err %v, want 403", err)
	}
}
