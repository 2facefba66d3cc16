package main

import (
	"io"
	"slices"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/serialline"
	"github.com/edgegw/gateway/drivers/sim"
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

// componentChecks are the rules of the components that live in their
// packages, applied to the decoded config.
var componentChecks = []config.Check{
	// The forwarder's rules, on the configuration it would get.
	func(c *config.Config, p *config.Problems) { upstreamConfig(c).Check(p.Reporter(config.At("upstream"))) },
	// The compile stage: templates, command topics, shared RTU ports.
	func(c *config.Config, p *config.Problems) { compileInto(c, p) },
}

// loadConfig reads, decodes and validates the config file at path,
// including what it names on this machine (checkMachine).
func loadConfig(path string) (*config.Config, error) {
	return loadConfigWith(path, checkOptions{})
}

// loadConfigWith is loadConfig for `gateway check`, which may skip the
// checks of this machine.
func loadConfigWith(path string, opt checkOptions) (*config.Config, error) {
	checks := componentChecks
	if !opt.offline {
		checks = append(slices.Clip(checks), checkMachine)
	}
	return config.Load(path, configDrivers(), checks...)
}

// parseConfig decodes and validates a config read from r, named name.
func parseConfig(name string, r io.Reader) (*config.Config, error) {
	return config.Parse(name, r, configDrivers(), componentChecks...)
}
