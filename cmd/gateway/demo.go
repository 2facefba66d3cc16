package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

//go:embed demo.toml
var demoConfig []byte

// demoConfigName names the embedded config in error messages.
const demoConfigName = "demo.toml (embedded)"

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./gateway-data", "where the demo keeps its data")
	if err := parseFlags(fs, args, stdout, "[--data-dir DIR]",
		"Run the embedded demo: simulated devices whose readings flow through the\n"+
			"whole pipeline and are printed as \"topic payload\" lines. Stop it with Ctrl-C.\n"+
			"'gateway run -c FILE' runs a real config; config.toml.example documents every key."); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return usagef("demo: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := demo(*dataDir)
	if err != nil {
		return err
	}
	// The boiler's Modbus slave: the built-in simulator on a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: start the Modbus simulator: %w", err)
	}
	slave := modbussim.NewDemo(newLogger(stderr, cfg.Gateway.LogLevel, cfg.Gateway.LogFormat).With("component", "modbus-simulator"))
	simDone := make(chan struct{})
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(simDone)
		_ = slave.Serve(simCtx, ln) // returns when stopped; its errors are the demo's own
	}()
	defer func() {
		stopSim()
		<-simDone
	}()
	for i := range cfg.Devices {
		if cfg.Devices[i].Driver == modbus.DriverTCP {
			cfg.Devices[i].Modbus.Address = ln.Addr().String()
		}
	}
	abs, _ := filepath.Abs(cfg.Gateway.DataDir) // only for the banner; the relative path works too
	fmt.Fprintf(stderr, "gateway demo: simulated devices, data in %s; Ctrl-C to stop\n", abs)
	return serve(ctx, cfg, serveOptions{stdout: stdout, stderr: stderr, print: true})
}

// demo returns the embedded demo config with its data in dataDir.
func demo(dataDir string) (*config.Config, error) {
	cfg, err := config.Parse(demoConfigName, bytes.NewReader(demoConfig))
	if err != nil {
		return nil, fmt.Errorf("embedded demo config: %w", err)
	}
	cfg.Gateway.DataDir = dataDir
	return cfg, nil
}
