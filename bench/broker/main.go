// Command broker runs the gateway's MQTT broker alone, for benchmarks: it
// listens on -addr, prints the bound address on standard output and serves
// until interrupted. Its limits default to those of the gateway's own
// config (broker.DefaultConfig: what `gateway run` uses when [broker] sets none);
// flags override them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/edgegw/gateway/broker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := broker.DefaultConfig()
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", cfg.MaxInflight, "max in-flight QoS 1/2 messages per client")
	fs.IntVar(&cfg.MaxQueuedMessages, "max-queued", cfg.MaxQueuedMessages, "max queued messages per session")
	fs.IntVar(&cfg.MaxQueuedBytes, "max-queued-bytes", cfg.MaxQueuedBytes, "max queued bytes per session")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "max connections (0: unlimited)")
	fs.Int64Var(&cfg.MaxMemory, "max-memory", cfg.MaxMemory, "max bytes of queued and retained messages")
	fs.DurationVar(&cfg.StallTimeout, "stall-timeout", cfg.StallTimeout, "disconnect a client stuck this long")
	fs.StringVar(&cfg.PersistencePath, "db", "", "SQLite persistence path (empty: memory only)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg.Listeners = []broker.Listener{{Address: *addr, Protocol: "mqtt"}}
	cfg.SysInterval = 0
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(cfg, log)
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, b.Addrs()[0])
	<-ctx.Done()
	return b.Close()
}
