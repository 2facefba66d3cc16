// Package sinktest is the conformance suite every gateway.Sink must pass, in
// the style of testing/slogtest: concurrent Publish is safe (run it under
// -race), a cancelled context does not hang, and Publish after Close returns
// gateway.ErrClosed.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

const timeout = 20 * time.Second

// Sink is one sink under test.
type Sink struct {
	Sink gateway.Sink
	// Close closes the sink; nil when it has no Close of its own (then the
	// ErrClosed check is skipped).
	Close func() error
}

// Run runs every check, each on a sink newSink makes (and cleans up with
// t.Cleanup).
func Run(t *testing.T, newSink func(t *testing.T) Sink) {
	t.Run("ConcurrentPublish", func(t *testing.T) { concurrent(t, newSink(t)) })
	t.Run("CancelledContext", func(t *testing.T) { cancelled(t, newSink(t)) })
	t.Run("ErrClosedAfterClose", func(t *testing.T) { closed(t, newSink(t)) })
}

func msg(i int) gateway.Message {
	return gateway.Message{Topic: fmt.Sprintf("sinktest/%d", i%7), Payload: []byte(fmt.Sprint(i)), QoS: byte(i % 2)}
}

// within fails the test when f does not return within timeout.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s did not return within %v", what, timeout)
	}
}

func concurrent(t *testing.T, s Sink) {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := s.Sink.Publish(ctx, msg(g*50+i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	within(t, "8 goroutines publishing 50 messages each", wg.Wait)
	close(errs)
	for err := range errs {
		t.Errorf("Publish: %v", err)
	}
}

// cancelled: a Publish with a cancelled context returns promptly, with nil
// (accepted anyway) or an error wrapping context.Canceled.
func cancelled(t *testing.T, s Sink) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	within(t, "Publish with a cancelled context", func() {
		if err := s.Sink.Publish(ctx, msg(1)); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Publish with a cancelled context = %v, want nil or context.Canceled", err)
		}
	})
}

func closed(t *testing.T, s Sink) {
	if s.Close == nil {
		t.Skip("no Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	within(t, "Publish after Close", func() {
		if err := s.Sink.Publish(t.Context(), msg(1)); !errors.Is(err, gateway.ErrClosed) {
			t.Errorf("Publish after Close = %v, want an error wrapping gateway.ErrClosed", err)
		}
	})
}
