package modbus

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/edgegw/gateway/config"
)

// New builds the devices of cfgs (all of driver modbus-tcp or modbus-rtu).
// Devices naming the same serial port share one Bus, which requires them to
// agree on baud, parity, data bits and stop bits; devices naming the same TCP
// address share one connection. Each device's Close releases its share; the
// last one closes the transport. The error joins every problem found.
func New(cfgs []Config, log *slog.Logger) ([]*Device, error) {
	shared := config.NewErrReporter()
	CheckShared(cfgs, func(i int) config.Reporter { return shared.Under("device " + cfgs[i].Name) })
	if err := shared.Err(); err != nil {
		return nil, err
	}
	var errs []error
	type share struct {
		t    Transport
		cfg  Config
		refs int
		mu   *sync.Mutex
	}
	shares := map[string]*share{}
	var devs []*Device
	for _, cfg := range cfgs {
		cfg = cfg.withDefaults()
		if err := cfg.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", cfg.Name, err))
			continue
		}
		key := cfg.Driver + " " + cfg.Address
		if cfg.Driver == DriverRTU {
			key = cfg.Driver + " " + cfg.Port
		}
		sh, ok := shares[key]
		if !ok {
			var t Transport
			if cfg.Driver == DriverTCP {
				t = NewTCPTransport(cfg.Address, log)
			} else {
				bus, err := NewBus(serialConfig(cfg), log)
				if err != nil {
					errs = append(errs, fmt.Errorf("device %s: %w", cfg.Name, err))
					continue
				}
				t = bus
			}
			sh = &share{t: t, cfg: cfg, mu: new(sync.Mutex)}
			shares[key] = sh
		}
		d, err := NewDevice(cfg, sh.t, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sh.refs++
		once := sync.OnceValue(func() error {
			sh.mu.Lock()
			defer sh.mu.Unlock()
			sh.refs--
			if sh.refs == 0 {
				return sh.t.Close()
			}
			return nil
		})
		d.release = once
		devs = append(devs, d)
	}
	if err := errors.Join(errs...); err != nil {
		for _, d := range devs {
			_ = d.Close() // construction failed; nothing was opened yet
		}
		return nil, err
	}
	return devs, nil
}

func serialConfig(c Config) SerialConfig {
	return SerialConfig{Port: c.Port, Baud: c.Baud, DataBits: c.DataBits, Parity: c.Parity, StopBits: c.StopBits}
}
