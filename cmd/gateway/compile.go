package main

import (
	"time"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/sim"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
)

// plan is a validated config compiled into the constructors' inputs: the
// third stage of loading a config (decode, validate, compile).
type plan struct {
	cfg     *config.Config
	devices []pipeline.Device
	mapping []mapping.Point
}

// compile builds everything a config describes without starting anything,
// reporting every problem with its file, line and key like config.Parse.
func compile(cfg *config.Config) (*plan, error) {
	p := &plan{cfg: cfg}
	probs := cfg.Problems()
	checkRule(cfg, probs, config.At("mapping"), cfg.Mapping.Rule)
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		checkRule(cfg, probs, cfg.DevicePath(i), d.Rule)
		for j, pt := range d.Points {
			checkRule(cfg, probs, cfg.PointPath(i, j), pt.Rule)
			p.mapping = append(p.mapping, mappingPoint(cfg, probs, i, j))
		}
		switch d.Driver {
		case "sim":
			p.devices = append(p.devices, compileSim(cfg, probs, i))
		}
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkRule checks the mapping keys set at one level (global, device or
// point), so a bad template is reported once, where it is written.
func checkRule(cfg *config.Config, probs *config.Problems, path config.Path, r config.Rule) {
	if r.Topic != "" {
		sample := mapping.Names{Gateway: cfg.Gateway.Name, Device: "device", Point: "point", Unit: "unit"}
		if _, err := mapping.ExpandTopic(r.Topic, sample); err != nil {
			probs.Add(path.Key("topic"), "%v", err)
		}
	}
	if r.Payload != "" {
		if _, err := mapping.ParseFormat(r.Payload); err != nil {
			probs.Add(path.Key("payload"), "%v", err)
		}
	}
}

// mappingPoint resolves point j of device i's rule: point, then device,
// then [mapping].
func mappingPoint(cfg *config.Config, probs *config.Problems, i, j int) mapping.Point {
	d, pt := &cfg.Devices[i], &cfg.Devices[i].Points[j]
	r := pt.Rule.Inherit(d.Rule).Inherit(cfg.Mapping.Rule)
	mp := mapping.Point{Device: d.Name, Point: pt.Name, Unit: pt.Unit, Rule: mapping.Rule{
		Topic: r.Topic, Payload: r.Payload, QoS: byte(*r.QoS), Retain: *r.Retain,
	}}
	names := mapping.Names{Gateway: cfg.Gateway.Name, Device: d.Name, Point: pt.Name, Unit: pt.Unit}
	if _, err := mapping.ExpandTopic(r.Topic, names); err != nil {
		if _, syntaxErr := mapping.ExpandTopic(r.Topic, mapping.Names{Gateway: "g", Device: "d", Point: "p", Unit: "u"}); syntaxErr == nil {
			// The template is fine; this point's names make it invalid.
			probs.Add(cfg.PointPath(i, j).Key("topic"), "%v", err)
		}
	}
	return mp
}

func compileSim(cfg *config.Config, probs *config.Problems, i int) pipeline.Device {
	d := &cfg.Devices[i]
	sc := sim.Config{Name: d.Name, Seed: d.Seed}
	for _, pt := range d.Points {
		w, err := sim.ParseWave(pt.Wave)
		if err != nil {
			continue // config validation has reported it
		}
		sc.Points = append(sc.Points, sim.Point{
			Name: pt.Name, Unit: pt.Unit, Wave: w, Min: pt.Min, Max: pt.Max,
			Period: pt.Period.Duration, Step: pt.Step,
		})
	}
	dev, err := sim.New(sc)
	if err != nil {
		probs.Add(cfg.DevicePath(i), "%v", err)
		return pipeline.Device{Name: d.Name}
	}
	return pipeline.Device{Name: d.Name, Poller: dev, Interval: max(d.Interval.Duration, time.Millisecond)}
}
