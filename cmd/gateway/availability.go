package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/homeassistant"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
	"github.com/edgegw/gateway/topic"
)

// Availability: the gateway's and the devices' status topics (online or
// offline, retained), locally and upstream.

// gatewayStatusTopic returns [gateway] status_topic expanded ("" when off).
func gatewayStatusTopic(cfg *config.Config) string {
	if cfg.Gateway.StatusTopic == "" {
		return ""
	}
	t, _ := mapping.ExpandTopic(cfg.Gateway.StatusTopic, mapping.Names{Gateway: cfg.Gateway.Name}) // compile checked it
	return t
}

// deviceStatusTopic returns [gateway] device_status_topic expanded for
// device ("" when off).
func deviceStatusTopic(cfg *config.Config, device string) string {
	if cfg.Gateway.DeviceStatusTopic == "" {
		return ""
	}
	t, _ := mapping.ExpandTopic(cfg.Gateway.DeviceStatusTopic, mapping.Names{Gateway: cfg.Gateway.Name, Device: device}) // compile checked it
	return t
}

// checkStatusTopics reports status topic templates that do not expand, and
// points whose topic is a status topic.
func checkStatusTopics(cfg *config.Config, probs *config.Problems, pl *plan) {
	g := config.At("gateway")
	for _, st := range []struct {
		key, tmpl string
		allowed   []string
	}{
		{"status_topic", cfg.Gateway.StatusTopic, []string{"{gateway}"}},
		{"device_status_topic", cfg.Gateway.DeviceStatusTopic, []string{"{gateway}", "{device}"}},
	} {
		if st.tmpl == "" {
			continue
		}
		if strings.Contains(st.tmpl, "{point}") || strings.Contains(st.tmpl, "{unit}") {
			probs.Add(g.Key(st.key), "%q: want only the placeholders %s", st.tmpl, strings.Join(st.allowed, " "))
			continue
		}
		if _, err := mapping.ExpandTopic(st.tmpl, mapping.Names{Gateway: cfg.Gateway.Name, Device: "device"}); err != nil {
			probs.Add(g.Key(st.key), "%v", err)
		}
	}
	if probs.Err() != nil {
		return
	}
	status := map[string]string{}
	if t := gatewayStatusTopic(cfg); t != "" {
		status[t] = "[gateway] status_topic"
	}
	for _, d := range cfg.Devices {
		if t := deviceStatusTopic(cfg, d.Name); t != "" {
			status[t] = fmt.Sprintf("the status topic of device %q", d.Name)
		}
	}
	n := 0
	for i, d := range cfg.Devices {
		for j := range d.Points {
			mp := pl.mapping[n]
			n++
			topic, err := mapping.ExpandTopic(mp.Rule.Topic, mapping.Names{Gateway: cfg.Gateway.Name, Device: mp.Device, Point: mp.Point, Unit: mp.Unit})
			if err != nil {
				continue // reported by mappingPoint
			}
			if what, ok := status[topic]; ok {
				probs.Add(cfg.PointPath(i, j), "topic %q is %s: rename the point or change [gateway] device_status_topic", topic, what)
			}
		}
	}
}

// deviceStatus publishes each device's status topic (online/offline,
// retained) when the pipeline reports a change of its state. The pipeline
// calls set from its device goroutines; publishing happens in run, latest
// state first-come, so a slow sink never holds up a driver.
//
// A device that is no longer configured leaves no status behind: a reload
// that removes it (or changes device_status_topic) clears the retained
// status it published, and sweep clears those left by a device removed
// while the gateway was stopped, locally and, through the sinks, upstream.
type deviceStatus struct {
	sink gateway.Sink
	log  *slog.Logger

	mu        sync.Mutex
	cfg       *config.Config
	pending   map[string]statusUpdate // device -> what to publish next
	order     []string
	published map[string]string // device -> the status topic it last published
	wake      chan struct{}
}

// statusUpdate is a device's next status: payload on topic ("" clears it).
type statusUpdate struct {
	topic, payload string
}

func newDeviceStatus(log *slog.Logger, cfg *config.Config, sink gateway.Sink) *deviceStatus {
	return &deviceStatus{sink: sink, log: log, cfg: cfg, pending: map[string]statusUpdate{},
		published: map[string]string{}, wake: make(chan struct{}, 1)}
}

// setConfig switches to the topics of a reloaded config, and clears the
// status of each device it no longer has (or whose topic changed).
func (s *deviceStatus) setConfig(cfg *config.Config) {
	s.mu.Lock()
	s.cfg = cfg
	for dev, t := range s.published {
		if deviceStatusTopic(cfg, dev) != t || !hasDevice(cfg, dev) {
			s.queueLocked(dev, statusUpdate{topic: t})
			delete(s.published, dev)
		}
	}
	s.mu.Unlock()
	s.kick()
}

// hasDevice reports whether cfg configures device.
func hasDevice(cfg *config.Config, device string) bool {
	return slices.ContainsFunc(cfg.Devices, func(d config.Device) bool { return d.Name == device })
}

