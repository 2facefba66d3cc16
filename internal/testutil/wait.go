package testutil

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing the test with what after
// timeout. It is for state that no channel signals (counters, files, a port
// answering); pick a generous timeout: the tests run on loaded machines.
// Call it from the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pace := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pace) // polling a condition, not synchronising on time
		pace = min(2*pace, 20*time.Millisecond)
	}
}
