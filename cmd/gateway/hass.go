package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/homeassistant"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
	"github.com/edgegw/gateway/topic"
	"github.com/edgegw/gateway/upstream"
)

// Availability and Home Assistant discovery: the gateway's and the devices'
// status topics, and the discovery configs of the points.

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

// checkHomeAssistant checks the status topics and, with discovery on, that
// every point gets an entity of its own.
func checkHomeAssistant(cfg *config.Config, probs *config.Problems, pl *plan) {
	checkStatusTopics(cfg, probs, pl)
	if probs.Err() != nil || !cfg.HomeAssistant.Enabled {
		return
	}
	if _, err := homeassistant.Entities(haConfig(cfg, pl)); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			probs.Add(config.At("homeassistant"), "%s", line)
		}
	}
}

// haConfig describes cfg's points for Home Assistant discovery, with the
// topics of the local broker.
func haConfig(cfg *config.Config, pl *plan) homeassistant.Config {
	hc := homeassistant.Config{
		Gateway: cfg.Gateway.Name, Version: version, Prefix: cfg.HomeAssistant.DiscoveryPrefix,
		StatusTopic: gatewayStatusTopic(cfg),
	}
	n := 0
	for _, d := range cfg.Devices {
		hc.Devices = append(hc.Devices, homeassistant.Device{
			Name: d.Name, Manufacturer: d.Manufacturer, Model: d.Model, StatusTopic: deviceStatusTopic(cfg, d.Name),
		})
		for j, pt := range d.Points {
			mp, spec := pl.mapping[n], pl.specs[n]
			n++
			names := mapping.Names{Gateway: cfg.Gateway.Name, Device: d.Name, Point: pt.Name, Unit: pt.Unit}
			state, _ := mapping.ExpandTopic(mp.Rule.Topic, names) // compile checked it
			cmd := ""
			if spec.Writable {
				cmd, _ = mapping.ExpandTopic(spec.CommandTopic, names) // compile checked it
			}
			hp := homeassistant.Point{
				Device: d.Name, Name: pt.Name, Unit: pt.Unit, Kind: spec.Kind,
				Writable: spec.Writable, CommandTopic: cmd, StateTopic: state,
				Payload: mp.Rule.Payload, QoS: mp.Rule.QoS, Min: spec.Min, Max: spec.Max,
				Override: homeassistant.Override{
					Skip: pt.HA != nil && !*pt.HA, Name: pt.HAName, DeviceClass: pt.HADeviceClass,
					StateClass: pt.HAStateClass, Icon: pt.HAIcon, EntityCategory: pt.HAEntityCategory,
					ValueTemplate: pt.HAValueTemplate,
				},
			}
			scale := 1.0
			if pt.Scale != nil && *pt.Scale != 0 {
				scale = *pt.Scale
				hp.Step = math.Abs(scale)
			}
			typ := "" // sim points: the default range
			if s, ok := d.Section.(interface{ PointType(int) string }); ok {
				typ = s.PointType(j)
			}
			lo, hi := typeRange(typ)
			lo, hi = tidy(lo*scale+pt.Offset), tidy(hi*scale+pt.Offset)
			hp.Limits = [2]float64{min(lo, hi), max(lo, hi)}
			hc.Points = append(hc.Points, hp)
		}
	}
	return hc
}

// tidy rounds away the binary noise of a scaled limit (3276.7000000000003).
func tidy(f float64) float64 {
	if math.Abs(f) > 1e12 {
		return f
	}
	return math.Round(f*1e9) / 1e9
}

// typeRange is the range of a Modbus register type (uint16 by default);
// other points get a wide range of their own.
func typeRange(typ string) (lo, hi float64) {
	switch typ {
	case "", "uint16":
		return 0, math.MaxUint16
	case "int16":
		return math.MinInt16, math.MaxInt16
	case "uint32":
		return 0, math.MaxUint32
	case "int32":
		return math.MinInt32, math.MaxInt32
	case "uint64":
		return 0, math.MaxUint64
	case "int64":
		return math.MinInt64, math.MaxInt64
	case "float32":
		return -math.MaxFloat32, math.MaxFloat32
	}
	return -1e15, 1e15
}

