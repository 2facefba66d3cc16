package main

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestAppStopOrder: steps stop in reverse start order, and the background
// stops (and is waited for) at the step stopBackground added.
func TestAppStopOrder(t *testing.T) {
	a := newApp(t.Context())
	var got []string
	step := func(name string, err error) func() error {
		return func() error { got = append(got, name); return err }
	}
	a.onStop(step("buffer", nil))
	a.onStop(step("broker", errors.New("broker failed")))
	a.stopBackground()
	bgDone := false
	a.background(func(ctx context.Context) {
		<-ctx.Done()
		bgDone = true // read after wg.Wait: no race
	})
	a.onStop(func() error {
		if bgDone {
			t.Error("the background stopped before the steps added after it")
		}
		got = append(got, "devices")
		return nil
	})
	a.onStop(step("commander", nil))
	err := a.stop()
	if want := []string{"commander", "devices", "broker", "buffer"}; !slices.Equal(got, want) {
		t.Errorf("stop order %v, want %v", got, want)
	}
	if !bgDone {
		t.Error("background still running after stop")
	}
	if err == nil || err.Error() != "broker failed" {
		t.Errorf("stop() = %v, want the broker's error", err)
	}
}
