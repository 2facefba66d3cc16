package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/pipeline"
)

// recordSink records what is published to it.
type recordSink struct {
	mu   sync.Mutex
	msgs []gateway.Message
}

func (r *recordSink) Publish(_ context.Context, m gateway.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recordSink) Close() error { return nil }

// has reports whether topic was published with payload.
func (r *recordSink) has(topic, payload string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.msgs, func(m gateway.Message) bool {
		return m.Topic == topic && string(m.Payload) == payload && m.Retain
	})
}

func statusConfig(devices ...string) *config.Config {
	cfg := &config.Config{}
	cfg.Gateway.Name = "gw"
	cfg.Gateway.DeviceStatusTopic = "{gateway}/{device}/status"
	for _, d := range devices {
		cfg.Devices = append(cfg.Devices, config.Device{Name: d})
	}
	return cfg
}

// TestDeviceStatusOfRemovedDevices: the retained status of a device removed
// while the gateway was stopped is cleared at start; one removed by a reload
// is cleared then; configured devices' statuses and other retained
// messages stay.
func TestDeviceStatusOfRemovedDevices(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	b, err := broker.New(broker.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for topic, payload := range map[string]string{
		"gw/old/status":    "offline", // a device removed while stopped
		"gw/gone/status":   "online",  // one killed while online
		"gw/boiler/status": "online",  // still configured
		"gw/notes/status":  "hello",   // not a status
	} {
		if err := b.Publish(t.Context(), gateway.Message{Topic: topic, Payload: []byte(payload), QoS: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recordSink{}
	ds := newDeviceStatus(log, statusConfig("boiler", "pump"), gateway.MultiSink{b, rec})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go ds.run(ctx)
	unsweep := ds.sweep(b)
	defer unsweep()
	testutil.WaitFor(t, 5*time.Second, "the removed devices' statuses cleared", func() bool {
		return rec.has("gw/old/status", "") && rec.has("gw/gone/status", "")
	})

	// A reload removes the pump: its status is cleared, and its stop
	// (reported after the reload) publishes nothing.
	ds.set("pump", pipeline.StateOK)
	testutil.WaitFor(t, 5*time.Second, "the pump online", func() bool { return rec.has("gw/pump/status", "online") })
	ds.setConfig(statusConfig("boiler"))
	ds.set("pump", pipeline.StateStopped)
	testutil.WaitFor(t, 5*time.Second, "the pump's status cleared", func() bool { return rec.has("gw/pump/status", "") })
	ds.set("boiler", pipeline.StateFailing)
	testutil.WaitFor(t, 5*time.Second, "the boiler offline", func() bool { return rec.has("gw/boiler/status", "offline") })

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range rec.msgs {
		switch {
		case m.Topic == "gw/boiler/status" && len(m.Payload) == 0, m.Topic == "gw/notes/status":
			t.Errorf("published %s %q: it is configured, or not a status", m.Topic, m.Payload)
		case m.Topic == "gw/pump/status" && string(m.Payload) == "offline":
			t.Errorf("the removed pump's stop published offline")
		}
	}
}

func TestDeviceStatusFilter(t *testing.T) {
	for tmpl, want := range map[string]string{
		"{gateway}/{device}/status": "gw/+/status",
		"status/{device}":           "status/+",
		"{gateway}/dev-{device}":    "", // not a whole level
		"{gateway}/status":          "", // no device
		"":                          "",
	} {
		cfg := statusConfig()
		cfg.Gateway.DeviceStatusTopic = tmpl
		if got := deviceStatusFilter(cfg); got != want {
			t.Errorf("%q: filter %q, want %q", tmpl, got, want)
		}
	}
}
