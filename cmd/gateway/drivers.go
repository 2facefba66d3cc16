package main

import (
	"io"
	"slices"

	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/serialline"
	"github.com/edgegw/gateway/drivers/sim"
	"github.com/edgegw/gateway/homeassistant"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/upstream"
	"github.com/edgegw/gateway/web"
)

// driverRow is one driver: its name and part of the device table (decode,
// defaults, checks: the driver's package owns them), and how its devices
// join a plan.
type driverRow struct {
	config.Driver
	plan func(p *plan, d *config.Device)
}

// drivers is the driver table. Adding a driver is its package (a section
// type implementing config.DeviceSection, and the driver itself) plus one
// row here.
var drivers = []driverRow{
	{config.Driver{Name: "sim", New: sim.NewSection}, func(p *plan, d *config.Device) {
		p.sims = append(p.sims, d.Section.(*sim.Section).Config(d))
	}},
	{config.Driver{Name: "serial", New: serialline.NewSection}, func(p *plan, d *config.Device) {
		p.serials = append(p.serials, d.Section.(*serialline.Section).Config(d))
	}},
	{config.Driver{Name: modbus.DriverTCP, New: modbus.NewTCPSection}, func(p *plan, d *config.Device) {
		p.modbus = append(p.modbus, d.Section.(*modbus.TCPSection).Config(d))
	}},
	{config.Driver{Name: modbus.DriverRTU, New: modbus.NewRTUSection}, func(p *plan, d *config.Device) {
		p.modbus = append(p.modbus, d.Section.(*modbus.RTUSection).Config(d))
	}},
}

// configDrivers is the table as config.Parse takes it.
func configDrivers() []config.Driver {
	out := make([]config.Driver, len(drivers))
	for i, d := range drivers {
		out[i] = d.Driver
	}
	return out
}

func driverRowOf(name string) (driverRow, bool) {
	for _, d := range drivers {
		if d.Name == name {
			return d, true
		}
	}
	return driverRow{}, false
}

// components is the component table: the tables whose defaults, rules,
// compiling and files live in their packages, then the compile stage.
var components = []config.Component{
	broker.Component(),
	buffer.Component(),
	web.Component(),
	mapping.Component(),
	upstream.Component(),
	homeassistant.Component(),
	// The compile stage: command topics, shared RTU ports, Home Assistant.
	{Name: "devices", Check: func(c *config.Config, p *config.Problems) { compileInto(c, p) }, Files: deviceFiles},
}

// deviceFiles lists the files (serial ports) the devices' drivers open.
func deviceFiles(c *config.Config) []config.File {
	var fs []config.File
	for i := range c.Devices {
		d := &c.Devices[i]
		if df, ok := d.Section.(config.DeviceFiles); ok {
			fs = append(fs, config.Under(c.DevicePath(i), df.Files(d))...)
		}
	}
	return fs
}

// loadConfig reads, decodes and validates the config file at path,
// including what it names on this machine (checkMachine).
func loadConfig(path string) (*config.Config, error) {
	return loadConfigWith(path, checkOptions{})
}

// loadConfigWith is loadConfig for `gateway check`, which may skip the
// checks of this machine.
func loadConfigWith(path string, opt checkOptions) (*config.Config, error) {
	comps := components
	if !opt.offline {
		comps = append(slices.Clip(comps), config.Component{Name: "machine", Check: checkMachine})
	}
	return config.Load(path, configDrivers(), comps...)
}

// parseConfig decodes and validates a config read from r, named name.
func parseConfig(name string, r io.Reader) (*config.Config, error) {
	return config.Parse(name, r, configDrivers(), components...)
}
