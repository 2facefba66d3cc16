package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/internal/clock"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
	"github.com/edgegw/gateway/sdnotify"
	"github.com/edgegw/gateway/upstream"
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
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	// SIGHUP (systemctl reload) re-reads the config file.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default: // a reload is already pending
			}
		}
	}()
	return serve(ctx, cfg, serveOptions{stdout: stdout, stderr: stderr, print: *print, reload: reload})
}

// serveOptions are what the command line adds to a config.
type serveOptions struct {
	stdout, stderr io.Writer
	print          bool // print messages on stdout
	// started, when set, is called once the broker listens and the
	// pipeline is about to start (tests use it to learn the addresses).
	started func(*broker.Broker)
	// reload, when set, re-reads the config file on each receive (SIGHUP).
	reload <-chan struct{}
	// webRetry, when set, replaces webRetry (tests).
	webRetry time.Duration
}

// serve runs everything cfg describes until ctx is cancelled, then shuts
// down in order: the drivers stop, the readings already produced are
// published, the forwarder disconnects, the broker closes (publishing its
// clients' wills), and the buffer commits and closes.
func serve(ctx context.Context, cfg *config.Config, opt serveOptions) (err error) {
	defer func() {
		// Stopped by a signal while still starting up: a clean stop, not a failure.
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil
		}
	}()
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

	// The parts start in this order and stop in the reverse one (a.stop):
	// the commander, the devices, the page's reader, the "offline" status,
	// then every background goroutine (the forwarder drains from the
	// buffer: it stops before the buffer closes), then the broker (its
	// network clients' wills still go to the buffer), then the buffer.
	a := newApp(ctx)
	defer func() { err = errors.Join(err, a.stop()) }()

	// The store-and-forward buffer, when messages are forwarded.
	var buf *buffer.Buffer
	if len(cfg.Upstream.Forward) > 0 {
		buf, err = buffer.Open(ctx, bufferConfig(cfg), log)
		if err != nil {
			return err
		}
		a.onStop(buf.Close)
	}
	// The local broker: always there, in-process, even without listeners.
	b, err := broker.New(brokerConfig(cfg), log.With("component", "broker"))
	if err != nil {
		return err
	}
	a.onStop(b.Close)
	a.stopBackground()

	// Readings go to the buffer first (when they are to be forwarded), so a
	// message is durable before anyone sees it, then to the local broker.
	var sinks gateway.MultiSink
	var fwd *upstream.Forwarder
	var toUpstream gateway.Sink // what matches a forward rule goes to the buffer
	startUplink := func() {}    // once the command topics are subscribed
	if buf != nil {
		rules := forwardRules(cfg)
		// The pipeline appends without waiting for each commit (one message
		// at a time, that wait would cap it at one per upstream round trip).
		toUpstream = upstream.Filter(rules, buf.Async())
		sinks = append(sinks, toUpstream)
		// Local MQTT clients' messages on forwarded topics go to the buffer
		// too; the broker acknowledges them once they are committed.
		b.SetClientPublishHook(newLocalForwarder(log, rules, buf).hook)
		if cfg.Upstream.URL != "" {
			fwd, err = upstream.New(upstreamConfig(cfg), buf, b, log)
			if err != nil {
				return err
			}
			startUplink = func() {
				a.background(func(ctx context.Context) {
					_ = fwd.Run(ctx) // returns nil when stopped; it logs its own faults
				})
			}
		} else {
			log.Warn("upstream url is empty: messages matching [[upstream.forward]] are kept in the buffer until one is configured",
				"buffer", bufferPath(cfg))
		}
	}
	// Listen only now: the publish hook is set, the buffer is open.
	if err := b.Start(ctx); err != nil {
		return err
	}
	sinks = append(sinks, b)
	if opt.print {
		sinks = append(sinks, &console{w: opt.stdout})
	}
	// Availability: the gateway's status now, "offline" on the way out.
	offline := announceGateway(ctx, log, b, cfg)
	a.onStop(func() error { offline(); return nil })
	devStatus := newDeviceStatus(log, cfg, sinks)
	a.background(devStatus.run)
	unsweep := devStatus.sweep(b)
	a.onStop(func() error { unsweep(); return nil })

	devices, err := pl.build(log, nil)
	if err != nil {
		return err
	}
	// Until the pipeline owns them, the devices are closed here.
	owned := func() []pipeline.Device { return devices }
	a.onStop(func() error { closeDevices(owned()); return nil })
	// The status page, when [web] address is set.
	var pipe atomic.Pointer[pipeline.Pipeline] // set below; the page shows no devices until then
	// Readings taken before NTP synchronised the clock carry
	// "clock":"unsynced" (a Pi has no real-time clock).
	popt := pipeline.Options{OnState: devStatus.set, ClockSynced: clock.NewSystem().Synced}
	if cfg.Web.Address != "" {
		srv, rc, err := webServer(ctx, cfg, log, b, pipe.Load, buf, fwd)
		if err != nil {
			return err
		}
		a.onStop(rc.Close) // a read-only snapshot reader: nothing to flush
		popt.Observe = srv.Observe
		a.background(func(ctx context.Context) { serveWeb(ctx, cfg, log, srv, cmp.Or(opt.webRetry, webRetry)) })
	}
	p, err := pipeline.New(log.With("component", "pipeline"), devices, mapper, sinks, popt)
	if err != nil {
		return err
	}
	pipe.Store(p)
	owned = p.Devices // a reload may have replaced some
	// Home Assistant discovery, before the devices report their states.
	disc := newDiscovery(log, b, toUpstream)
	disc.set(ctx, b, cfg, pl)
	a.background(disc.run)
	cmd := newCommander(log, b, sinks)
	a.onStop(func() error { cmd.close(); return nil })
	if err := cmd.set(pl.commands, devices); err != nil {
		return err
	}
	// Commands queued upstream while the gateway was off arrive right after
	// the uplink connects: their local topics must be subscribed by then.
	startUplink()
	a.background(cmd.run)
	if opt.reload != nil {
		r := newReloader(log, cfg, devices, p, cmd)
		r.applied = func(cfg *config.Config, pl *plan) {
			devStatus.setConfig(cfg)
			disc.set(ctx, b, cfg, pl)
		}
		a.background(func(bg context.Context) {
			for {
				select {
				case <-ctx.Done():
					return
				case <-bg.Done():
					return
				case <-opt.reload:
					r.reload()
				}
			}
		})
	}
	if opt.started != nil {
		opt.started(b)
	}
	log.Info("gateway started", "version", version, "config", cfg.File(), "devices", len(devices), "data_dir", cfg.Gateway.DataDir)
	// Under systemd (Type=notify): ready now that the listeners are bound
	// and the buffer is open; the watchdog pings only while the pipeline
	// moves. Both are no-ops elsewhere.
	if err := sdnotify.Ready(); err != nil {
		log.Warn("systemd notify", "err", err)
	}
	a.background(func(bg context.Context) {
		// Until ctx ends (a signal) or the background is stopped.
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(bg, cancel)()
		if err := sdnotify.Watchdog(wctx, p.Healthy, log); err != nil {
			log.Warn("systemd watchdog", "err", err)
		}
	})
	start := time.Now()
	err = p.Run(ctx)
	_ = sdnotify.Stopping() // informative only: systemd sees the exit anyway
	published, failed := p.Counts()
	log.Info("gateway stopped", "published", published, "publish_failures", failed, "uptime", time.Since(start).Round(time.Second))
	return err
}
