package web

import (
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	f := newFakes()
	s, ts := testServer(t, Config{}, f)
	s.sample(t.Context())
	f.set(func(f *fakes) { f.uplink.State, f.uplink.Refused, f.uplink.Expired = "down", 4, 9 })
	s.sample(t.Context())

	code, hdr, body := get(t, ts.URL+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{
		"gateway_uplink_up 0",
		"gateway_uplink_outages_total 1",
		"gateway_uplink_messages_sent_total 10",
		"gateway_uplink_messages_acked_total 9",
		"gateway_uplink_messages_dropped_total 6",
		"gateway_uplink_messages_refused_total 4",
		"gateway_uplink_messages_expired_total 9",
		"gateway_buffer_messages 3",
		"gateway_buffer_bytes 300",
		"gateway_buffer_dropped_messages_total 2",
		"gateway_buffer_oldest_age_seconds 90",
		"gateway_buffer_stats_up 1",
		"gateway_broker_clients_connected 2",
		"gateway_broker_messages_received_total 100",
		"gateway_broker_publishes_denied_total 4",
		"gateway_broker_deliveries_denied_total 5",
		`gateway_device_up{device="meter"} 1`,
		`gateway_device_up{device="boiler"} 0`,
		`gateway_device_poll_failures_total{device="boiler"} 5`,
		"# TYPE gateway_buffer_dropped_messages_total counter",
		"# TYPE gateway_buffer_messages gauge",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Without sources only the runtime metrics remain, and the scrape works.
	s2 := newServer(Config{Address: "127.0.0.1:0"}, Sources{}, discardLog())
	if got, err := s2.reg.Gather(); err != nil || len(got) == 0 {
		t.Errorf("Gather without sources = %d families, %v", len(got), err)
	}
}
