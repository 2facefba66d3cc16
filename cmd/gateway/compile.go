package main

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
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
// reporting every problem with its file, line and key like config.Parse.
func compile(cfg *config.Config) (*plan, error) {
	p := &plan{cfg: cfg}
	probs := cfg.Problems()
	checkRule(cfg, probs, config.At("mapping"), cfg.Mapping.Rule)
	checkBrokerFiles(cfg, probs)
	var specs []mapping.CommandSpec
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		p.order = append(p.order, d.Name)
		checkRule(cfg, probs, cfg.DevicePath(i), d.Rule)
		for j, pt := range d.Points {
			checkRule(cfg, probs, cfg.PointPath(i, j), pt.Rule)
			p.mapping = append(p.mapping, mappingPoint(cfg, probs, i, j))
			specs = append(specs, commandSpec(cfg, probs, i, j))
		}
		switch d.Driver {
		case "sim":
			if sc, ok := compileSim(cfg, probs, i); ok {
				p.sims = append(p.sims, sc)
			}
		case "serial":
			sc := compileSerial(cfg, i)
			if err := sc.Validate(); err != nil {
				addDriverErrors(cfg, probs, i, err)
			}
			p.serials = append(p.serials, sc)
		case modbus.DriverTCP, modbus.DriverRTU:
			for j, pt := range d.Points {
				if pt.ModbusPoint.Address == nil {
					probs.Add(cfg.PointPath(i, j).Key("address"), "missing: want the point's 0-based register address (register 40001 is holding 0)")
				}
			}
			mc := compileModbus(cfg, i)
			if err := mc.Validate(); err != nil {
				addDriverErrors(cfg, probs, i, err)
			}
			p.modbus = append(p.modbus, mc)
		}
	}
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
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return p, nil
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
		OnChange: *r.OnChange, Deadband: r.Deadband.Value, DeadbandPercent: r.Deadband.Percent,
		Heartbeat: r.Heartbeat.Duration, MinInterval: r.MinInterval.Duration,
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

func compileSim(cfg *config.Config, probs *config.Problems, i int) (sim.Config, bool) {
	d := &cfg.Devices[i]
	sc := sim.Config{Name: d.Name, Seed: d.Seed}
	for _, pt := range d.Points {
		w, err := sim.ParseWave(pt.Wave)
		if err != nil {
			return sc, false // config validation has reported it
		}
		sc.Points = append(sc.Points, sim.Point{
			Name: pt.Name, Unit: pt.Unit, Wave: w, Min: deref(pt.Min), Max: deref(pt.Max),
			Period: pt.Period.Duration, Step: pt.Step,
		})
	}
	if _, err := sim.New(sc); err != nil {
		probs.Add(cfg.DevicePath(i), "%v", err)
		return sc, false
	}
	return sc, true
}

func compileSerial(cfg *config.Config, i int) serialline.Config {
	d := &cfg.Devices[i]
	sc := serialline.DefaultConfig()
	sc.Device = d.Name
	setIf(&sc.Port, d.Port)
	setIf(&sc.Baud, d.Baud)
	setIf(&sc.DataBits, d.DataBits)
	setIf(&sc.Parity, d.Parity)
	setIf(&sc.StopBits, d.StopBits)
	setIf(&sc.Format, d.Format)
	setIf(&sc.PairSeparator, d.PairSeparator)
	setIf(&sc.KVSeparator, d.KVSeparator)
	sc.Columns = d.Columns
	setIf(&sc.Delimiter, d.Delimiter)
	setIf(&sc.Pattern, d.Pattern)
	setIf(&sc.LineTerminator, d.LineTerminator)
	setIf(&sc.MaxLineLength, d.MaxLineLength)
	setIf(&sc.Missing, d.Missing)
	setIf(&sc.WriteTemplate, d.WriteTemplate)
	for _, pt := range d.Points {
		sp := serialline.Point{Name: pt.Name, Field: pt.Field, Offset: pt.Offset, Unit: pt.Unit, Type: pt.Type}
		if pt.Scale != nil {
			sp.Scale = *pt.Scale
		}
		sc.Points = append(sc.Points, sp)
	}
	return sc
}

func compileModbus(cfg *config.Config, i int) modbus.Config {
	d := &cfg.Devices[i]
	mc := modbus.Default()
	mc.Name, mc.Driver = d.Name, d.Driver
	mc.Address = d.Modbus.Address
	setIf(&mc.Port, d.Port)
	setIf(&mc.Baud, d.Baud)
	setIf(&mc.Parity, d.Parity)
	setIf(&mc.DataBits, d.DataBits)
	setIf(&mc.StopBits, d.StopBits)
	setPtr(&mc.SlaveID, d.SlaveID)
	setPtr(&mc.Retries, d.Retries)
	setPtr(&mc.MaxGap, d.MaxGap)
	setIf(&mc.Interval, d.Interval.Duration)
	setIf(&mc.Timeout, d.Timeout.Duration)
	for _, pt := range d.Points {
		mp := modbus.PointConfig{
			Name: pt.Name, Register: pt.Register, Type: pt.Type, Bit: pt.Bit, Length: pt.Length,
			ByteOrder: pt.ByteOrder, Offset: pt.Offset, Unit: pt.Unit, Interval: pt.ModbusPoint.Interval.Duration,
		}
		setPtr(&mp.Address, pt.ModbusPoint.Address)
		if pt.Scale != nil {
			mp.Scale = *pt.Scale
		}
		// Holding registers and coils are writable unless the point says not.
		mp.Writable = pt.Register == "holding" || pt.Register == "coil"
		setPtr(&mp.Writable, pt.Writable)
		mc.Points = append(mc.Points, mp)
	}
	return mc
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

func setPtr[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// driverErrRE splits a driver's validation message into the point it is
// about (if any), the key, and the rest.
var driverErrRE = regexp.MustCompile(`^(?:points\[(\d+)\](?: "[^"]*")?:? )?([a-z_]+)(?:\[\d+\])?\b(.*)$`)

// addDriverErrors reports a driver's validation errors (errors.Join'ed,
// one per line, each starting with the key or "points[N]") at the key
// they name, so they carry the config's line numbers.
func addDriverErrors(cfg *config.Config, probs *config.Problems, i int, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimPrefix(line, "device "+cfg.Devices[i].Name+": ")
		m := driverErrRE.FindStringSubmatch(line)
		if m == nil {
			probs.Add(cfg.DevicePath(i), "%s", line)
			continue
		}
		path := cfg.DevicePath(i)
		if m[1] != "" {
			j, _ := strconv.Atoi(m[1]) // the pattern only matches digits
			if j < len(cfg.Devices[i].Points) {
				path = cfg.PointPath(i, j)
			}
		}
		if isKey(m[2]) {
			probs.Add(path.Key(m[2]), "%s", strings.TrimLeft(m[3], ": "))
		} else {
			probs.Add(path, "%s", strings.TrimLeft(m[2]+m[3], ": "))
		}
	}
}

// isKey reports whether k is a device or point key name.
func isKey(k string) bool {
	for _, fk := range config.FieldKeys() {
		if strings.HasSuffix(fk, "."+k) && strings.HasPrefix(fk, "devices.") {
			return true
		}
	}
	return false
}
