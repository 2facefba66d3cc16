package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

func TestStatus(t *testing.T) {
	f := newFakes()
	s, ts := testServer(t, Config{}, f)
	t0 := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	now := t0
	s.now = func() time.Time { return now }

	s.sample(t.Context()) // up
	now = now.Add(5 * time.Second)
	f.set(func(f *fakes) {
		f.uplink = UplinkStatus{State: "down", LastErr: "connection refused"}
		f.broker.MessagesReceived += 50 // 10/s
	})
	s.sample(t.Context()) // down: an outage begins
	now = now.Add(5 * time.Second)
	f.set(func(f *fakes) { f.uplink.State = "up" })
	s.sample(t.Context()) // up: it ends
	now = now.Add(5 * time.Second)
	f.set(func(f *fakes) { f.uplink.State = "down" })
	s.sample(t.Context()) // down again: ongoing

	var st struct {
		Uplink struct {
			State   string `json:"state"`
			Outages []struct {
				Start   time.Time `json:"start"`
				End     time.Time `json:"end"`
				Ongoing bool      `json:"ongoing"`
				Error   string    `json:"error"`
				Seconds float64   `json:"seconds"`
			} `json:"outages"`
			OutagesTotal int `json:"outages_total"`
		} `json:"uplink"`
		Buffer struct {
			Depth            int64   `json:"depth"`
			Bytes            int64   `json:"bytes"`
			Drops            int64   `json:"drops"`
			OldestAgeSeconds float64 `json:"oldest_age_seconds"`
		} `json:"buffer"`
		Broker struct {
			ClientsConnected  int64   `json:"clients_connected"`
			ReceivedPerSecond float64 `json:"received_per_second"`
		} `json:"broker"`
		Devices []DeviceStatus `json:"devices"`
	}
	getJSON(t, ts.URL+"/api/status", &st)

	if got, want := st.Uplink.State, "down"; got != want {
		t.Errorf("uplink state = %q, want %q", got, want)
	}
	if got, want := st.Uplink.OutagesTotal, 2; got != want {
		t.Fatalf("outages_total = %d, want %d", got, want)
	}
	if got := len(st.Uplink.Outages); got != 2 {
		t.Fatalf("outages = %d, want 2", got)
	}
	newest, first := st.Uplink.Outages[0], st.Uplink.Outages[1]
	if !newest.Ongoing || !newest.End.IsZero() {
		t.Errorf("newest outage = %+v, want ongoing", newest)
	}
	if got, want := first.Start, t0.Add(5*time.Second); !got.Equal(want) {
		t.Errorf("first outage start = %v, want %v", got, want)
	}
	if got, want := first.End, t0.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("first outage end = %v, want %v", got, want)
	}
	if first.Ongoing || first.Seconds != 5 || first.Error != "connection refused" {
		t.Errorf("first outage = %+v, want 5s, ended, error connection refused", first)
	}
	if st.Buffer.Depth != 3 || st.Buffer.Bytes != 300 || st.Buffer.Drops != 2 || st.Buffer.OldestAgeSeconds != 90 {
		t.Errorf("buffer = %+v, want depth 3, bytes 300, drops 2, oldest 90s", st.Buffer)
	}
	if st.Broker.ClientsConnected != 2 {
		t.Errorf("broker clients = %d, want 2", st.Broker.ClientsConnected)
	}
	if got := len(st.Devices); got != 2 || st.Devices[1].Failures != 5 {
		t.Errorf("devices = %+v, want meter and boiler with 5 failures", st.Devices)
	}

	var h struct {
		Samples []struct {
			T      int64   `json:"t"`
			Depth  *int64  `json:"depth"`
			Uplink string  `json:"uplink"`
			In     float64 `json:"in"`
		} `json:"samples"`
	}
	getJSON(t, ts.URL+"/api/history", &h)
	if got := len(h.Samples); got != 4 {
		t.Fatalf("history samples = %d, want 4", got)
	}
	if s1 := h.Samples[1]; s1.T != t0.Add(5*time.Second).UnixMilli() || s1.Depth == nil || *s1.Depth != 3 || s1.Uplink != "down" || s1.In != 10 {
		t.Errorf("sample 1 = %+v, want t0+5s, depth 3, down, 10 msg/s", s1)
	}
}

