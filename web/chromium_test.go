package web

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/internal/chromiumtest"
)

// updateScreenshot copies the browser test's screenshot to docs/.
var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/web-status.png from the browser test")

// browserServer runs a server fed with fake sources whose values change:
// an uplink that went down, a buffer that grows on every read, devices and
// values, and a history of the last ten minutes for the chart.
func browserServer(t *testing.T) *Server {
	t.Helper()
	f := newFakes()
	src := f.sources()
	start := time.Now()
	src.Broker = func() BrokerStats {
		n := uint64(time.Since(start).Milliseconds())
		return BrokerStats{ClientsConnected: 3, Sessions: 4, Subscriptions: 7, MessagesReceived: 5000 + n*12/1000, MessagesSent: 9000 + n*25/1000}
	}
	var reads atomic.Int64
	src.Buffer = func(context.Context) (BufferStats, error) {
		n := reads.Add(1)
		return BufferStats{Depth: 1200 + 3*n, Bytes: (1200 + 3*n) * 96, MaxBytes: 64 << 20, OldestAge: 127 * time.Second, Drops: 0,
			LastAck: time.Now().Add(-127 * time.Second)}, nil
	}
	f.set(func(f *fakes) {
		f.uplink = UplinkStatus{State: "down", LastErr: "dial tcp 10.0.0.2:8883: connect: connection refused", Sent: 48211, Acked: 48190,
			Protocol: "5.0", Refused: 7, LastReasonCode: 0x97, LastReason: "PUBACK 0x97 Quota exceeded"}
		f.broker.ClientsConnected = 3
		f.devices[0].Failures, f.devices[0].LastError = 0, ""
	})
	s, err := New(Config{Address: "127.0.0.1:0", SampleInterval: 200 * time.Millisecond, History: 200}, src, discardLog())
	if err != nil {
		t.Fatal(err)
	}

	// Ten minutes of history: an outage that ended, then the current one.
	now := time.Now()
	for i := 120; i > 0; i-- {
		at := now.Add(-time.Duration(i) * 5 * time.Second)
		smp := Sample{Time: at, Uplink: "up", HasDepth: true}
		switch {
		case i > 100:
		case i > 75:
			smp.Uplink, smp.Depth = "down", int64(101-i)*40
		case i > 60:
			smp.Depth = int64(max(0, 1000-(76-i)*80))
		case i > 26:
		default:
			smp.Uplink, smp.Depth = "down", int64(27-i)*46
		}
		smp.Bytes = smp.Depth * 96
		s.hist.add(smp, &BrokerStats{MessagesReceived: uint64(600-i) * 40, MessagesSent: uint64(600-i) * 80}, "connection refused")
	}

	at := now.Add(-time.Second)
	for _, r := range []gateway.Reading{
		{Device: "meter", Point: "power", Value: gateway.Float(1534.2), Unit: "W"},
		{Device: "meter", Point: "energy", Value: gateway.Float(123456.7), Unit: "kWh"},
		{Device: "meter", Point: "voltage", Value: gateway.Float(230.1), Unit: "V"},
		{Device: "boiler", Point: "temp", Quality: gateway.QualityBad, Err: errors.New("slave 3: timeout")},
		{Device: "boiler", Point: "pump", Value: gateway.Bool(true)},
	} {
		r.Time = at
		s.Observe(r)
	}
	if err := s.Publish(t.Context(), gateway.Message{Topic: "site/meter/power", Payload: []byte(`{"v":1534.2,"q":"good"}`), Time: at}); err != nil {
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
	return s
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("headless chromium: skipped in -short mode")
	}
	s := browserServer(t)
	url := "http://" + s.Addr().String() + "/"
	b := chromiumtest.Open(t, url, 1100, 1600)

	checks := []struct{ what, cond string }{
		{"event stream open", `document.getElementById('conn').textContent.startsWith('live')`},
		{"initial value", `document.querySelector('td.val[data-key="meter/energy"]').textContent === '123456.7 kWh'`},
		{"bad reading", `document.querySelector('tr[data-key="boiler/temp"]').textContent.includes('bad')`},
		{"device state", `document.querySelector('[data-device="boiler"] .pill').textContent === 'failing'`},
		{"uplink down", `document.getElementById('uplink-pill').textContent === 'down'`},
		{"uplink protocol", `document.getElementById('uplink-protocol').textContent === 'MQTT 5.0'`},
		{"uplink refusal", `document.getElementById('uplink-reason').textContent === 'last refused: PUBACK 0x97 Quota exceeded'`},
		{"uplink refused count", `document.getElementById('uplink-refused').textContent === '7'`},
		{"ongoing outage listed", `document.getElementById('outages').textContent.includes('ongoing')`},
		{"topic payload", `document.getElementById('topics').textContent.includes('{"v":1534.2,"q":"good"}')`},
		{"chart drawn", `document.querySelector('#chart polyline').getAttribute('points').split(' ').length > 100`},
		{"outage band drawn", `document.querySelectorAll('#chart rect').length >= 2`},
		{"broker clients", `document.getElementById('broker-clients').textContent === '3'`},
		{"buffer depth", `Number(document.getElementById('buffer-depth').textContent.replaceAll(',', '')) > 1200`},
	}
	for _, c := range checks {
		if !b.WaitFor(t, c.cond) {
			t.Errorf("%s: page never satisfied %s", c.what, c.cond)
		}
	}

	// A value observed now reaches the open page through the event stream.
	power := `document.querySelector('td.val[data-key="meter/power"]').textContent`
	if !b.WaitFor(t, power+` === '1534.2 W'`) {
		t.Errorf("initial power value not shown")
	}
	s.Observe(gateway.Reading{Device: "meter", Point: "power", Value: gateway.Float(4242.5), Unit: "W", Time: time.Now()})
	if !b.WaitFor(t, power+` === '4242.5 W'`) {
		t.Errorf("live power value not shown")
	}

	// The buffer depth updates live: the fake grows on every sample.
	var depth int
	b.Eval(t, `Number(document.getElementById('buffer-depth').textContent.replaceAll(',', ''))`, &depth)
	if !b.WaitFor(t, fmt.Sprintf(`Number(document.getElementById('buffer-depth').textContent.replaceAll(',', '')) > %d`, depth)) {
		t.Errorf("buffer depth stayed at %d", depth)
	}

	// The buffered-messages browser lists what the buffer source returns.
	b.Eval(t, `document.querySelector('#bufform button').click(), true`, nil)
	if !b.WaitFor(t, `document.getElementById('bufmsgs').textContent.includes('site/meter/power')`) {
		t.Error("buffered messages not listed")
	}
	if t.Failed() {
		var html string
		b.Eval(t, `document.documentElement.outerHTML`, &html)
		t.Logf("DOM:\n%s", html)
	}

	for _, shot := range []struct {
		name   string
		width  int
		mobile bool
	}{{"web-status.png", 1100, false}, {"web-status-phone.png", 390, true}} {
		png := b.Screenshot(t, shot.width, shot.mobile)
		if !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("%s: not a PNG", shot.name)
		}
		if *updateScreenshot {
			if err := os.WriteFile(filepath.Join("..", "docs", shot.name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