// upstreamHAConfig is hc as Home Assistant sees it on the upstream broker:
// each topic mapped by the forward rule that matches it (a status topic no
// rule forwards is left out of the availability), and each command topic by
// the subscribe rule that brings it down (a point whose commands no rule
// brings down is announced read-only). ok is false when no forward rule
// matches the discovery topics: nothing is announced upstream.
func upstreamHAConfig(cfg *config.Config, hc homeassistant.Config) (out homeassistant.Config, ok bool) {
	rules := forwardRules(cfg)
	if _, fwd := upstream.Forwarded(rules, hc.Prefix+"/"+homeassistant.Sensor+"/node/object/config"); !fwd {
		return hc, false
	}
	remote := func(local string) string {
		for _, r := range rules {
			if local != "" && topic.Match(r.Filter, local) {
				return gateway.MapTopic(r.RemoteTopic, r.RemotePrefix, local)
			}
		}
		return ""
	}
	out = hc
	out.StatusTopic = remote(hc.StatusTopic)
	out.Devices = nil
	for _, d := range hc.Devices {
		d.StatusTopic = remote(d.StatusTopic)
		out.Devices = append(out.Devices, d)
	}
	out.Points = nil
	for _, p := range hc.Points {
		p.StateTopic = remote(p.StateTopic)
		if p.StateTopic == "" {
			continue // its readings do not go upstream
		}
		p.CommandTopic = remoteCommandTopic(cfg.Upstream.Subscribe, p.CommandTopic)
		out.Points = append(out.Points, p)
	}
	return out, true
}

// remoteCommandTopic returns the upstream topic that a subscribe rule
// brings down to the local command topic, or "" when there is none (rules
// with local_topic templates are not reversed).
func remoteCommandTopic(rules []config.Subscribe, local string) string {
	if local == "" {
		return ""
	}
	for _, r := range rules {
		if r.LocalTopic != "" {
			continue
		}
		var remote string
		if r.LocalPrefix == "" {
			remote = local
		} else {
			rest, ok := strings.CutPrefix(local, strings.TrimSuffix(r.LocalPrefix, "/")+"/")
			if !ok {
				continue
			}
			var lead []string
			for _, l := range strings.Split(r.Filter, "/") {
				if l == "+" || l == "#" {
					break
				}
				lead = append(lead, l)
			}
			remote = strings.Join(append(lead, rest), "/")
		}
		if topic.Match(r.Filter, remote) {
			return remote
		}
	}
	return ""
}

// discovery keeps the Home Assistant configs announced on the local broker
// and, where a forward rule matches them, upstream; it republishes them
// when Home Assistant comes online.
type discovery struct {
	log      *slog.Logger
	local    *homeassistant.Announcer
	upstream *homeassistant.Announcer // nil without forwarding
	again    chan struct{}
	unsub    func()
}

// newDiscovery returns the announcers; toUpstream is the sink of messages
// going upstream (nil when nothing is forwarded).
func newDiscovery(log *slog.Logger, b *broker.Broker, toUpstream gateway.Sink) *discovery {
	d := &discovery{log: log.With("component", "homeassistant"), local: homeassistant.NewAnnouncer(b), again: make(chan struct{}, 1)}
	if toUpstream != nil {
		d.upstream = homeassistant.NewAnnouncer(toUpstream)
	}
	return d
}

// set announces cfg's entities (and clears those of the previous config
// that are gone). With [homeassistant] off, every entity is cleared.
func (d *discovery) set(ctx context.Context, b *broker.Broker, cfg *config.Config, pl *plan) {
	var local, up []homeassistant.Entity
	if cfg.HomeAssistant.Enabled {
		hc := haConfig(cfg, pl)
		local, _ = homeassistant.Entities(hc) // compile checked it
		if uc, ok := upstreamHAConfig(cfg, hc); ok {
			up, _ = homeassistant.Entities(uc) // the same ids as local
		}
		if d.unsub == nil {
			topic := homeassistant.StatusTopic(cfg.HomeAssistant.DiscoveryPrefix)
			unsub, err := b.Subscribe(topic, 1, func(m gateway.Message) {
				if homeassistant.IsOnline(m.Payload) {
					select {
					case d.again <- struct{}{}:
					default: // a republish is pending
					}
				}
			})
			if err != nil {
				d.log.Error("subscribe Home Assistant's status topic", "topic", topic, "err", err)
			} else {
				d.unsub = unsub
			}
		}
	}
	if err := d.local.Set(ctx, local); err != nil {
		d.log.Warn("discovery configs not published", "err", err)
	}
	if d.upstream != nil {
		if err := d.upstream.Set(ctx, up); err != nil {
			d.log.Warn("discovery configs not buffered for upstream", "err", err)
		}
	}
	if len(local) > 0 {
		d.log.Info("Home Assistant discovery published", "entities", len(local), "upstream", len(up))
	}
}

