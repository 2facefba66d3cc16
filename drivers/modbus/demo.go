package modbus

import "time"

// DemoConfig returns the device configuration that polls the simulator's
// demo slave (modbussim.NewDemo) at address. As TOML:
//
//	[[devices]]
//	name = "demo"
//	driver = "modbus-tcp"
//	address = "127.0.0.1:5020"
//	slave_id = 1
//	interval = "1s"
//
//	[[devices.points]]
//	name = "temperature"   register = "input"    address = 0  type = "float32" unit = "°C"
//	name = "counter"       register = "input"    address = 2  type = "uint32"
//	name = "humidity"      register = "input"    address = 4  type = "int16"   scale = 0.1 unit = "%"
//	name = "setpoint"      register = "holding"  address = 0  type = "int16"   scale = 0.1 unit = "°C" writable = true
//	name = "flow"          register = "holding"  address = 1  type = "float32" byte_order = "CDAB" unit = "m3/h"
//	name = "model"         register = "holding"  address = 10 type = "string"  length = 8 interval = "1m"
//	name = "heater"        register = "holding"  address = 20 type = "bit"     bit = 3
//	name = "running"       register = "coil"     address = 0
//	name = "fan"           register = "coil"     address = 1  writable = true
//	name = "alarm"         register = "discrete" address = 0
//
// (one [[devices.points]] table per line above).
func DemoConfig(name, address string) Config {
	c := Default()
	c.Name, c.Driver, c.Address = name, DriverTCP, address
	c.Points = []PointConfig{
		{Name: "temperature", Register: "input", Address: 0, Type: "float32", Unit: "°C"},
		{Name: "counter", Register: "input", Address: 2, Type: "uint32"},
		{Name: "humidity", Register: "input", Address: 4, Type: "int16", Scale: 0.1, Unit: "%"},
		{Name: "setpoint", Register: "holding", Address: 0, Type: "int16", Scale: 0.1, Unit: "°C", Writable: true},
		{Name: "flow", Register: "holding", Address: 1, Type: "float32", ByteOrder: "CDAB", Unit: "m3/h"},
		{Name: "model", Register: "holding", Address: 10, Type: "string", Length: 8, Interval: time.Minute},
		{Name: "heater", Register: "holding", Address: 20, Type: "bit", Bit: 3},
		{Name: "running", Register: "coil", Address: 0},
		{Name: "fan", Register: "coil", Address: 1, Writable: true},
		{Name: "alarm", Register: "discrete", Address: 0},
	}
	return c
}