// set is the pipeline's OnState: a device that answers is online; one that
// fails, or stopped, is offline. A device the config no longer has (a
// reload removed it) is ignored: setConfig clears its status.
func (s *deviceStatus) set(device string, st pipeline.State) {
	payload := homeassistant.Offline
	switch st {
	case pipeline.StateStarting:
		return // not known yet
	case pipeline.StateOK:
		payload = homeassistant.Online
	}
	s.mu.Lock()
	topic := deviceStatusTopic(s.cfg, device)
	if topic == "" || !hasDevice(s.cfg, device) {
		s.mu.Unlock()
		return
	}
	s.queueLocked(device, statusUpdate{topic: topic, payload: payload})
	s.published[device] = topic
	s.mu.Unlock()
	s.kick()
}

// queueLocked makes u the device's next update; s.mu is held.
func (s *deviceStatus) queueLocked(device string, u statusUpdate) {
	if _, queued := s.pending[device]; !queued {
		s.order = append(s.order, device)
	}
	s.pending[device] = u
}

func (s *deviceStatus) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sweep subscribes the device status topics on the local broker and clears
// each retained status of a device the config does not have: one removed
// while the gateway was stopped. It needs {device} to be a whole topic
// level of device_status_topic (the default's is); otherwise there is no
// filter for "every device", and such statuses are left alone. The
// subscription lasts until unsubscribe is called.
func (s *deviceStatus) sweep(b *broker.Broker) (unsubscribe func()) {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	filter := deviceStatusFilter(cfg)
	if filter == "" {
		return func() {}
	}
	unsub, err := b.Subscribe(filter, 1, func(m gateway.Message) {
		if !m.Retain || !homeassistant.IsOnline(m.Payload) && string(m.Payload) != homeassistant.Offline {
			return // live updates, cleared ones, not a status
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, d := range s.cfg.Devices {
			if deviceStatusTopic(s.cfg, d.Name) == m.Topic {
				return // a configured device's
			}
		}
		s.log.Info("clearing the status of a device no longer configured", "topic", m.Topic)
		s.queueLocked("\x00"+m.Topic, statusUpdate{topic: m.Topic}) // no device name: keyed apart from real ones
		s.kick()
	})
	if err != nil {
		s.log.Warn("look for status topics of removed devices", "filter", filter, "err", err)
		return func() {}
	}
	return unsub
}

// deviceStatusFilter returns the filter matching every device's status
// topic: device_status_topic with {device} as "+" ("" when off, or when
// {device} is not a whole level, or the template has no {device}).
func deviceStatusFilter(cfg *config.Config) string {
	const mark = "\x01" // not in a device name: ExpandTopic refuses wildcards
	t := deviceStatusTopic(cfg, mark)
	if !strings.Contains(t, mark) {
		return ""
	}
	levels := strings.Split(t, "/")
	for i, l := range levels {
		switch {
		case l == mark:
			levels[i] = "+"
		case strings.Contains(l, mark):
			return ""
		}
	}
	f := strings.Join(levels, "/")
	if topic.ValidFilter(f) != nil {
		return ""
	}
	return f
}

// run publishes the pending states until ctx is cancelled.
func (s *deviceStatus) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.mu.Lock()
		pending, order := s.pending, s.order
		s.pending, s.order = map[string]statusUpdate{}, nil
		s.mu.Unlock()
		for _, dev := range order {
			u := pending[dev]
			m := gateway.Message{Topic: u.topic, Payload: []byte(u.payload), QoS: 1, Retain: true}
			if err := s.sink.Publish(ctx, m); err != nil {
				s.log.Warn("device status not published", "topic", u.topic, "status", u.payload, "err", err)
			}
		}
	}
}

// announceGateway publishes the gateway's status "online" (retained) on
// the local broker, and returns the func that publishes "offline" when the
// gateway stops.
func announceGateway(ctx context.Context, log *slog.Logger, b *broker.Broker, cfg *config.Config) (stopping func()) {
	status := gatewayStatusTopic(cfg)
	if status == "" {
		return func() {}
	}
	say := func(ctx context.Context, payload string) {
		if err := b.Publish(ctx, gateway.Message{Topic: status, Payload: []byte(payload), QoS: 1, Retain: true}); err != nil {
			log.Warn("gateway status not published", "topic", status, "status", payload, "err", err)
		}
	}
	say(ctx, homeassistant.Online)
	return func() { say(context.WithoutCancel(ctx), homeassistant.Offline) }
}

// statusMessages returns the gateway's status as the forwarder's birth
// message and will, when a forward rule sends the status topic upstream.
func statusMessages(cfg *config.Config) (birth, will *gateway.Message) {
	status := gatewayStatusTopic(cfg)
	if status == "" {
		return nil, nil
	}
	for _, r := range cfg.Upstream.Forward {
		if topic.Match(r.Filter, status) {
			remote := gateway.MapTopic(r.RemoteTopic, r.RemotePrefix, status)
			qos := byte(1)
			if r.QoS != nil {
				qos = byte(*r.QoS)
			}
			return &gateway.Message{Topic: remote, Payload: []byte(homeassistant.Online), QoS: qos, Retain: true},
				&gateway.Message{Topic: remote, Payload: []byte(homeassistant.Offline), QoS: qos, Retain: true}
		}
	}
	return nil, nil
}