// run republishes the configs each time Home Assistant says it is online,
// until ctx is cancelled.
func (d *discovery) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if d.unsub != nil {
				d.unsub()
			}
			return
		case <-d.again:
			d.log.Info("Home Assistant is online: publishing the discovery configs again")
			if err := d.local.Republish(ctx); err != nil {
				d.log.Warn("discovery configs not published", "err", err)
			}
			if d.upstream != nil {
				if err := d.upstream.Republish(ctx); err != nil {
					d.log.Warn("discovery configs not buffered for upstream", "err", err)
				}
			}
		}
	}
}

// deviceStatus publishes each device's status topic (online/offline,
// retained) when the pipeline reports a change of its state. The pipeline
// calls set from its device goroutines; publishing happens in run, latest
// state first-come, so a slow sink never holds up a driver.
type deviceStatus struct {
	sink gateway.Sink
	log  *slog.Logger

	mu      sync.Mutex
	cfg     *config.Config
	pending map[string]string // device -> payload
	order   []string
	wake    chan struct{}
}

func newDeviceStatus(log *slog.Logger, cfg *config.Config, sink gateway.Sink) *deviceStatus {
	return &deviceStatus{sink: sink, log: log, cfg: cfg, pending: map[string]string{}, wake: make(chan struct{}, 1)}
}

// setConfig switches to the topics of a reloaded config.
func (s *deviceStatus) setConfig(cfg *config.Config) {
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
}

// set is the pipeline's OnState: a device that answers is online; one that
// fails, or stopped, is offline.
func (s *deviceStatus) set(device string, st pipeline.State) {
	payload := homeassistant.Offline
	switch st {
	case pipeline.StateStarting:
		return // not known yet
	case pipeline.StateOK:
		payload = homeassistant.Online
	}
	s.mu.Lock()
	if _, queued := s.pending[device]; !queued {
		s.order = append(s.order, device)
	}
	s.pending[device] = payload
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
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
		pending, order, cfg := s.pending, s.order, s.cfg
		s.pending, s.order = map[string]string{}, nil
		s.mu.Unlock()
		for _, dev := range order {
			topic := deviceStatusTopic(cfg, dev)
			if topic == "" {
				continue
			}
			m := gateway.Message{Topic: topic, Payload: []byte(pending[dev]), QoS: 1, Retain: true}
			if err := s.sink.Publish(ctx, m); err != nil {
				s.log.Warn("device status not published", "device", dev, "err", err)
			}
		}
	}
}

// announceGateway publishes the gateway's status "online" (retained) on
// the local broker, and returns the func that publishes "offline" when the
// gateway stops.
func announceGateway(ctx context.Context, log *slog.Logger, b *broker.Broker, cfg *config.Config) (stopping func()) {
	topic := gatewayStatusTopic(cfg)
	if topic == "" {
		return func() {}
	}
	say := func(ctx context.Context, payload string) {
		if err := b.Publish(ctx, gateway.Message{Topic: topic, Payload: []byte(payload), QoS: 1, Retain: true}); err != nil {
			log.Warn("gateway status not published", "topic", topic, "status", payload, "err", err)
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

// printEntities writes what Home Assistant discovery would announce for
// cfg as a table (gateway check --homeassistant).
func printEntities(w io.Writer, cfg *config.Config, pl *plan) error {
	es, err := homeassistant.Entities(haConfig(cfg, pl))
	if err != nil {
		return err
	}
	if !cfg.HomeAssistant.Enabled {
		fmt.Fprintln(w, "[homeassistant] enabled = false: nothing is announced; with it on, this would be:")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tDEVICE\tPOINT\tNAME\tDEVICE CLASS\tSTATE CLASS\tUNIT")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, e := range es {
		dev, point := e.Device, e.Point
		if dev == "" {
			dev = "(gateway)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Component, dev, point, e.Name, dash(e.DeviceClass), dash(e.StateClass), dash(e.Unit))
	}
	return tw.Flush()
}
