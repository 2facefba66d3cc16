package main

// Home Assistant discovery: the config messages of the points, locally and
// upstream.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"text/tabwriter"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/homeassistant"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/topic"
	"github.com/edgegw/gateway/upstream"
)

// checkHomeAssistant checks the status topics and, with discovery on, that
// every point gets an entity of its own.
func checkHomeAssistant(cfg *config.Config, probs *config.Problems, pl *plan) {
	checkStatusTopics(cfg, probs, pl)
	if !cfg.HomeAssistant.Enabled {
		return
	}
	seen := map[string]string{}
	for i, d := range cfg.Devices {
		for j, pt := range d.Points {
			if pt.HA != nil && !*pt.HA {
				continue
			}
			id := homeassistant.UniqueID(cfg.Gateway.Name, d.Name, pt.Name)
			if prev, dup := seen[id]; dup {
				probs.Add(cfg.PointPath(i, j).Key("name"), "Home Assistant would see the same entity id %q as for %s: rename one, or set ha = false", id, prev)
				continue
			}
			seen[id] = fmt.Sprintf("devices[%d] %q.points[%d] %q", i, d.Name, j, pt.Name)
		}
	}
	// Home Assistant refuses the config category for sensors: they cannot be set.
	es, _ := homeassistant.Entities(haConfig(cfg, pl)) // collisions reported above
	for _, e := range es {
		if e.Component != homeassistant.Sensor && e.Component != homeassistant.BinarySensor {
			continue
		}
		for i, d := range cfg.Devices {
			for j, pt := range d.Points {
				if d.Name == e.Device && pt.Name == e.Point && pt.HAEntityCategory == "config" {
					probs.Add(cfg.PointPath(i, j).Key("ha_entity_category"), "\"config\": the point is announced as a %s, which Home Assistant allows only \"diagnostic\" (config is for entities that can be set)", e.Component)
				}
			}
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
	for _, r := range rules {
		rule := upstream.SubscribeRule{Filter: r.Filter, LocalPrefix: r.LocalPrefix, LocalTopic: r.LocalTopic}
		if remote, ok := rule.RemoteTopic(local); ok {
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
	stale    chan string // retained config topics found on the local broker

	mu       sync.Mutex
	statusOn string // Home Assistant's status topic subscribed, "" for none
	unsub    func()
	sweeping func() // unsubscribes the sweep
}

// newDiscovery returns the announcers; toUpstream is the sink of messages
// going upstream (nil when nothing is forwarded).
func newDiscovery(log *slog.Logger, b *broker.Broker, toUpstream gateway.Sink) *discovery {
	d := &discovery{log: log.With("component", "homeassistant"), local: homeassistant.NewAnnouncer(b), again: make(chan struct{}, 1), stale: make(chan string, 1024)}
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
	}
	d.listen(b, cfg)
	if err := d.local.Set(ctx, local); err != nil {
		d.log.Warn("discovery configs not published", "err", err)
	}
	d.mu.Lock()
	start := d.sweeping == nil && cfg.HomeAssistant.Enabled
	d.mu.Unlock()
	if start {
		d.sweep(b, cfg)
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

// listen subscribes Home Assistant's status topic under the discovery
// prefix while discovery is on.
func (d *discovery) listen(b *broker.Broker, cfg *config.Config) {
	haStatus := ""
	if cfg.HomeAssistant.Enabled {
		haStatus = homeassistant.StatusTopic(cfg.HomeAssistant.DiscoveryPrefix)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if haStatus == d.statusOn {
		return
	}
	if d.unsub != nil {
		d.unsub()
		d.unsub = nil
	}
	d.statusOn = haStatus
	if haStatus == "" {
		return
	}
	unsub, err := b.Subscribe(haStatus, 1, func(m gateway.Message) {
		if homeassistant.IsOnline(m.Payload) {
			select {
			case d.again <- struct{}{}:
			default: // a republish is pending
			}
		}
	})
	if err != nil {
		d.log.Error("subscribe Home Assistant's status topic", "topic", haStatus, "err", err)
		return
	}
	d.unsub = unsub
}

// sweep finds the configs this gateway left retained on the local broker
// under an earlier config (a point removed while the gateway was stopped):
// run clears those the current set does not have.
func (d *discovery) sweep(b *broker.Broker, cfg *config.Config) {
	gw := cfg.Gateway.Name
	unsub, err := b.Subscribe(cfg.HomeAssistant.DiscoveryPrefix+"/+/+/+/config", 0, func(m gateway.Message) {
		if !m.Retain || len(m.Payload) == 0 || !homeassistant.Owned(m.Payload, gw) {
			return // live configs (ours), cleared ones, other publishers'
		}
		select {
		case d.stale <- m.Topic:
		default: // more than fit: the rest stay until the next start
		}
	})
	if err != nil {
		d.log.Warn("look for discovery configs of an earlier config", "err", err)
		return
	}
	d.mu.Lock()
	d.sweeping = unsub
	d.mu.Unlock()
}

// run republishes the configs each time Home Assistant says it is online,
// until ctx is cancelled.
func (d *discovery) run(ctx context.Context) {
	for {
		select {
		case t := <-d.stale:
			if d.local.Has(t) {
				continue
			}
			d.log.Info("clearing a discovery config of an earlier config", "topic", t)
			if err := d.local.Clear(ctx, t); err != nil {
				d.log.Warn("discovery config not cleared", "topic", t, "err", err)
			}
			// Upstream has it too where a forward rule sends the discovery
			// prefix up (the upstream set has the same config topics):
			// cleared through the same rules.
			if d.upstream != nil && !d.upstream.Has(t) {
				if err := d.upstream.Clear(ctx, t); err != nil {
					d.log.Warn("discovery config not cleared upstream", "topic", t, "err", err)
				}
			}
		case <-ctx.Done():
			d.mu.Lock()
			if d.sweeping != nil {
				d.sweeping()
			}
			if d.unsub != nil {
				d.unsub()
				d.unsub = nil
			}
			d.mu.Unlock()
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
