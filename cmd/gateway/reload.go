package main

import (
	"log/slog"
	"reflect"
	"slices"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
	"github.com/edgegw/gateway/sdnotify"
)

// reloader applies a re-read config file to a running gateway (SIGHUP,
// `systemctl reload`). Devices and mapping change in place: a device whose
// configuration did not change keeps polling without a gap. Changes to the
// broker, upstream, buffer, web, data_dir or logging need a restart; they
// are reported, not applied. A config with any problem is refused whole,
// and the running one stays.
type reloader struct {
	log      *slog.Logger
	cfg      *config.Config
	devices  map[string]pipeline.Device
	p        *pipeline.Pipeline
	commands *commander
	// applied, when set, is told of each config applied (status topics,
	// Home Assistant discovery).
	applied func(*config.Config, *plan)
}

func newReloader(log *slog.Logger, cfg *config.Config, devices []pipeline.Device, p *pipeline.Pipeline, c *commander) *reloader {
	r := &reloader{log: log, cfg: cfg, p: p, commands: c, devices: map[string]pipeline.Device{}}
	for _, d := range devices {
		r.devices[d.Name] = d
	}
	return r
}

// reload re-reads the config file and applies it, or logs why it cannot.
func (r *reloader) reload() {
	_ = sdnotify.Reloading()                // informative only: systemd waits for READY
	defer func() { _ = sdnotify.Ready() }() // back to ready, applied or not; informative too
	path := r.cfg.File()
	r.log.Info("reloading config", "config", path)
	cfg, err := loadConfig(path)
	if err == nil {
		err = r.apply(cfg)
	}
	if err != nil {
		r.log.Error("config reload refused; the running config stays", "config", path, "problems", err.Error())
	}
}

// apply switches to cfg, which was loaded from the same file.
func (r *reloader) apply(cfg *config.Config) error {
	pl, err := compile(cfg)
	if err != nil {
		return err
	}
	if sections := restartSections(r.cfg, cfg); len(sections) > 0 {
		r.log.Warn("config changes that need a restart were not applied", "sections", sections)
	}
	reuse := map[string]pipeline.Device{}
	ports := changedRTUPorts(r.cfg, cfg)
	for _, d := range cfg.Devices {
		old := findDevice(r.cfg, d.Name)
		if old == nil || !sameDriverConfig(*old, d) {
			continue
		}
		if port := rtuPort(&d); port != "" && ports[port] {
			continue // a bus is rebuilt with all its devices
		}
		reuse[d.Name] = r.devices[d.Name]
	}
	mapper, err := mapping.New(cfg.Gateway.Name, pl.mapping)
	if err != nil {
		return err
	}
	// The pipeline hands the old mapper's report-on-change state to the new
	// one (InheritFrom), so a reload does not republish every point at once.
	devices, err := pl.build(r.log, reuse)
	if err != nil {
		return err
	}
	stopped, err := r.p.Update(devices, mapper)
	if err != nil {
		closeDevices(slices.DeleteFunc(slices.Clone(devices), func(d pipeline.Device) bool { _, ok := reuse[d.Name]; return ok }))
		return err
	}
	closeDevices(stopped)
	if err := r.commands.set(pl.commands, devices); err != nil {
		r.log.Error("command topics not subscribed after reload", "err", err)
	}
	r.cfg = cfg
	if r.applied != nil {
		r.applied(cfg, pl)
	}
	r.devices = map[string]pipeline.Device{}
	for _, d := range devices {
		r.devices[d.Name] = d
	}
	r.log.Info("config reloaded", "devices", len(devices), "kept_running", len(reuse), "started", len(devices)-len(reuse), "stopped", len(stopped))
	return nil
}

func findDevice(cfg *config.Config, name string) *config.Device {
	for i := range cfg.Devices {
		if cfg.Devices[i].Name == name {
			return &cfg.Devices[i]
		}
	}
	return nil
}

// sameDriverConfig reports whether a and b read their device the same way:
// everything but the mapping keys (topic, payload, qos, retain) is equal.
func sameDriverConfig(a, b config.Device) bool {
	strip := func(d config.Device) config.Device {
		d.Rule, d.DeviceInfo = config.Rule{}, config.DeviceInfo{}
		d.Points = slices.Clone(d.Points)
		for i := range d.Points {
			d.Points[i].Rule, d.Points[i].HAPoint = config.Rule{}, config.HAPoint{}
		}
		return d
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// changedRTUPorts returns the serial ports of modbus-rtu devices that were
// added, removed or changed: their buses are rebuilt whole.
func changedRTUPorts(old, cur *config.Config) map[string]bool {
	ports := map[string]bool{}
	for _, pair := range [][2]*config.Config{{old, cur}, {cur, old}} {
		for _, d := range pair[0].Devices {
			if rtuPort(&d) == "" {
				continue
			}
			o := findDevice(pair[1], d.Name)
			if o == nil || !sameDriverConfig(*o, d) {
				ports[rtuPort(&d)] = true
				if o != nil && rtuPort(o) != "" {
					ports[rtuPort(o)] = true
				}
			}
		}
	}
	return ports
}

// restartSections names the parts of the config that changed and that a
// reload cannot apply.
func restartSections(old, cur *config.Config) []string {
	var s []string
	if !reflect.DeepEqual(old.Broker, cur.Broker) {
		s = append(s, "broker")
	}
	if !reflect.DeepEqual(old.Upstream, cur.Upstream) {
		s = append(s, "upstream")
	}
	if !reflect.DeepEqual(old.Buffer, cur.Buffer) {
		s = append(s, "buffer")
	}
	if !reflect.DeepEqual(old.Web, cur.Web) {
		s = append(s, "web")
	}
	og, cg := old.Gateway, cur.Gateway
	og.Name, cg.Name = "", ""                           // the name only shapes topics: applied
	og.DeviceStatusTopic, cg.DeviceStatusTopic = "", "" // applied
	if og != cg {
		s = append(s, "gateway (data_dir, log_level, log_format, status_topic)")
	}
	return s
}

// rtuPort returns the serial port of a modbus-rtu device, or "".
func rtuPort(d *config.Device) string {
	if s, ok := d.Section.(*modbus.RTUSection); ok {
		return s.Port
	}
	return ""
}