func TestStatusWithoutSources(t *testing.T) {
	s := newServer(Config{Address: "127.0.0.1:0"}, Sources{}, discardLog())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	var st map[string]any
	getJSON(t, ts.URL+"/api/status", &st)
	for _, k := range []string{"uplink", "buffer", "broker"} {
		if st[k] != nil {
			t.Errorf("%s = %v, want null", k, st[k])
		}
	}
	for _, path := range []string{"/api/buffer/stats", "/api/buffer/messages", "/api/buffer/export"} {
		if code, _, _ := get(t, ts.URL+path); code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, code)
		}
	}
}

func TestDevicesAndValues(t *testing.T) {
	s, ts := testServer(t, Config{}, newFakes())
	var devs []DeviceStatus
	getJSON(t, ts.URL+"/api/devices", &devs)
	if len(devs) != 2 || devs[0].Name != "meter" || devs[0].State != "ok" || devs[0].Failures != 1 {
		t.Errorf("devices = %+v", devs)
	}

	at := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	s.Observe(gateway.Reading{Device: "meter", Point: "power", Value: gateway.Float(1500.5), Unit: "W", Time: at})
	s.Observe(gateway.Reading{Device: "meter", Point: "power", Value: gateway.Float(1501), Unit: "W", Time: at})
	s.Observe(gateway.Reading{Device: "boiler", Point: "temp", Quality: gateway.QualityBad, Err: errors.New("timeout"), Time: at})
	if err := s.Publish(t.Context(), gateway.Message{Topic: "site/meter/power", Payload: []byte(`{"v":1501}`), Time: at}); err != nil {
		t.Fatal(err)
	}
	m := gateway.MultiSink{s}
	if err := m.Publish(t.Context(), gateway.Message{Topic: "site/raw", Payload: []byte{0xff}}); err != nil {
		t.Fatal(err)
	}

	var vals []map[string]any
	getJSON(t, ts.URL+"/api/values", &vals)
	got := map[string]map[string]any{}
	for _, v := range vals {
		got[v["key"].(string)] = v
	}
	tests := []struct {
		key, field string
		want       any
	}{
		{"meter/power", "value", 1501.0},
		{"meter/power", "unit", "W"},
		{"meter/power", "updates", 2.0},
		{"meter/power", "quality", "good"},
		{"boiler/temp", "value", nil},
		{"boiler/temp", "quality", "bad"},
		{"boiler/temp", "error", "timeout"},
		{"topic:site/meter/power", "value", `{"v":1501}`},
		{"topic:site/raw", "value", "(binary, 1 bytes)"},
	}
	for _, tt := range tests {
		if v := got[tt.key][tt.field]; v != tt.want {
			t.Errorf("%s.%s = %#v, want %#v", tt.key, tt.field, v, tt.want)
		}
	}
}

type mapperFunc func(gateway.Reading) []gateway.Message

func (f mapperFunc) Map(r gateway.Reading) []gateway.Message { return f(r) }

func TestWrapMapper(t *testing.T) {
	s := newServer(Config{Address: "127.0.0.1:0"}, Sources{}, discardLog())
	m := s.WrapMapper(mapperFunc(func(r gateway.Reading) []gateway.Message {
		return []gateway.Message{{Topic: r.Point}}
	}))
	msgs := m.Map(gateway.Reading{Device: "d", Point: "p", Value: gateway.Int(7)})
	if len(msgs) != 1 || msgs[0].Topic != "p" {
		t.Errorf("Map = %+v, want the wrapped mapper's message", msgs)
	}
	if pv, ok := s.values.get("d/p"); !ok || pv.Value != gateway.Int(7) {
		t.Errorf("value d/p = %+v, %v; want 7", pv, ok)
	}
}

