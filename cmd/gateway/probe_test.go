package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

// TestProbeAgainstSimulator runs `gateway probe modbus-tcp` against the
// built-in simulator: its holding 1..2 hold 12.5-ish as a CDAB float32.
func TestProbeAgainstSimulator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = modbussim.NewDemo(slog.New(slog.DiscardHandler)).Serve(ctx, ln) // stopped by cancel
	}()
	t.Cleanup(func() { cancel(); <-done })

	var out bytes.Buffer
	err = run(t.Context(), []string{"probe", "modbus-tcp", ln.Addr().String(), "--slave", "1", "--holding", "10", "--count", "4"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out.String())
	}
	for _, want := range []string{"float32", "CDAB", "EDGE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("probe output lacks %q:\n%s", want, out.String())
		}
	}
	// An exception answer is an error with a hint, not a table.
	err = run(t.Context(), []string{"probe", "modbus-tcp", "127.0.0.1:1", "--holding", "0", "--timeout", "200ms"}, &out, io.Discard)
	if err == nil {
		t.Error("probe of a closed port: want an error")
	}
	var help bytes.Buffer
	if err := run(t.Context(), []string{"probe", "--help"}, &help, io.Discard); err != nil || !strings.Contains(help.String(), "gateway probe modbus-tcp") {
		t.Errorf("probe --help: %v\n%s", err, help.String())
	}
}
