package serialline

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway/drivers/drivertest"
)

// TestConformance runs the driver suite over a socat pty pair whose other
// end prints a kv line every 10ms.
func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Device {
		dir := t.TempDir()
		devPath, portPath := filepath.Join(dir, "device"), filepath.Join(dir, "gateway")
		startSocat(t, devPath, portPath)
		cfg := validKV() // no write_template: every point is read-only
		cfg.Port = portPath
		d, err := New(cfg, discard())
		if err != nil {
			t.Fatal(err)
		}
		dev := openDevice(t, devPath)
		return drivertest.Device{Name: cfg.Device, Driver: d, Points: []string{"temp", "h"}, ReadOnly: "temp",
			Stimulate: func(ctx context.Context) {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					// A failed write ends with the test (the device end closes).
					if _, err := io.WriteString(dev, "t=215 h=40\n"); err != nil {
						return
					}
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
				}
			}}
	})
}
