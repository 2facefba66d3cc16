package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/edgegw/gateway/config"
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
