package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
)

// DefaultConfigPath is where the packaged gateway keeps its config.
const DefaultConfigPath = "/etc/gateway/config.toml"

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("c", DefaultConfigPath, "the config `file`")
	fs.StringVar(path, "config", DefaultConfigPath, "the config `file` (same as -c)")
	print := fs.Bool("print", false, "also print every message on standard output")
	if err := parseFlags(fs, args, stdout, "-c FILE [--print]",
		"Run the gateway with the config FILE until SIGINT or SIGTERM."); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return usagef("run: unexpected argument %q (the config file goes after -c)", fs.Arg(0))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, serveOptions{stdout: stdout, stderr: stderr, print: *print})
}

// serveOptions are what the command line adds to a config.
type serveOptions struct {
	stdout, stderr io.Writer
	print          bool // print messages on stdout
}

// serve runs everything cfg describes until ctx is cancelled.
func serve(ctx context.Context, cfg *config.Config, opt serveOptions) error {
	pl, err := compile(cfg)
	if err != nil {
		return err
	}
	log := newLogger(opt.stderr, cfg.Gateway.LogLevel, cfg.Gateway.LogFormat)
	if err := os.MkdirAll(cfg.Gateway.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data_dir: %w", err)
	}
	mapper, err := mapping.New(cfg.Gateway.Name, pl.mapping)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.File(), err)
	}
	var sinks gateway.MultiSink
	if opt.print {
		sinks = append(sinks, &console{w: opt.stdout})
	}
	if len(sinks) == 0 {
		log.Warn("no sink configured: readings are mapped and discarded; use --print to see them")
	}
	devices, closers, err := pl.build(log)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range closers {
			_ = c.Close() // releasing a port at exit: nothing left to do about a failure
		}
	}()
	p, err := pipeline.New(log.With("component", "pipeline"), devices, mapper, sinks, pipeline.Options{})
	if err != nil {
		return err
	}
	log.Info("gateway started", "version", version, "config", cfg.File(), "devices", len(devices), "data_dir", cfg.Gateway.DataDir)
	err = p.Run(ctx)
	published, failed := p.Counts()
	log.Info("gateway stopped", "published", published, "publish_failures", failed)
	return err
}
