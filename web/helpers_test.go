package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// fakes are sources whose values a test changes.
type fakes struct {
	mu        sync.Mutex
	uplink    UplinkStatus
	buf       BufferStats
	bufErr    error
	msgs      []BufferedMessage
	devices   []DeviceStatus
	broker    BrokerStats
	lastQuery BufferQuery
}

func newFakes() *fakes {
	t0 := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	return &fakes{
		uplink: UplinkStatus{State: "up", Sent: 10, Acked: 9, Dropped: 6},
		buf:    BufferStats{Depth: 3, Bytes: 300, MaxBytes: 1 << 20, Oldest: t0, OldestAge: 90 * time.Second, Drops: 2},
		msgs: []BufferedMessage{
			{ID: 1, Accepted: t0, Message: gateway.Message{Topic: "site/meter/power", Payload: []byte("1500"), QoS: 1, Time: t0}},
			{ID: 2, Accepted: t0.Add(time.Second), Message: gateway.Message{Topic: "site/meter/raw", Payload: []byte{0xff, 0x00}}},
		},
		devices: []DeviceStatus{
			{Name: "meter", State: "ok", Polls: 12, Failures: 1, Readings: 24, LastError: "timeout"},
			{Name: "boiler", State: "failing", Polls: 5, Failures: 5, LastError: "no answer"},
		},
		broker: BrokerStats{ClientsConnected: 2, MessagesReceived: 100, MessagesSent: 200, Sessions: 3, Denied: 4, DeliveriesDenied: 5},
	}
}

func (f *fakes) set(fn func(f *fakes)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakes) sources() Sources {
	return Sources{
		Devices: func() []DeviceStatus {
			f.mu.Lock()
			defer f.mu.Unlock()
			return append([]DeviceStatus(nil), f.devices...)
		},
		Broker: func() BrokerStats {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.broker
		},
		Uplink: func() UplinkStatus {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.uplink
		},
		Buffer: func(context.Context) (BufferStats, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.buf, f.bufErr
		},
		BufferList: func(_ context.Context, q BufferQuery) ([]BufferedMessage, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.lastQuery = q
			var out []BufferedMessage
			for _, m := range f.msgs {
				if (q.Topic == "" || q.Topic == m.Topic) && !m.Accepted.Before(q.Since) && (q.Limit == 0 || len(out) < q.Limit) {
					out = append(out, m)
				}
			}
			return out, nil
		},
		BufferExport: func(_ context.Context, w io.Writer, format string, q BufferQuery) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.lastQuery = q
			for _, m := range f.msgs {
				if _, err := fmt.Fprintf(w, "%s %d %s\n", format, m.ID, m.Topic); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testServer returns a server with cfg (loopback by default) serving its
// handler on an httptest server.
func testServer(t *testing.T, cfg Config, f *fakes) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:0"
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	s := newServer(cfg, f.sources(), discardLog())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// get fetches url and returns status and body.
func get(t *testing.T, url string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// getJSON fetches url, wants 200 and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, _, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", url, code, body)
	}
	if err := json.NewDecoder(strings.NewReader(body)).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v\n%s", url, err, body)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
