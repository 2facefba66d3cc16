package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/edgegw/gateway/drivers/modbus"
)

const probeSynopsis = "modbus-tcp HOST:PORT | modbus-rtu PORT [flags]"

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		fmt.Fprintf(stdout, `Usage: gateway probe %s

Read raw registers from a Modbus device and print every interpretation
(int16/uint16/int32/uint32/float32/float64 in each byte order, and hex), to
find the type and byte_order of a point in one run.

Examples:
  gateway probe modbus-tcp 192.168.1.50:502 --slave 1 --holding 100 --count 4
  gateway probe modbus-rtu /dev/ttyUSB0 --baud 9600 --parity even --slave 3 --input 0 --count 2

Flags:
  --slave N                  slave (unit) id, default 1
  --holding|--input|--coil|--discrete ADDR
                             the register kind and 0-based start address (one of them)
  --count N                  registers or bits to read, default 4
  --timeout D                per-request timeout, default 1s
  --baud N --parity none|even|odd --data-bits N --stop-bits N
                             serial settings (modbus-rtu), default 9600 8E1
`, probeSynopsis)
		if len(args) == 0 {
			return usagef("probe: want %s", probeSynopsis)
		}
		return nil
	}
	return modbus.ProbeMain(ctx, args, stdout, stderr)
}
