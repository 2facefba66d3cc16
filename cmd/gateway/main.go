// Command gateway is the IoT edge gateway: it reads sensors, publishes their
// readings over MQTT and forwards them upstream through a durable buffer.
//
// With no arguments it runs an embedded demo; see `gateway help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgegw/gateway/config"
)

func main() {
	ctx, stop := signalContext(context.Background(), os.Stderr, os.Exit)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr and returns the process exit code: 0 on
// success, 2 for a usage mistake, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ce config.Errors
	if errors.As(err, &ce) {
		// One problem per line, each starting with file:line, as compilers do.
		fmt.Fprintln(stderr, ce)
	} else {
		fmt.Fprintln(stderr, "gateway:", err)
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM,
// so that run shuts down cleanly (drain, close, exit 0). A second signal
// calls exit(1) at once, for when a clean shutdown hangs.
func signalContext(parent context.Context, stderr io.Writer, exit func(int)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "gateway: %v: shutting down (send it again to exit at once)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "gateway: %v again: exiting now\n", s)
			exit(1)
		case <-done:
		}
	}()
	stopped := false
	return ctx, func() {
		if !stopped {
			stopped = true
			signal.Stop(sigs)
			close(done)
		}
		cancel()
	}
}
