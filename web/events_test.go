package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

type event struct{ name, data string }

// readEvents parses a Server-Sent Events stream into ch until it ends.
func readEvents(r *bufio.Reader, ch chan<- event) {
	defer close(ch)
	var ev event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.name != "" {
				ch <- ev
			}
			ev = event{}
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[len("data: "):]
		}
	}
}

// waitEvent returns the first event for which match is true.
func waitEvent(t *testing.T, ch <-chan event, match func(event) bool) event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("event stream ended")
			}
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("timed out waiting for an event")
		}
	}
}

func subscribeEvents(t *testing.T, url string) <-chan event {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if got := resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Fatalf("Content-Type = %q", got)
	}
	ch := make(chan event, 16)
	go readEvents(bufio.NewReader(resp.Body), ch)
	return ch
}

func TestEvents(t *testing.T) {
	f := newFakes()
	s, ts := testServer(t, Config{}, f)
	s.Observe(gateway.Reading{Device: "meter", Point: "power", Value: gateway.Float(1)})

	ch := subscribeEvents(t, ts.URL)
	first := waitEvent(t, ch, func(ev event) bool { return true })
	if first.name != "values" || !strings.Contains(first.data, `"key":"meter/power"`) {
		t.Fatalf("first event = %+v, want values with meter/power", first)
	}
	waitEvent(t, ch, func(ev event) bool { return ev.name == "status" })

	for i := 2; i <= 5; i++ {
		s.Observe(gateway.Reading{Device: "meter", Point: "power", Value: gateway.Float(float64(i))})
	}
	// Updates may be coalesced; the last one always arrives.
	waitEvent(t, ch, func(ev event) bool {
		if ev.name != "value" {
			return false
		}
		var pv struct {
			Key   string  `json:"key"`
			Value float64 `json:"value"`
		}
		if err := json.Unmarshal([]byte(ev.data), &pv); err != nil {
			t.Fatalf("value event %q: %v", ev.data, err)
		}
		return pv.Key == "meter/power" && pv.Value == 5
	})

	// A new sample pushes the status with it.
	f.set(func(f *fakes) { f.buf.Depth = 4242 })
	s.sample(t.Context())
	waitEvent(t, ch, func(ev event) bool {
		return ev.name == "status" && strings.Contains(ev.data, `"depth":4242`)
	})
}

func TestRun(t *testing.T) {
	f := newFakes()
	s, err := New(Config{Address: "127.0.0.1:0", SampleInterval: 10 * time.Millisecond}, f.sources(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	url := "http://" + s.Addr().String()

	// An open event stream must not hold up the shutdown.
	ch := subscribeEvents(t, url)
	// The sampler runs on its own: samples keep arriving.
	f.set(func(f *fakes) { f.buf.Depth = 77 })
	waitEvent(t, ch, func(ev event) bool { return ev.name == "status" && strings.Contains(ev.data, `"depth":77`) })
	var h struct{ Samples []json.RawMessage }
	getJSON(t, url+"/api/history", &h)
	if len(h.Samples) == 0 {
		t.Error("no history samples")
	}
}

func TestRunAddressInUse(t *testing.T) {
	s, err := New(Config{Address: "127.0.0.1:0"}, Sources{}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	_, err = New(Config{Address: s.Addr().String()}, Sources{}, discardLog())
	if err == nil || !strings.Contains(err.Error(), "web: listen") {
		t.Errorf("second New on %s = %v, want a listen error", s.Addr(), err)
	}
}

func TestRunAfterClose(t *testing.T) {
	s, err := New(Config{Address: "127.0.0.1:0"}, Sources{}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Serving fails at once; Run must return, not wait for ctx.
	if err := s.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "web: serve") {
		t.Errorf("Run on a closed listener = %v, want a serve error", err)
	}
}
