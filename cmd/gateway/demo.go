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
	mqttAddr := fs.String("mqtt", "127.0.0.1:1883", "the demo broker's MQTT `address` (a free port is used if it is taken)")
	webAddr := fs.String("web", "127.0.0.1:8080", "the status page's `address` (a free port is used if it is taken; \"\" for none)")
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
	cfg.Broker.Listeners[0].Address = freeOr(*mqttAddr, stderr)
	cfg.Web.Address = ""
	if *webAddr != "" {
		cfg.Web.Address = freeOr(*webAddr, stderr)
	}
	// The boiler's Modbus slave: the built-in simulator on a free port.
	slave := modbussim.NewDemo(newLogger(stderr, cfg.Gateway.LogLevel, cfg.Gateway.LogFormat).With("component", "modbus-simulator"))
	slaveAddr, stopSlave, err := slave.Start(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("demo: start the Modbus simulator: %w", err)
	}
	defer stopSlave() //nolint:errcheck // its errors are the demo's own; it stops with the demo
	for i := range cfg.Devices {
		if s, ok := cfg.Devices[i].Section.(*modbus.TCPSection); ok {
			s.Address = slaveAddr
		}
	}
	abs, _ := filepath.Abs(cfg.Gateway.DataDir)                         // only for the banner; the relative path works too
	host, port, _ := net.SplitHostPort(cfg.Broker.Listeners[0].Address) // validated by the config
	page := "off (--web \"\")"
	if cfg.Web.Address != "" {
		page = "http://" + cfg.Web.Address + "/"
	}
	fmt.Fprintf(stderr, `gateway demo: a simulated boiler (Modbus TCP) and energy meter; Ctrl-C to stop.
  the status page:   %s
  watch the broker:  mosquitto_sub -h %s -p %s -t 'demo/#' -v
  the buffer:        gateway buffer --db %s stats
`, page, host, port, filepath.Join(abs, "buffer.db"))
	return serve(ctx, cfg, serveOptions{stdout: stdout, stderr: stderr, print: true})
}

// freeOr returns addr when it can be listened on, and otherwise a free port
// on 127.0.0.1, so the demo runs next to an installed mosquitto.
func freeOr(addr string, stderr io.Writer) string {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		defer ln.Close()          // only probing; the server binds it next
		return ln.Addr().String() // the port chosen, for port 0
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return addr // let the broker report the error
	}
	defer ln.Close() // only probing
	fmt.Fprintf(stderr, "gateway demo: %s is taken (another broker?); using %s\n", addr, ln.Addr())
	return ln.Addr().String()
}

// demo returns the embedded demo config with its data in dataDir.
func demo(dataDir string) (*config.Config, error) {
	cfg, err := parseConfig(demoConfigName, bytes.NewReader(demoConfig))
	if err != nil {
		return nil, fmt.Errorf("embedded demo config: %w", err)
	}
	cfg.Gateway.DataDir = dataDir
	return cfg, nil
}