func TestBufferEndpoints(t *testing.T) {
	f := newFakes()
	s, ts := testServer(t, Config{}, f)
	now := time.Date(2025, 1, 31, 13, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	var bs map[string]any
	getJSON(t, ts.URL+"/api/buffer/stats", &bs)
	if bs["depth"] != 3.0 || bs["oldest_age_seconds"] != 90.0 {
		t.Errorf("buffer stats = %v", bs)
	}

	var msgs []map[string]any
	getJSON(t, ts.URL+"/api/buffer/messages", &msgs)
	if len(msgs) != 2 {
		t.Fatalf("messages = %d, want 2", len(msgs))
	}
	if msgs[0]["payload"] != "1500" || msgs[0]["topic"] != "site/meter/power" || msgs[0]["qos"] != 1.0 {
		t.Errorf("message 0 = %v", msgs[0])
	}
	if msgs[1]["payload_base64"] != "/wA=" {
		t.Errorf("binary message = %v, want payload_base64 /wA=", msgs[1])
	}
	if got := f.lastQuery.Limit; got != defaultListLimit {
		t.Errorf("default limit = %d, want %d", got, defaultListLimit)
	}

	getJSON(t, ts.URL+"/api/buffer/messages?topic=site/meter/raw&since=2h&limit=5000", &msgs)
	if len(msgs) != 1 || msgs[0]["id"] != 2.0 {
		t.Errorf("filtered messages = %v, want id 2", msgs)
	}
	if want := (BufferQuery{Topic: "site/meter/raw", Since: now.Add(-2 * time.Hour), Limit: maxListLimit}); f.lastQuery != want {
		t.Errorf("query = %+v, want %+v", f.lastQuery, want)
	}
	getJSON(t, ts.URL+"/api/buffer/messages?since=2025-01-31T12:00:00Z", &msgs)
	if want := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC); !f.lastQuery.Since.Equal(want) {
		t.Errorf("since = %v, want %v", f.lastQuery.Since, want)
	}
	for _, bad := range []string{"?limit=0", "?limit=x", "?since=yesterday"} {
		if code, _, body := get(t, ts.URL+"/api/buffer/messages"+bad); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("GET messages%s: %d %s, want 400 with an error", bad, code, body)
		}
	}

	for _, tt := range []struct{ format, ctype, ext string }{
		{"jsonl", "application/x-ndjson", ".jsonl"},
		{"csv", "text/csv; charset=utf-8", ".csv"},
	} {
		code, hdr, body := get(t, ts.URL+"/api/buffer/export?format="+tt.format+"&topic=site/%23")
		if code != http.StatusOK {
			t.Fatalf("export %s: status %d", tt.format, code)
		}
		if got := hdr.Get("Content-Type"); got != tt.ctype {
			t.Errorf("export %s: Content-Type %q, want %q", tt.format, got, tt.ctype)
		}
		if got := hdr.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") || !strings.Contains(got, tt.ext+`"`) {
			t.Errorf("export %s: Content-Disposition %q", tt.format, got)
		}
		if want := tt.format + " 1 site/meter/power\n" + tt.format + " 2 site/meter/raw\n"; body != want {
			t.Errorf("export %s body = %q, want %q", tt.format, body, want)
		}
		if f.lastQuery.Topic != "site/#" || f.lastQuery.Limit != 0 {
			t.Errorf("export query = %+v, want topic site/# and no limit", f.lastQuery)
		}
	}
	if code, _, _ := get(t, ts.URL+"/api/buffer/export?format=xml"); code != http.StatusBadRequest {
		t.Errorf("export xml: status %d, want 400", code)
	}

	f.set(func(f *fakes) { f.bufErr = errors.New("disk I/O error") })
	if code, _, body := get(t, ts.URL+"/api/buffer/stats"); code != http.StatusInternalServerError || !strings.Contains(body, "disk I/O error") {
		t.Errorf("stats with a failing buffer: %d %s, want 500", code, body)
	}
}

func TestPageAndHeaders(t *testing.T) {
	_, ts := testServer(t, Config{}, newFakes())
	code, hdr, body := get(t, ts.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, `id="buffer-depth"`) {
		t.Fatalf("GET /: %d, page without buffer-depth", code)
	}
	if got := hdr.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'sha256-") {
		t.Errorf("CSP = %q, want a script hash", got)
	}
	if got := hdr.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	if code, _, _ := get(t, ts.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", code)
	}
	resp, err := http.Post(ts.URL+"/api/status", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/status: %d, want 405", resp.StatusCode)
	}
}

// TestExportStalledClient: a client that stops reading an export ends it
// after the write timeout instead of holding the export (and the buffer
// reads behind it) for ever.
func TestExportStalledClient(t *testing.T) {
	old := exportWriteTimeout
	exportWriteTimeout = 300 * time.Millisecond
	t.Cleanup(func() { exportWriteTimeout = old })
	exported := make(chan error, 1)
	src := newFakes().sources()
	src.BufferExport = func(ctx context.Context, w io.Writer, _ string, _ BufferQuery) error {
		chunk := []byte(strings.Repeat("x", 64<<10) + "\n")
		for {
			if _, err := w.Write(chunk); err != nil {
				exported <- err
				return err
			}
		}
	}
	cfg := Config{Address: "127.0.0.1:0"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(newServer(cfg, src, discardLog()).Handler())
	t.Cleanup(ts.Close)
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() }) // runs before ts.Close
	if _, err := io.WriteString(c, "GET /api/buffer/export HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// ... and never read.
	select {
	case err := <-exported:
		t.Logf("export ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the export to a client that stopped reading did not end")
	}
}

// TestDeviceRates: each device's poll, request and error rates over the
// last sample interval reach the JSON API and its counters the metrics.
func TestDeviceRates(t *testing.T) {
	f := newFakes()
	s, ts := testServer(t, Config{}, f)
	t0 := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return t0 }
	f.set(func(f *fakes) { f.devices[0].Requests, f.devices[0].ReqErrors = 40, 2 })
	s.sample(t.Context())
	f.set(func(f *fakes) {
		f.devices[0].Polls += 5
		f.devices[0].Requests += 20
		f.devices[0].ReqErrors += 2
	})
	s.now = func() time.Time { return t0.Add(5 * time.Second) }
	s.sample(t.Context())

	var devs []DeviceStatus
	getJSON(t, ts.URL+"/api/devices", &devs)
	if len(devs) != 2 {
		t.Fatalf("devices = %+v", devs)
	}
	if d := devs[0]; d.PollsPerSecond != 1 || d.RequestsPerSecond != 4 || d.ErrorsPerSecond != 0.4 || d.Requests != 60 || d.ReqErrors != 4 {
		t.Errorf("meter = %+v, want 1 poll/s, 4 requests/s, 0.4 errors/s, 60 requests, 4 errors", d)
	}
	if d := devs[1]; d.PollsPerSecond != 0 || d.RequestsPerSecond != 0 {
		t.Errorf("boiler = %+v, want no rates (its counters did not move)", d)
	}
	var st Status
	getJSON(t, ts.URL+"/api/status", &st)
	if len(st.Devices) != 2 || st.Devices[0].RequestsPerSecond != 4 {
		t.Errorf("status devices = %+v, want the meter at 4 requests/s", st.Devices)
	}
	_, _, body := get(t, ts.URL+"/metrics")
	for _, want := range []string{`gateway_device_requests_total{device="meter"} 60`, `gateway_device_request_errors_total{device="meter"} 4`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
