package sim_test

import (
	"testing"
	"time"

	"github.com/edgegw/gateway/drivers/drivertest"
	"github.com/edgegw/gateway/drivers/sim"
)

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Device {
		d, err := sim.New(sim.Config{Name: "boiler", Points: []sim.Point{
			{Name: "temp", Wave: sim.Sine, Min: 20, Max: 80, Period: time.Minute},
			{Name: "count", Wave: sim.Counter, Step: 1},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return drivertest.Device{Name: "boiler", Poller: d, Points: []string{"temp", "count"}}
	})
}
