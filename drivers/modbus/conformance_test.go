package modbus_test

import (
	"testing"
	"time"

	"github.com/edgegw/gateway/drivers/drivertest"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

// TestConformance runs the driver suite against the simulated slave over
// Modbus TCP.
func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Device {
		addr := startSim(t, modbussim.New(discard()))
		devs, err := modbus.New([]modbus.Config{{
			Name: "plc", Driver: modbus.DriverTCP, Address: addr, SlaveID: 1, Interval: 10 * time.Millisecond,
			Timeout: time.Second, Retries: 1,
			Points: []modbus.PointConfig{
				{Name: "setpoint", Register: "holding", Address: 0, Writable: true},
				{Name: "flow", Register: "input", Address: 2, Type: "float32"},
			},
		}}, discard())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = devs[0].Close() }) // after the suite's Run returned
		return drivertest.Device{Name: "plc", Driver: devs[0], Points: []string{"setpoint", "flow"}, ReadOnly: "flow"}
	})
}
