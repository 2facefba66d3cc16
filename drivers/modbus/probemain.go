package modbus

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// ProbeMain runs the probe command line:
//
//	modbus-tcp HOST:PORT [--slave 1] (--holding|--input|--coil|--discrete) ADDR [--count 4] [--timeout 1s]
//	modbus-rtu PORT [--baud 9600] [--parity even] [--data-bits 8] [--stop-bits 1] [same flags]
//
// and prints the table to stdout; errors come back with a hint of what to
// check (and are not printed).
func ProbeMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 || (args[0] != DriverTCP && args[0] != DriverRTU) {
		return fmt.Errorf("probe: want %s HOST:PORT or %s PORT, then flags", DriverTCP, DriverRTU)
	}
	driver := args[0]
	fs := flag.NewFlagSet("probe "+driver, flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := Default()
	slave := fs.Int("slave", 1, "slave id (unit id)")
	holding := fs.Int("holding", -1, "read holding registers from this 0-based address")
	input := fs.Int("input", -1, "read input registers from this address")
	coil := fs.Int("coil", -1, "read coils from this address")
	discrete := fs.Int("discrete", -1, "read discrete inputs from this address")
	count := fs.Int("count", 4, "registers (or bits) to read")
	timeout := fs.Duration("timeout", time.Second, "per-request timeout")
	baud := fs.Int("baud", d.Baud, "baud rate (rtu)")
	parity := fs.String("parity", d.Parity, "none, even or odd (rtu)")
	dataBits := fs.Int("data-bits", d.DataBits, "data bits (rtu)")
	stopBits := fs.Int("stop-bits", d.StopBits, "stop bits, 1 or 2 (rtu)")
	rest := args[1:]
	target := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		target, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if target == "" && fs.NArg() > 0 {
		target = fs.Arg(0)
	}
	if target == "" {
		return fmt.Errorf("probe %s: missing %s", driver, map[string]string{DriverTCP: "HOST:PORT", DriverRTU: "serial port"}[driver])
	}
	var kind Register
	addr, n := -1, 0
	for k, v := range map[Register]int{Holding: *holding, Input: *input, Coil: *coil, Discrete: *discrete} {
		if v >= 0 {
			kind, addr = k, v
			n++
		}
	}
	if n != 1 {
		return errors.New("probe: give exactly one of --holding, --input, --coil or --discrete with a start address")
	}
	if addr > 0xFFFF || *count < 1 || addr+*count > 0x10000 {
		return fmt.Errorf("probe: address %d count %d: past 65535", addr, *count)
	}
	log := slog.New(slog.DiscardHandler)
	var t Transport
	if driver == DriverTCP {
		if !strings.Contains(target, ":") {
			target += ":502"
		}
		t = NewTCPTransport(target, log)
	} else {
		if _, err := ParseParity(*parity); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		bus, err := NewBus(SerialConfig{Port: target, Baud: *baud, DataBits: *dataBits, Parity: *parity, StopBits: *stopBits}, log)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		t = bus
	}
	defer t.Close() // read-only probe: a close error changes nothing for the user
	c := NewClient(t, *timeout, 0)
	table, err := Probe(ctx, c, byte(*slave), kind, uint16(addr), uint16(*count))
	if err != nil {
		if hint := ProbeHint(err); hint != "" {
			return fmt.Errorf("probe %s %s: %w\nhint: %s", driver, target, err, hint)
		}
		return fmt.Errorf("probe %s %s: %w", driver, target, err)
	}
	return WriteProbeTable(stdout, table)
}
