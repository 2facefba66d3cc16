package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/serialline"
	"github.com/edgegw/gateway/drivers/sim"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
)

// plan is a validated config compiled into the constructors' inputs: the
// third stage of loading a config (decode, validate, compile). Nothing in a
// plan has been opened or started; build does that.
type plan struct {
	cfg     *config.Config
	mapping []mapping.Point
	sims    []sim.Config
	serials []serialline.Config
	modbus  []modbus.Config
	order   []string // device names in config order
	// commands routes command topics to writable points.
	commands *mapping.Commands
	specs    []mapping.CommandSpec // of every point, in mapping's order
}

// compile checks everything a config describes without opening anything,
// reporting every problem with its file, line and key like config.Parse:
// what run and reload do, so a config that checks is a config that starts.
func compile(cfg *config.Config) (*plan, error) {
	probs := cfg.Problems()
	p := compileInto(cfg, probs)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// compileInto is compile, reporting to probs. It also runs as one of the
// config's checks (componentChecks), so that its problems are listed with
// the file's own, all at once; it is safe on a config with problems.
func compileInto(cfg *config.Config, probs *config.Problems) *plan {
	p := &plan{cfg: cfg}
	var specs []mapping.CommandSpec
	var modbusPaths []config.Path // of p.modbus
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		p.order = append(p.order, d.Name)
		for j := range d.Points {
			p.mapping = append(p.mapping, mapping.FromSection(cfg.Gateway.Name, cfg.Mapping.Rule, d, j, probs.Reporter(cfg.PointPath(i, j))))
			specs = append(specs, commandSpec(cfg, probs, i, j))
		}
		row, ok := driverRowOf(d.Driver)
		if !ok || d.Section == nil {
			continue // config.Parse has reported it
		}
		n := len(p.modbus)
		row.plan(p, d)
		if len(p.modbus) > n {
			modbusPaths = append(modbusPaths, cfg.DevicePath(i))
		}
	}
	// Modbus RTU devices sharing a port must agree on its settings.
	modbus.CheckShared(p.modbus, func(k int) config.Reporter { return probs.Reporter(modbusPaths[k]) })
	cmds, err := mapping.NewCommands(cfg.Gateway.Name, specs)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			probs.Add(config.At("devices"), "commands: %s", line)
		}
	}
	p.commands, p.specs = cmds, specs
	if probs.Err() == nil {
		checkHomeAssistant(cfg, probs, p)
	}
	return p
}

// build constructs the drivers of a plan, in config order; a device named
// in reuse is taken from there instead (a reload keeps it running). Drivers
// that hold a port or connection implement io.Closer: closeDevices releases
// them once the pipeline no longer runs them.
func (p *plan) build(log *slog.Logger, reuse map[string]pipeline.Device) ([]pipeline.Device, error) {
	byName := map[string]pipeline.Device{}
	for name, d := range reuse {
		byName[name] = d
	}
	for _, sc := range p.sims {
		if _, ok := reuse[sc.Name]; ok {
			continue
		}
		d, err := sim.New(sc)
		if err != nil {
			return nil, err // compile has validated it
		}
		byName[sc.Name] = pipeline.Device{Name: sc.Name, Poller: d, Interval: p.interval(sc.Name)}
	}
	var built []pipeline.Device
	for _, sc := range p.serials {
		if _, ok := reuse[sc.Device]; ok {
			continue
		}
		d, err := serialline.New(sc, log.With("device", sc.Device, "driver", "serial"))
		if err != nil {
			closeDevices(built)
			return nil, fmt.Errorf("device %s: %w", sc.Device, err)
		}
		byName[sc.Device] = pipeline.Device{Name: sc.Device, Driver: d}
		built = append(built, byName[sc.Device])
	}
	var mcs []modbus.Config
	for _, mc := range p.modbus {
		if _, ok := reuse[mc.Name]; !ok {
			mcs = append(mcs, mc)
		}
	}
	if len(mcs) > 0 {
		devs, err := modbus.New(mcs, log.With("driver", "modbus"))
		if err != nil {
			closeDevices(built)
			return nil, err
		}
		for _, d := range devs {
			byName[d.Name()] = pipeline.Device{Name: d.Name(), Driver: d}
		}
	}
	out := make([]pipeline.Device, 0, len(p.order))
	for _, name := range p.order {
		out = append(out, byName[name])
	}
	return out, nil
}

// closeDevices releases the ports and connections of devices.
func closeDevices(devices []pipeline.Device) {
	for _, d := range devices {
		for _, x := range []any{d.Driver, d.Poller} {
			if c, ok := x.(io.Closer); ok {
				_ = c.Close() // releasing a port: nothing left to do about a failure
			}
		}
	}
}

func (p *plan) interval(device string) time.Duration {
	for _, d := range p.cfg.Devices {
		if d.Name == device {
			return d.Interval.Duration
		}
	}
	return config.DefaultInterval
}
