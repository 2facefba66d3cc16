package main

import (
	"io"

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

// loadConfig reads, decodes and validates the config file at path.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, configDrivers())
}

// parseConfig decodes and validates a config read from r, named name.
func parseConfig(name string, r io.Reader) (*config.Config, error) {
	return config.Parse(name, r, configDrivers())
}
